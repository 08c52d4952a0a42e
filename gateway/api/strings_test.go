package api

import (
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/h2c"
)

func TestInvalidString(t *testing.T) {
	for _, tc := range []struct {
		doc, path, problem string
	}{
		{`{"a":"ok","b":[1,true,null,{"c":"d"}]}`, "", ""},
		{`{"title":"x\u0000y"}`, "title", `holds a NUL character (\u0000)`},
		{"{\"m\":{\"t\":\"caf\xe9\"}}", "m.t", "is not valid UTF-8"},
		{`{"a":[{"b":"x"},{"b":"\ud800x"}]}`, "a[1].b", "holds an unpaired UTF-16 surrogate escape"},
		{`{"a":"\udc00"}`, "a", "holds an unpaired UTF-16 surrogate escape"},
		{`{"a":"\ud83d\ude00 \\u0000 \u00e9"}`, "", ""}, // a pair, a backslash then text, an accent
		{`{"e":{"k\u0000":1}}`, `e."k\x00" (a key)`, `holds a NUL character (\u0000)`},
		{`["x","\u0000"]`, "[1]", `holds a NUL character (\u0000)`},
		{`"\u0000"`, "the body", `holds a NUL character (\u0000)`},
		{`{"a":"\u00"}`, "", ""}, // not JSON: the decoder says what is wrong
		{`{"a" "x\u0000"}`, "", ""},
	} {
		path, problem, found := InvalidString([]byte(tc.doc))
		if found != (tc.path != "") || path != tc.path || problem != tc.problem {
			t.Errorf("InvalidString(%q) = %q, %q, %v; want %q, %q", tc.doc, path, problem, found, tc.path, tc.problem)
		}
	}
}

func TestBodyTimeoutIs408(t *testing.T) {
	err := BodyError(&h2c.BodyTimeoutError{Timeout: 30 * time.Second, Err: os.ErrDeadlineExceeded}, 1000)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusRequestTimeout || ae.Code != "request_timeout" {
		t.Fatalf("BodyError = %v", err)
	}
}

func TestCheckPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/v1/push": true, "/debug/pprof/": true, "/": true,
		"/v1/../v1/push": false, "/v1/./push": false, "//v1/push": false, "/v1/push/.": false, "/v1/push/..": false, "": false,
	} {
		if err := CheckPath(p); (err == nil) != ok {
			t.Errorf("CheckPath(%q) = %v, want ok %v", p, err, ok)
		}
	}
}
