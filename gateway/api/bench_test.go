package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

// oneApp is an AppReader of one app.
type oneApp struct{ app dataservice.App }

func (o oneApp) App(_ context.Context, key string) (dataservice.App, error) {
	if key != o.app.Key {
		return dataservice.App{}, dataservice.ErrNotFound
	}
	return o.app, nil
}

// BenchmarkBasicAppRoute measures what the mux adds to a call of an app
// route with Basic credentials, the unicast push's path: authentication,
// the route's role, and no audit.
func BenchmarkBasicAppRoute(b *testing.B) {
	const key, secret = "3abdab7debf1dc3aee6377fa", "dc8b265e163e34a032ef1220"
	auth := NewAuthenticator([32]byte{}, oneApp{dataservice.App{Key: key, SecretHash: sha256.Sum256([]byte(secret))}}, nil, nil)
	ok := func(w http.ResponseWriter, _ *http.Request, app *dataservice.App) error {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	mux := NewMux([]Route{{Method: "POST", Pattern: "/v1/push", Auth: AuthApp, Role: dataservice.RoleMarketer, Handle: ok}}, auth,
		func(w http.ResponseWriter, _ *http.Request, err error) { b.Fatal(err) })
	header := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+secret))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("POST", "/v1/push", nil)
		r.Header.Set("Authorization", header)
		w := httptest.NewRecorder()
		for pb.Next() {
			mux.ServeHTTP(w, r)
		}
	})
}

// BenchmarkDecodeBody is the decoding of a unicast push's body, as
// POST /v1/push reads it.
func BenchmarkDecodeBody(b *testing.B) {
	body := []byte(`{"audience":{"registration_id":["fd93dd8a027467e86f21"]},"message":{"title":"Orders","content":"Your order shipped: ` +
		strings.Repeat("é and more text ", 20) + `","extras":{"order":42,"tags":["a","b"]}},"options":{"time_to_live":86400}}`)
	type push struct {
		Audience json.RawMessage `json:"audience"`
		Message  struct {
			Title   string                     `json:"title"`
			Content string                     `json:"content"`
			Extras  map[string]json.RawMessage `json:"extras"`
		} `json:"message"`
		Options json.RawMessage `json:"options"`
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/push", bytes.NewReader(body))
		var p push
		if err := DecodeBody(w, r, 64<<10, &p); err != nil {
			b.Fatal(err)
		}
	}
}
