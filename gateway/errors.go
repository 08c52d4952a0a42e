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
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// statusOf maps the errors of lower layers to API errors: the one table.
var statusOf = []struct {
	err    error
	status int
	code   string
}{
	{dataservice.ErrNotFound, http.StatusNotFound, "not_found"},
	{dataservice.ErrExists, http.StatusConflict, "conflict"},
	{dataservice.ErrGenerationMismatch, http.StatusConflict, "conflict"},
	{dataservice.ErrInvalid, http.StatusBadRequest, "invalid_request"},
	{dataservice.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{dataservice.ErrClosed, http.StatusServiceUnavailable, "unavailable"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
	{context.Canceled, 499, "canceled"},
}

// toAPIError turns any error into what the client sees. Internal details
// stay in the log.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	for _, e := range statusOf {
		if errors.Is(err, e.err) {
			msg := err.Error()
			if e.status >= 500 {
				msg = http.StatusText(e.status)
			}
			return &apiError{Status: e.status, Code: e.code, Message: msg}
		}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the request may be retried"}
}
