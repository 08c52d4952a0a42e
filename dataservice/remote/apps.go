package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.AppStore = (*Client)(nil)

// appReq is the request body of create_app, the one endpoint of
// dataservice.AppStore: apps are read through the store endpoints, and
// cached.
type appReq struct{ App dataservice.App }

// routeApps serves the dataservice.AppStore write.
func (s *Server) routeApps() {
	d := s.data
	handle(s, domainPath+"create_app", func(ctx context.Context, q *appReq) (empty, error) {
		return empty{}, d.CreateApp(ctx, q.App)
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
