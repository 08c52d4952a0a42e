package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if isJPushPath(r.URL.Path) {
		g.writeJPushError(w, r, err) // the /v3 face speaks JPush's errors
		return
	}
	ae, unexpected := toAPIError(err)
	if unexpected {
		level := slog.LevelWarn
		if ae.Status >= 500 {
			level = slog.LevelError
		}
		g.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "err", err)
	}
	if ae.challenge != "" {
		w.Header().Set("WWW-Authenticate", ae.challenge)
	}
	writeJSON(w, ae.Status, map[string]*apiError{"error": ae})
}

// decodeBody reads a JSON request body into v strictly: size-limited,
// unknown fields rejected, exactly one JSON value.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return bodyError(err, limit)
		}
		return errorf(http.StatusBadRequest, "invalid_json", "the body must hold exactly one JSON object")
	}
	return nil
}

// decodeOptionalBody is decodeBody for requests whose body may be absent
// (no Content-Length, or an empty chunked body): then v is left as is.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	err := decodeBody(w, r, limit, v)
	var ae *apiError
	if errors.As(err, &ae) && ae == errEmptyBody {
		return nil
	}
	return err
}

var errEmptyBody = errorf(http.StatusBadRequest, "invalid_json", "the body is empty; send a JSON object")

func bodyError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		ae  *apiError
	)
	switch {
	case errors.As(err, &ae):
		return ae // a field's own decoder said what is wrong
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "request_too_large", "the body is over %d bytes", limit)
	case errors.Is(err, io.EOF):
		return errEmptyBody
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "invalid_json", "the body ends in the middle of a JSON value")
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the body"
		}
		return errorf(http.StatusBadRequest, "invalid_field", "%s must be %s, not JSON %s", field, jsonType(te.Type.String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "unknown_field", "%s is not a field of this request; check its spelling against the API reference",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errorf(http.StatusBadRequest, "invalid_json", "%v", err)
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "gateway."), strings.HasPrefix(goType, "struct"):
		return "an object"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	}
	return fmt.Sprintf("of type %s", goType)
}
