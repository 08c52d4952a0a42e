package connector

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

// The delivery itself is tested end to end with real connectors
// (node's cluster tests); here, what the internal API refuses.
func TestInternalAPIRefusesWhatItShould(t *testing.T) {
	srv := httptest.NewServer((&Connector{}).InternalHandler("secret"))
	defer srv.Close()
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"health needs no token", "GET", "/healthz", "", "", http.StatusOK},
		{"no token", "POST", deliverPath, "", `{}`, http.StatusUnauthorized},
		{"wrong token", "POST", deliverPath, "nope", `{}`, http.StatusUnauthorized},
		{"unknown path", "POST", "/internal/v1/other", "secret", `{}`, http.StatusNotFound},
		{"wrong method", "GET", deliverPath, "secret", ``, http.StatusNotFound},
		{"not JSON", "POST", deliverPath, "secret", `{"message":`, http.StatusBadRequest},
		{"no message", "POST", deliverPath, "secret", `{"registration_ids":["a"]}`, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.want)
			}
			if ct := res.Header.Get("Content-Type"); tc.want != http.StatusOK && ct != "application/json" {
				t.Fatalf("error with Content-Type %q", ct)
			}
		})
	}
}

func TestRemoteReportsARefusedDeliveryAsUnreachable(t *testing.T) {
	srv := httptest.NewServer((&Connector{}).InternalHandler("secret"))
	defer srv.Close()
	r := NewRemote(srv.URL, "wrong", http.DefaultTransport)
	err := r.Deliver(context.Background(), &dataservice.Message{ID: 1}, []string{"a"})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Deliver with a wrong token: %v, want ErrUnreachable", err)
	}
	down := NewRemote("http://127.0.0.1:1", "secret", http.DefaultTransport)
	if err := down.Deliver(context.Background(), &dataservice.Message{ID: 1}, []string{"a"}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Deliver to nothing: %v, want ErrUnreachable", err)
	}
}
