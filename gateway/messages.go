package gateway

import (
	"net/http"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
)

type reportResponse struct {
	MsgID string `json:"msg_id"`
	dataservice.Report
}

func (g *Gateway) messageReport(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id, err := ids.ParseMessageID(r.PathValue("msg_id"))
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid_parameter", "msg_id must be the decimal id returned by POST /v1/push")
	}
	notFound := errorf(http.StatusNotFound, "unknown_msg_id", "this app has no message %d", id)
	m, err := g.data.Message(r.Context(), id)
	if err != nil {
		if errorsIsNotFound(err) {
			return notFound
		}
		return err
	}
	if m.AppKey != app.Key {
		return notFound
	}
	rep, err := g.data.Report(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reportResponse{MsgID: ids.FormatMessageID(id), Report: rep})
	return nil
}
