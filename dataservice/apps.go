package dataservice

import (
	"context"
	"time"
)

// AppStore holds the apps that push through Herald. Apps are created once
// and read on every push and every device registration, so processes
// cache them (KindApp is one of CachedKinds); a cached read never returns
// less than what a returned CreateApp stored.
type AppStore interface {
	// CreateApp stores a new app; ErrExists if the key is taken.
	CreateApp(ctx context.Context, app App) error
	// App returns an app, or ErrNotFound.
	App(ctx context.Context, key string) (App, error)
	// SetAppSecret replaces the SHA-256 of an app's master secret and
	// returns the app as stored; ErrNotFound if there is no such app.
	// Cached reads see the new secret once it returns; a gateway's own
	// cache of apps read for authentication may lag (gateway/api).
	SetAppSecret(ctx context.Context, key string, secretHash [32]byte) (App, error)
	// SetAppRegistrationSecret replaces the SHA-256 of an app's
	// registration secret (zero: the app has none, registration is open)
	// and returns the app as stored; ErrNotFound if there is no such app.
	// Cached reads see the change once it returns.
	SetAppRegistrationSecret(ctx context.Context, key string, secretHash [32]byte) (App, error)
}

// App is an application that pushes through Herald.
type App struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	// SecretHash is the SHA-256 of the master secret; the secret itself is
	// shown once, when the app is created, and never stored.
	SecretHash [32]byte  `json:"secret_hash"`
	Created    time.Time `json:"created"`
	// RegistrationSecretHash is the SHA-256 of the secret a device must
	// present to register (POST /v1/devices); zero when the app has none
	// and anyone with its app key may register devices.
	RegistrationSecretHash [32]byte `json:"registration_secret_hash,omitzero"`
}

// RegistrationClosed reports whether devices need the app's registration
// secret to register.
func (a *App) RegistrationClosed() bool { return a.RegistrationSecretHash != [32]byte{} }
