package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/health"
)

// The readiness checks of the processes (GET /readyz, internal/health):
//
//	herald all          store: the store takes writes
//	herald dataservice  store: the store takes writes
//	herald connector    dataservice: an instance is ready; registry: the connector's entry is current
//	herald gateway      dataservice: an instance is ready; connectors: at least one is registered
//	herald portal       gateway: the gateway answers
//
// Every process answers GET /healthz (alive) and GET /readyz without a
// token: the REST port of `herald all`, `herald gateway` and `herald
// portal`, the internal port of connectors and dataservice. Readiness
// fails with "draining" from the moment a process starts shutting down.

// newChecker returns a Checker with the default interval and timeout.
func newChecker() *health.Checker { return health.New(health.Config{}) }

// storeReady checks that store takes writes (dataservice.ProbeStore).
func storeReady(store dataservice.Store) health.Check {
	return func(ctx context.Context) error { return dataservice.ProbeStore(ctx, store) }
}

// gatewayReady checks that the gateway at base answers GET /healthz
// through tr.
func gatewayReady(base string, tr http.RoundTripper) health.Check {
	client := &http.Client{Transport: tr}
	url := strings.TrimSuffix(base, "/") + health.AlivePath
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("gateway %s unreachable: %w", base, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("gateway %s: HTTP %d: %s", base, res.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// flushUntil calls flush until it succeeds or ctx ends: at shutdown the
// store may be recovering (from a full disk, say), and what a process
// holds unwritten is lost with it. (The writer's Flush retries by itself.)
func flushUntil(ctx context.Context, flush func(context.Context) error) error {
	for {
		err := flush(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// errNoConnector is the readiness failure of a gateway that knows no
// connector.
var errNoConnector = errors.New("no connector is registered: devices have nowhere to connect and pushes reach no device")
