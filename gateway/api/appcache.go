package api

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// AppReader reads apps.
type AppReader interface {
	App(ctx context.Context, key string) (dataservice.App, error)
}

// appCache remembers apps read for authentication for a short while, so
// that a push does not read its app from the store on every request. The
// presented secret is still checked on every request; a change to an app
// takes effect within the TTL.
type appCache struct {
	data AppReader
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu sync.RWMutex
	m  map[string]cachedApp
}

type cachedApp struct {
	app     dataservice.App
	expires time.Time
}

func newAppCache(data AppReader, ttl time.Duration, max int) *appCache {
	return &appCache{data: data, ttl: ttl, max: max, now: time.Now, m: make(map[string]cachedApp)}
}

// get returns the app, from the cache if it was read within the TTL.
func (c *appCache) get(ctx context.Context, key string) (dataservice.App, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.app, nil
	}
	app, err := c.data.App(ctx, key)
	if err != nil {
		return app, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m) // every entry is fresh: a burst of distinct apps
		}
	}
	c.m[key] = cachedApp{app: app, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return app, nil
}

// forget drops key from the cache.
func (c *appCache) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// refresh reads key again, unless it was read less than minAge ago, and
// reports whether it did (then the app is the one read).
func (c *appCache) refresh(ctx context.Context, key string, minAge time.Duration) (dataservice.App, bool, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires.Add(minAge-c.ttl)) {
		return dataservice.App{}, false, nil
	}
	c.forget(key)
	app, err := c.get(ctx, key)
	return app, err == nil, err
}
