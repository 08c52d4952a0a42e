package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/heraldpush/herald/dataservice"
)

// apiError is an error the API reports as is.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// challenge is the WWW-Authenticate value of a 401.
	challenge string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// statusOf maps the errors of lower layers to API errors: the one table.
// Handlers turn the errors they expect into specific API errors; what
// reaches this table is unexpected, so the client gets a generic message
// and the details stay in the log.
var statusOf = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{dataservice.ErrNotFound, http.StatusNotFound, "not_found", "not found"},
	{dataservice.ErrExists, http.StatusConflict, "conflict", "conflicts with the current state; retry the request"},
	{dataservice.ErrGenerationMismatch, http.StatusConflict, "conflict", "changed concurrently; retry the request"},
	{dataservice.ErrInvalid, http.StatusBadRequest, "invalid_request", "the request names something that cannot exist; check ids and keys"},
	{dataservice.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "storage unavailable; retry later"},
	{dataservice.ErrClosed, http.StatusServiceUnavailable, "unavailable", "shutting down; retry later"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout", "timed out; retry later"},
	{context.Canceled, 499, "canceled", "the request was canceled"},
}

// toAPIError turns any error into what the client sees.
func toAPIError(err error) (ae *apiError, logged bool) {
	if errors.As(err, &ae) {
		return ae, false
	}
	for _, e := range statusOf {
		if errors.Is(err, e.err) {
			return &apiError{Status: e.status, Code: e.code, Message: e.message}, true
		}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the request may be retried"}, true
}
