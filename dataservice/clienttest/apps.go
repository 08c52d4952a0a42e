package clienttest

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// appTests are the cases of AppStore.
var appTests = []test{
	{"Apps", apps},
}

func apps(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	app := dataservice.App{Key: "3abdab7debf1dc3aee6377fa", Name: "shop <&>", SecretHash: [32]byte{1, 2, 3}, Created: time.UnixMilli(1_700_000_000_000).UTC()}
	if err := c.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CreateApp(ctx, app), dataservice.ErrExists, "creating an app twice")
	got, err := c.App(ctx, app.Key)
	if err != nil || got.Key != app.Key || got.Name != app.Name || got.SecretHash != app.SecretHash || !got.Created.Equal(app.Created) {
		t.Fatalf("App() = %+v, %v; want %+v", got, err, app)
	}
	_, err = c.App(ctx, "000000000000000000000000")
	wantErr(t, err, dataservice.ErrNotFound, "unknown app")

	// A new secret: read at once, through caches too.
	set, err := c.SetAppSecret(ctx, app.Key, [32]byte{9, 9})
	if err != nil || set.SecretHash != [32]byte{9, 9} || set.Name != app.Name || !set.Created.Equal(app.Created) {
		t.Fatalf("SetAppSecret = %+v, %v", set, err)
	}
	if got, err := c.App(ctx, app.Key); err != nil || got.SecretHash != [32]byte{9, 9} || got.Name != app.Name {
		t.Fatalf("App() after SetAppSecret = %+v, %v", got, err)
	}
	_, err = c.SetAppSecret(ctx, "000000000000000000000000", [32]byte{1})
	wantErr(t, err, dataservice.ErrNotFound, "the secret of an unknown app")

	// A registration secret, then none: read at once, the master secret
	// kept.
	if app.RegistrationClosed() {
		t.Fatal("a new app's registration is closed")
	}
	set, err = c.SetAppRegistrationSecret(ctx, app.Key, [32]byte{7})
	if err != nil || set.RegistrationSecretHash != [32]byte{7} || set.SecretHash != [32]byte{9, 9} || !set.RegistrationClosed() {
		t.Fatalf("SetAppRegistrationSecret = %+v, %v", set, err)
	}
	if got, err := c.App(ctx, app.Key); err != nil || got.RegistrationSecretHash != [32]byte{7} || got.SecretHash != [32]byte{9, 9} {
		t.Fatalf("App() after SetAppRegistrationSecret = %+v, %v", got, err)
	}
	if _, err := c.SetAppRegistrationSecret(ctx, app.Key, [32]byte{}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.App(ctx, app.Key); err != nil || got.RegistrationClosed() {
		t.Fatalf("App() after clearing the registration secret = %+v, %v", got, err)
	}
	_, err = c.SetAppRegistrationSecret(ctx, "000000000000000000000000", [32]byte{1})
	wantErr(t, err, dataservice.ErrNotFound, "the registration secret of an unknown app")
}
