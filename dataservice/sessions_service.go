package dataservice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

var _ SessionStore = (*Service)(nil)

// PutSessions implements SessionStore. Each device's last-active mark
// (see DeviceIndex.LastActive) becomes its session's Since, in one batch
// written while the sessions are: the sessions are Puts, whose
// generations the caller needs, so the marks cannot share their calls,
// but they add no round trip.
//
// The Puts run side by side, up to sessionWriters at once. Sessions are
// cached by other processes, so in a cluster each Put waits until every
// cache dropped the key: one after the other, a batch of 100 sessions
// waited for 100 of those round trips, which held a connect storm into a
// cluster near 1,100 connections/s with every process mostly idle; side by
// side, their invalidations share the round trips.
func (s *Service) PutSessions(ctx context.Context, sessions []Session, ttl time.Duration) ([]uint32, error) {
	gens := make([]uint32, len(sessions))
	if len(sessions) == 0 {
		return gens, nil
	}
	marks := make(chan error, 1)
	go func() { marks <- s.store.PutMany(ctx, s.lastActiveWrites(sessions)) }()
	errs := make([]error, len(sessions))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(sessionWriters, len(sessions)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(sessions); i = int(next.Add(1) - 1) {
				sess := &sessions[i]
				gen, err := s.store.Put(ctx, KindSession, sess.RegistrationID, encodeSession(*sess), WriteOptions{TTL: ttl})
				if err != nil {
					errs[i] = fmt.Errorf("put session %s: %w", sess.RegistrationID, err)
					continue
				}
				gens[i] = gen
			}
		})
	}
	wg.Wait()
	err := firstError(errs)
	if merr := <-marks; merr != nil && err == nil {
		err = fmt.Errorf("put sessions: last active: %w", merr)
	}
	if err != nil {
		return nil, err
	}
	return gens, nil
}

// sessionWriters bounds the session Puts of one PutSessions in flight.
const sessionWriters = 32

// Sessions implements SessionStore.
func (s *Service) Sessions(ctx context.Context, rids []string) ([]Session, error) {
	recs, err := s.store.GetMany(ctx, KindSession, rids)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	out := make([]Session, len(recs))
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[i], err = decodeSession(rids[i], r.Value); err != nil {
			return nil, err
		}
		out[i].Generation = r.Generation
	}
	return out, nil
}

// DeleteSession implements SessionStore. A session it deletes ends now: that
// becomes the device's last-active mark.
func (s *Service) DeleteSession(ctx context.Context, rid string, generation uint32) error {
	existed, err := s.store.Delete(ctx, KindSession, rid, generation)
	if errors.Is(err, ErrGenerationMismatch) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete session %s: %w", rid, err)
	}
	if existed {
		if _, err := s.store.Put(ctx, KindLastActive, rid, encodeLastActive(s.now()), WriteOptions{}); err != nil {
			return fmt.Errorf("delete session %s: last active: %w", rid, err)
		}
	}
	return nil
}

// lastActiveWrites are the last-active marks of PutSessions.
func (s *Service) lastActiveWrites(sessions []Session) []Write {
	writes := make([]Write, len(sessions))
	for i, sess := range sessions {
		since := sess.Since
		if since.IsZero() {
			since = s.now()
		}
		writes[i] = Write{Kind: KindLastActive, Key: sess.RegistrationID, Value: encodeLastActive(since)}
	}
	return writes
}

// Last-active marks: unix ms, 8 bytes big endian.

func encodeLastActive(t time.Time) []byte { return encodeID(uint64(t.UnixMilli())) }

func decodeLastActive(rid string, v []byte) (time.Time, error) {
	ms, ok := decodeID(v)
	if !ok {
		return time.Time{}, fmt.Errorf("dataservice: corrupt last-active record %s", rid)
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}
