package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/heraldpush/herald/dataservice"
)

// Error is an error the API reports as is: the status, and the body
// {"error": {"code", "message"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Challenge is the WWW-Authenticate value of a 401.
	Challenge string `json:"-"`
	// RetryAfter, when positive, is the Retry-After of a 429 or 503, in
	// seconds.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
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

// ToError turns any error into what the client sees, and reports whether
// it was unexpected (not an *Error a handler chose), and so worth a log
// line.
func ToError(err error) (ae *Error, unexpected bool) {
	if errors.As(err, &ae) {
		return ae, false
	}
	for _, e := range statusOf {
		if errors.Is(err, e.err) {
			return &Error{Status: e.status, Code: e.code, Message: e.message}, true
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the request may be retried"}, true
}

// IsNotFound reports whether err says the store has no such record.
func IsNotFound(err error) bool { return errors.Is(err, dataservice.ErrNotFound) }

// Prefixed returns err with prefix before its message if it is an
// *Error (so that a problem in a nested object names where it is, as in
// "push: audience is required"), and err itself otherwise.
func Prefixed(prefix string, err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return &Error{Status: ae.Status, Code: ae.Code, Message: prefix + ae.Message, Challenge: ae.Challenge, RetryAfter: ae.RetryAfter}
	}
	return err
}
