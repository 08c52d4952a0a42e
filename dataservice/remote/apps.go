package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.AppStore = (*Client)(nil)

// Request bodies of the dataservice.AppStore writes: apps are read
// through the store endpoints, and cached.
type (
	appReq       struct{ App dataservice.App }
	appSecretReq struct {
		Key        string
		SecretHash [32]byte
	}
)

// routeApps serves the dataservice.AppStore writes.
func (s *Server) routeApps() {
	d := s.data
	handle(s, domainPath+"create_app", func(ctx context.Context, q *appReq) (empty, error) {
		return empty{}, d.CreateApp(ctx, q.App)
	})
	handle(s, domainPath+"set_app_secret", func(ctx context.Context, q *appSecretReq) (dataservice.App, error) {
		return d.SetAppSecret(ctx, q.Key, q.SecretHash)
	})
	handle(s, domainPath+"set_app_registration_secret", func(ctx context.Context, q *appSecretReq) (dataservice.App, error) {
		return d.SetAppRegistrationSecret(ctx, q.Key, q.SecretHash)
	})
}

// CreateApp implements dataservice.AppStore.
func (c *Client) CreateApp(ctx context.Context, app dataservice.App) error {
	return c.write(ctx, "create_app", appReq{App: app}, &empty{})
}

// App implements dataservice.AppStore.
func (c *Client) App(ctx context.Context, key string) (dataservice.App, error) {
	return c.reads.App(ctx, key)
}

// SetAppSecret implements dataservice.AppStore. The write invalidates the
// app in every cache, this client's among them, before it returns.
func (c *Client) SetAppSecret(ctx context.Context, key string, secretHash [32]byte) (dataservice.App, error) {
	return c.setAppHash(ctx, "set_app_secret", key, secretHash)
}

// SetAppRegistrationSecret implements dataservice.AppStore. The write
// invalidates the app in every cache, this client's among them, before
// it returns.
func (c *Client) SetAppRegistrationSecret(ctx context.Context, key string, secretHash [32]byte) (dataservice.App, error) {
	return c.setAppHash(ctx, "set_app_registration_secret", key, secretHash)
}

func (c *Client) setAppHash(ctx context.Context, op, key string, secretHash [32]byte) (dataservice.App, error) {
	if err := checkUTF8(op, []string{key}); err != nil {
		return dataservice.App{}, err
	}
	var app dataservice.App
	err := c.write(ctx, op, appSecretReq{Key: key, SecretHash: secretHash}, &app)
	return app, err
}
