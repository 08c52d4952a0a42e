package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
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
