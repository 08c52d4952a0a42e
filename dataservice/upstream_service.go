package dataservice

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/ids"
)

var (
	_ UpstreamStore   = (*Service)(nil)
	_ UpstreamWatcher = (*Service)(nil)
)

// Upstream queue records: version, received at (unix ms, 8 bytes big
// endian), data. The key holds the app, device and message id.
const upstreamRecordVersion = 1

func encodeUpstream(m UpstreamMessage) []byte {
	b := make([]byte, 0, 9+len(m.Data))
	b = append(b, upstreamRecordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(m.At.UnixMilli()))
	return append(b, m.Data...)
}

// upstreamMember is the key of a message within its app's group:
// "<queue id>/<rid>/<msg id>".
func upstreamMember(queueID uint64, m UpstreamMessage) string {
	return idKey(queueID) + "/" + m.RegistrationID + "/" + idKey(m.ID)
}

// parseUpstreamMember splits what upstreamMember made.
func parseUpstreamMember(member string) (rid string, id uint64, ok bool) {
	if len(member) < 20+1+1+1+20 || member[20] != GroupSeparator || member[len(member)-21] != GroupSeparator {
		return "", 0, false
	}
	if _, ok := parseIDKey(member[:20]); !ok {
		return "", 0, false
	}
	if id, ok = parseIDKey(member[len(member)-20:]); !ok || id == 0 {
		return "", 0, false
	}
	rid = member[21 : len(member)-21]
	if rid == "" || strings.IndexByte(rid, GroupSeparator) >= 0 {
		return "", 0, false
	}
	return rid, id, true
}

func decodeUpstream(app, member string, v []byte) (PendingUpstream, error) {
	rid, id, ok := parseUpstreamMember(member)
	if !ok || len(v) < 9 || v[0] != upstreamRecordVersion {
		return PendingUpstream{}, fmt.Errorf("dataservice: corrupt upstream record %s/%s", app, member)
	}
	return PendingUpstream{
		UpstreamMessage: UpstreamMessage{
			AppKey: app, RegistrationID: rid, ID: id,
			At:   time.UnixMilli(int64(binary.BigEndian.Uint64(v[1:9]))).UTC(),
			Data: append([]byte(nil), v[9:]...),
		},
		Key: member,
	}, nil
}

// upstreamIDs orders the queues of this process: time-ordered, increasing
// within the process. Its node is random: two dataservice instances that
// draw the same node can give the same queue id, which the device and
// message id in the key keep apart.
var upstreamIDs = func() *ids.Generator {
	g, _ := ids.NewGenerator(rand.IntN(ids.MaxNode + 1)) // in range
	return g
}()

// EnqueueUpstream implements UpstreamQueue: one PutMany of the messages,
// each for UpstreamTTL, then the wake-up of this process's watchers (see
// WatchUpstreams).
func (s *Service) EnqueueUpstream(ctx context.Context, msgs []UpstreamMessage) error {
	if len(msgs) > MaxUpstreamBatch {
		return fmt.Errorf("enqueue upstream: %w: %d messages; at most %d are allowed in one call", ErrInvalid, len(msgs), MaxUpstreamBatch)
	}
	for _, m := range msgs {
		if err := CheckUpstream(m); err != nil {
			return fmt.Errorf("enqueue upstream: %w", err)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	now := s.now()
	writes := make([]Write, len(msgs))
	for i, m := range msgs {
		if m.At.IsZero() {
			m.At = now
		}
		writes[i] = Write{Kind: KindUpstream, Key: m.AppKey + "/" + upstreamMember(upstreamIDs.Next(), m),
			Value: encodeUpstream(m), Options: WriteOptions{TTL: UpstreamTTL}}
	}
	if err := s.store.PutMany(ctx, writes); err != nil {
		return fmt.Errorf("enqueue upstream: %w", err)
	}
	s.notifyUpstream(msgs)
	return nil
}

// PendingUpstreams implements UpstreamStore.
func (s *Service) PendingUpstreams(ctx context.Context, app, after string, limit int) ([]PendingUpstream, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("pending upstreams: %w", err)
	}
	if limit < 1 || limit > MaxUpstreamPage {
		return nil, fmt.Errorf("pending upstreams of app %s: %w: limit %d outside 1..%d", app, ErrInvalid, limit, MaxUpstreamPage)
	}
	prefix, from := app+"/", ""
	if after != "" {
		if _, _, ok := parseUpstreamMember(after); !ok {
			return nil, fmt.Errorf("pending upstreams of app %s: %w: %q is not a key PendingUpstreams returned", app, ErrInvalid, after)
		}
		from = prefix + after
	}
	recs, err := s.store.Scan(ctx, KindUpstream, prefix, from, limit)
	if err != nil {
		return nil, fmt.Errorf("pending upstreams of app %s: %w", app, err)
	}
	out := make([]PendingUpstream, len(recs))
	for i, r := range recs {
		if out[i], err = decodeUpstream(app, r.Key[len(prefix):], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RemoveUpstreams implements UpstreamStore: one DeleteMany.
func (s *Service) RemoveUpstreams(ctx context.Context, app string, keys []string) ([]bool, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("remove upstreams: %w", err)
	}
	if len(keys) > MaxUpstreamPage {
		return nil, fmt.Errorf("remove upstreams of app %s: %w: %d keys; at most %d are allowed", app, ErrInvalid, len(keys), MaxUpstreamPage)
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		if _, _, ok := parseUpstreamMember(k); !ok {
			return nil, fmt.Errorf("remove upstreams of app %s: %w: %q is not a key PendingUpstreams returned", app, ErrInvalid, k)
		}
		full[i] = app + "/" + k
	}
	if len(keys) == 0 {
		return []bool{}, nil
	}
	existed, err := s.store.DeleteMany(ctx, KindUpstream, full)
	if err != nil {
		return nil, fmt.Errorf("remove upstreams of app %s: %w", app, err)
	}
	return existed, nil
}

// upstreamWatchers are the watchers of each Service (Service has no field
// for them: its struct is shared by every part of the data API).
var upstreamWatchers = struct {
	sync.RWMutex
	m map[*Service]map[*func(string)]struct{}
}{m: map[*Service]map[*func(string)]struct{}{}}

// WatchUpstreams implements UpstreamWatcher.
func (s *Service) WatchUpstreams(fn func(app string)) (stop func()) {
	p := &fn
	upstreamWatchers.Lock()
	if upstreamWatchers.m[s] == nil {
		upstreamWatchers.m[s] = map[*func(string)]struct{}{}
	}
	upstreamWatchers.m[s][p] = struct{}{}
	upstreamWatchers.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			upstreamWatchers.Lock()
			delete(upstreamWatchers.m[s], p)
			if len(upstreamWatchers.m[s]) == 0 {
				delete(upstreamWatchers.m, s)
			}
			upstreamWatchers.Unlock()
		})
	}
}

// notifyUpstream calls the watchers of s with the apps of msgs.
func (s *Service) notifyUpstream(msgs []UpstreamMessage) {
	upstreamWatchers.RLock()
	defer upstreamWatchers.RUnlock()
	watchers := upstreamWatchers.m[s]
	if len(watchers) == 0 {
		return
	}
	for i, m := range msgs {
		if i > 0 && m.AppKey == msgs[i-1].AppKey {
			continue
		}
		for fn := range watchers {
			(*fn)(m.AppKey)
		}
	}
}
