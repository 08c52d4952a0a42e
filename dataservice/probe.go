package dataservice

import (
	"context"
	"fmt"
	"time"
)

// probeKey is the KindConfig record ProbeStore writes.
const probeKey = "readiness_probe"

// ProbeStore reports whether store takes writes now, for readiness
// checks: nil if it does, otherwise an error saying why. A store that
// knows its own health (a LevelDB store whose disk filled says so until
// it recovered) answers without writing; any store is then asked to write
// one small record (KindConfig "readiness_probe", kept an hour), which
// finds out a store that has not written since it stopped being able to.
// Give it the store below any cache or invalidation source, so that the
// probe is not published to other processes.
func ProbeStore(ctx context.Context, store Store) error {
	if h, ok := store.(interface{ Health() error }); ok {
		if err := h.Health(); err != nil {
			return err
		}
	}
	v := time.Now().UTC().AppendFormat(nil, time.RFC3339Nano)
	if _, err := store.Put(ctx, KindConfig, probeKey, v, WriteOptions{TTL: time.Hour}); err != nil {
		return fmt.Errorf("dataservice: the store does not take writes: %w", err)
	}
	return nil
}
