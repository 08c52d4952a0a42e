package dataservice

import (
	"context"
	"encoding/json"
	"errors"
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

// SetAppSecret implements AppStore.
func (s *Service) SetAppSecret(ctx context.Context, key string, secretHash [32]byte) (App, error) {
	return s.updateApp(ctx, key, "set secret", func(a *App) { a.SecretHash = secretHash })
}

// SetAppRegistrationSecret implements AppStore.
func (s *Service) SetAppRegistrationSecret(ctx context.Context, key string, secretHash [32]byte) (App, error) {
	return s.updateApp(ctx, key, "set registration secret", func(a *App) { a.RegistrationSecretHash = secretHash })
}

// updateApp changes an app's record: a read, then a compare-and-set,
// again if another write came in between.
func (s *Service) updateApp(ctx context.Context, key, what string, change func(*App)) (App, error) {
	for round := 0; ; round++ {
		if round == casAttempts {
			return App{}, fmt.Errorf("%s of app %s: %w: %d concurrent changes in a row; retry", what, key, ErrGenerationMismatch, casAttempts)
		}
		if err := backoff(ctx, round); err != nil {
			return App{}, fmt.Errorf("%s of app %s: %w", what, key, err)
		}
		r, err := s.store.Get(ctx, KindApp, key)
		if err != nil {
			return App{}, fmt.Errorf("%s of app %s: %w", what, key, err)
		}
		var app App
		if err := json.Unmarshal(r.Value, &app); err != nil {
			return App{}, fmt.Errorf("dataservice: decode app %s: %w", key, err)
		}
		change(&app)
		v, err := json.Marshal(app)
		if err != nil {
			return App{}, fmt.Errorf("dataservice: encode app: %w", err)
		}
		_, err = s.store.Put(ctx, KindApp, key, v, WriteOptions{Generation: r.Generation})
		if errors.Is(err, ErrGenerationMismatch) {
			continue
		}
		if err != nil {
			return App{}, fmt.Errorf("%s of app %s: %w", what, key, err)
		}
		return app, nil
	}
}
