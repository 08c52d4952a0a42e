package dataservice

import (
	"context"
	"encoding/json"
	"fmt"
)

var _ AppStore = (*Service)(nil)

// CreateApp implements AppStore.
func (s *Service) CreateApp(ctx context.Context, app App) error {
	v, err := json.Marshal(app)
	if err != nil {
		return fmt.Errorf("dataservice: encode app: %w", err)
	}
	if _, err := s.store.Put(ctx, KindApp, app.Key, v, WriteOptions{CreateOnly: true}); err != nil {
		return fmt.Errorf("create app %s: %w", app.Key, err)
	}
	return nil
}

// App implements AppStore.
func (s *Service) App(ctx context.Context, key string) (App, error) {
	var app App
	r, err := s.store.Get(ctx, KindApp, key)
	if err != nil {
		return app, fmt.Errorf("app %s: %w", key, err)
	}
	if err := json.Unmarshal(r.Value, &app); err != nil {
		return app, fmt.Errorf("dataservice: decode app %s: %w", key, err)
	}
	return app, nil
}
