package dataservice

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// SetAlias implements DeviceIndex. The order of its writes is documented
// there.
func (s *Service) SetAlias(ctx context.Context, app, rid, alias string) error {
	if alias != "" {
		if err := CheckAlias(alias); err != nil {
			return fmt.Errorf("set alias of device %s: %w", rid, err)
		}
	}
	if err := s.checkDevice(ctx, app, rid); err != nil {
		return fmt.Errorf("set alias: %w", err)
	}
	for round := 0; ; round++ {
		if round == casAttempts {
			return fmt.Errorf("set alias: %w", errContention(rid))
		}
		if err := backoff(ctx, round); err != nil {
			return fmt.Errorf("set alias of device %s: %w", rid, err)
		}
		cur, gen, err := s.readAttrs(ctx, rid)
		if err != nil {
			return fmt.Errorf("set alias: %w", err)
		}
		old := cur.Alias
		if old == alias {
			// Nothing to change; make sure the index says so too.
			return s.settleAlias(ctx, app, rid, []string{alias}, cur, gen)
		}
		if alias != "" {
			if err := s.admitAlias(ctx, app, rid, alias); err != nil {
				return err
			}
		}
		next := cur
		next.Alias = alias
		g, err := s.writeAttrs(ctx, rid, next, gen)
		if err != nil {
			return fmt.Errorf("set alias: %w", err)
		}
		if g != 0 {
			return s.settleAlias(ctx, app, rid, []string{old, alias}, next, g)
		}
	}
}

// aliasStamp is the value of an alias index entry: when it was written
// (unix ms), to tell a SetAlias in flight from one that failed.
func aliasStamp(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli()))
}

func stampTime(v []byte) time.Time {
	if len(v) != 8 {
		return time.Time{}
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
}

// admitAlias writes rid's entry in the alias index and checks that the
// alias then names at most MaxAliasDevices devices, counting devices whose
// attributes have the alias and the entries of calls in flight. Entries
// left over by failed calls are deleted on the way. A call kept out only
// by calls in flight takes its entry back and tries again a few times
// after a random pause, so that of calls racing for the last place one
// usually gets it.
func (s *Service) admitAlias(ctx context.Context, app, rid, alias string) error {
	key := aliasGroup(app, alias) + rid
	for round := 0; ; round++ {
		now := s.now()
		gen, err := s.store.Put(ctx, KindAlias, key, aliasStamp(now), WriteOptions{})
		if err != nil {
			return fmt.Errorf("set alias of device %s: index: %w", rid, err)
		}
		entries, err := s.aliasEntries(ctx, app, alias)
		if err != nil {
			return err
		}
		members, inFlight := 0, 0
		for _, e := range entries {
			switch {
			case e.rid == rid:
			case e.member:
				members++
			case now.Sub(e.written) < aliasPendingGrace:
				inFlight++
			default: // left over by a failed call; a newer write (generation) is kept
				if _, err := s.store.Delete(ctx, KindAlias, e.key, e.generation); err != nil && !errors.Is(err, ErrGenerationMismatch) {
					return fmt.Errorf("set alias of device %s: index: %w", rid, err)
				}
			}
		}
		if members+inFlight < MaxAliasDevices {
			return nil
		}
		// Best effort: an entry left behind is one of a failed call.
		_, _ = s.store.Delete(ctx, KindAlias, key, gen)
		if members >= MaxAliasDevices || round == aliasAdmitRounds {
			return fmt.Errorf("set alias of device %s: %w: %q already names %d devices of the app (%d of them being set now), the most allowed; take it off one of them first",
				rid, ErrAliasFull, alias, members+inFlight, inFlight)
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(time.Millisecond) << round)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("set alias of device %s: %w", rid, ctx.Err())
		}
	}
}

// aliasAdmitRounds bounds the retries of a SetAlias kept out of an alias
// by calls in flight (pauses of up to 1, 2, …, 32 ms).
const aliasAdmitRounds = 5

// aliasEntry is one entry of the alias index.
type aliasEntry struct {
	key, rid   string
	generation uint32
	written    time.Time
	member     bool // the device's attributes have the alias
}

// aliasEntries returns the index entries of an alias, in key order, each
// checked against its device's attributes.
func (s *Service) aliasEntries(ctx context.Context, app, alias string) ([]aliasEntry, error) {
	const page = 256
	prefix := aliasGroup(app, alias)
	var entries []aliasEntry
	after := ""
	for {
		recs, err := s.store.Scan(ctx, KindAlias, prefix, after, page)
		if err != nil {
			return nil, fmt.Errorf("alias %q of app %s: %w", alias, app, err)
		}
		for _, r := range recs {
			entries = append(entries, aliasEntry{key: r.Key, rid: r.Key[len(prefix):], generation: r.Generation, written: stampTime(r.Value)})
		}
		if len(recs) < page {
			break
		}
		after = recs[len(recs)-1].Key
	}
	if len(entries) == 0 {
		return nil, nil
	}
	rids := make([]string, len(entries))
	for i, e := range entries {
		rids[i] = e.rid
	}
	recs, err := s.store.GetMany(ctx, KindDeviceAttrs, rids)
	if err != nil {
		return nil, fmt.Errorf("alias %q of app %s: %w", alias, app, err)
	}
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		if a, err := decodeAttrs(rids[i], r.Value); err == nil && a.Alias == alias {
			entries[i].member = true
		}
	}
	return entries, nil
}

// settleAlias makes the alias index entries of rid for aliases agree with
// the attributes a of generation gen, like settleTags.
func (s *Service) settleAlias(ctx context.Context, app, rid string, aliases []string, a DeviceAttrs, gen uint32) error {
	for round := 0; ; round++ {
		if round == casAttempts {
			return fmt.Errorf("set alias: %w", errContention(rid))
		}
		for _, alias := range aliases {
			if alias == "" {
				continue
			}
			key := aliasGroup(app, alias) + rid
			var err error
			if alias == a.Alias {
				_, err = s.store.Put(ctx, KindAlias, key, aliasStamp(s.now()), WriteOptions{})
			} else {
				_, err = s.store.Delete(ctx, KindAlias, key, 0)
			}
			if err != nil {
				return fmt.Errorf("set alias of device %s: index: %w", rid, err)
			}
		}
		now, g, err := s.readAttrs(ctx, rid)
		if err != nil {
			return fmt.Errorf("set alias: %w", err)
		}
		if g == gen {
			return nil
		}
		a, gen = now, g
	}
}

// AliasMembers implements DeviceIndex.
func (s *Service) AliasMembers(ctx context.Context, app, alias string) ([]string, error) {
	if err := checkAppKey(app); err != nil {
		return nil, err
	}
	if err := CheckAlias(alias); err != nil {
		return nil, err
	}
	entries, err := s.aliasEntries(ctx, app, alias)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, min(len(entries), MaxAliasDevices))
	for _, e := range entries {
		if e.member {
			out = append(out, e.rid)
		}
	}
	return out, nil
}
