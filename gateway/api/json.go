package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/heraldpush/herald/internal/h2c"
)

// WriteJSON writes v as the JSON body of an answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err as {"error": {"code", "message"}} with its status
// (ToError), and logs it on log if it was unexpected.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	ae, unexpected := ToError(err)
	if unexpected {
		level := slog.LevelWarn
		if ae.Status >= 500 {
			level = slog.LevelError
		}
		log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "err", err)
	}
	if ae.Challenge != "" {
		w.Header().Set("WWW-Authenticate", ae.Challenge)
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	WriteJSON(w, ae.Status, map[string]*Error{"error": ae})
}

// DecodeBody reads a JSON request body into v strictly: at most limit
// bytes, unknown fields rejected, exactly one JSON value, and every
// string valid UTF-8 without NUL characters (InvalidString).
func DecodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer putBodyBuffer(buf)
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		return BodyError(err, limit)
	}
	body := buf.Bytes()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BodyError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(http.StatusBadRequest, "invalid_json", "the body must hold exactly one JSON object")
	}
	if path, problem, found := InvalidString(body); found {
		return Errorf(http.StatusBadRequest, "invalid_field", "%s %s; strings must be valid UTF-8 without NUL characters", path, problem)
	}
	return nil
}

// bodyBuffers holds the buffers request bodies are read into; decoding
// copies what it keeps.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBodyBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return // a rare large body: do not keep its buffer
	}
	b.Reset()
	bodyBuffers.Put(b)
}

// DecodeOptionalBody is DecodeBody for requests whose body may be absent
// (no Content-Length, or an empty chunked body): then v is left as is.
func DecodeOptionalBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	err := DecodeBody(w, r, limit, v)
	var ae *Error
	if errors.As(err, &ae) && ae == errEmptyBody {
		return nil
	}
	return err
}

var errEmptyBody = Errorf(http.StatusBadRequest, "invalid_json", "the body is empty; send a JSON object")

// BodyError turns an error of encoding/json (or of http.MaxBytesReader
// with limit) into the API error that says what is wrong with the body.
func BodyError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		bte *h2c.BodyTimeoutError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		ae  *Error
	)
	switch {
	case errors.As(err, &ae):
		return ae // a field's own decoder said what is wrong
	case errors.As(err, &mbe):
		return Errorf(http.StatusRequestEntityTooLarge, "request_too_large", "the body is over %d bytes", limit)
	case errors.As(err, &bte):
		return &Error{Status: http.StatusRequestTimeout, Code: "request_timeout",
			Message: fmt.Sprintf("the body did not arrive within %v of the request's headers; send it at once", bte.Timeout)}
	case errors.Is(err, io.EOF):
		return errEmptyBody
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "invalid_json", "the body ends in the middle of a JSON value")
	case errors.As(err, &se):
		return Errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the body"
		}
		return Errorf(http.StatusBadRequest, "invalid_field", "%s must be %s, not JSON %s", field, jsonType(te.Type), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf(http.StatusBadRequest, "unknown_field", "%s is not a field of this request; check its spelling against the API reference",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return Errorf(http.StatusBadRequest, "invalid_json", "%v", err)
}

// jsonType names the JSON type a Go type is decoded from.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return fmt.Sprintf("of type %s", t)
}
