package dataservice

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

var _ BroadcastStore = (*Service)(nil)

// Keys of broadcasts. Ids in keys are zero-padded decimal (idKey), so
// that byte order of keys is numeric order of ids.
//
//	KindBroadcast       <app>/<id>   → nothing: an unexpired broadcast
//	KindBroadcastCursor <rid>        → BroadcastCursor, compact (encodeCursor; a settlement writes
//	                                   version 2 with its last moves: settle_cursors.go)

func broadcastKey(app string, id uint64) string { return app + "/" + idKey(id) }

// Broadcast cursors are read and written on every connection of a device
// of an app with broadcasts: version, sent, acked (uint64, big endian).
const cursorRecordVersion = 1

func encodeCursor(c BroadcastCursor) []byte {
	b := make([]byte, 0, 17)
	b = append(b, cursorRecordVersion)
	b = binary.BigEndian.AppendUint64(b, c.Sent)
	return binary.BigEndian.AppendUint64(b, c.Acked)
}

func decodeCursor(rid string, v []byte) (BroadcastCursor, error) {
	if len(v) != 17 || v[0] != cursorRecordVersion {
		return BroadcastCursor{}, fmt.Errorf("dataservice: corrupt broadcast cursor record %s", rid)
	}
	return BroadcastCursor{
		RegistrationID: rid,
		Sent:           binary.BigEndian.Uint64(v[1:9]),
		Acked:          binary.BigEndian.Uint64(v[9:17]),
	}, nil
}

// SaveBroadcast implements BroadcastStore: the body and the list entry in one
// batch, then the targeted counter.
func (s *Service) SaveBroadcast(ctx context.Context, m *Message, targeted int64) error {
	if err := checkMessage(m); err != nil {
		return fmt.Errorf("save broadcast: %w", err)
	}
	switch {
	case !m.Broadcast:
		return fmt.Errorf("save broadcast %d: %w: the message is not marked Broadcast", m.ID, ErrInvalid)
	case targeted < 0:
		return fmt.Errorf("save broadcast %d: %w: negative targeted %d", m.ID, ErrInvalid, targeted)
	}
	if err := checkAppKey(m.AppKey); err != nil {
		return fmt.Errorf("save broadcast %d: %w", m.ID, err)
	}
	retain := m.TTL + ReportRetention
	writes := []Write{{Kind: KindMessage, Key: messageKey(m.ID), Value: encodeMessage(m), Options: WriteOptions{TTL: retain, CreateOnly: true}}}
	if w, ok := appMessageWrite(m, retain); ok { // the app's list of messages: reports_service.go
		writes = append(writes, w)
	}
	if m.TTL > 0 {
		writes = append(writes, Write{Kind: KindBroadcast, Key: broadcastKey(m.AppKey, m.ID), Value: []byte{}, Options: WriteOptions{TTL: m.TTL + AckGrace, Fresh: true}})
	}
	if err := s.store.PutMany(ctx, writes); err != nil {
		return fmt.Errorf("save broadcast %d: %w", m.ID, err)
	}
	s.recent.put(m.ID, m.AppKey)
	if _, err := s.store.Incr(ctx, KindCounter, messageKey(m.ID), []Delta{{Name: string(CounterTargeted), Delta: targeted}}, retain); err != nil {
		return fmt.Errorf("save broadcast %d: targeted counter: %w", m.ID, err)
	}
	s.addDay(ctx, m.AppKey, m.ID, targeted)
	return nil
}

// AppBroadcasts implements BroadcastStore.
func (s *Service) AppBroadcasts(ctx context.Context, app string, after uint64, limit int) ([]uint64, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("broadcasts: %w", err)
	}
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("broadcasts of app %s: %w", app, err)
	}
	prefix, from := app+"/", ""
	if after > 0 {
		from = broadcastKey(app, after)
	}
	recs, err := s.store.Scan(ctx, KindBroadcast, prefix, from, limit)
	if err != nil {
		return nil, fmt.Errorf("broadcasts of app %s: %w", app, err)
	}
	out := make([]uint64, len(recs))
	for i, r := range recs {
		id, ok := parseIDKey(r.Key[len(prefix):])
		if !ok {
			return nil, fmt.Errorf("dataservice: corrupt broadcast entry %q", r.Key)
		}
		out[i] = id
	}
	return out, nil
}

// RemoveBroadcast implements BroadcastStore.
func (s *Service) RemoveBroadcast(ctx context.Context, app string, id uint64) (bool, error) {
	if err := checkAppKey(app); err != nil {
		return false, fmt.Errorf("remove broadcast %d: %w", id, err)
	}
	existed, err := s.store.Delete(ctx, KindBroadcast, broadcastKey(app, id), 0)
	if err != nil {
		return false, fmt.Errorf("remove broadcast %d of app %s: %w", id, app, err)
	}
	return existed, nil
}

// BroadcastCursors implements BroadcastStore.
func (s *Service) BroadcastCursors(ctx context.Context, rids []string) ([]BroadcastCursor, error) {
	out := make([]BroadcastCursor, len(rids))
	if len(rids) == 0 {
		return out, nil
	}
	recs, err := s.store.GetMany(ctx, KindBroadcastCursor, rids)
	if err != nil {
		return nil, fmt.Errorf("broadcast cursors: %w", err)
	}
	for i, r := range recs {
		if !r.Exists() {
			out[i].RegistrationID = rids[i]
			continue
		}
		if out[i], _, err = decodeCursorRecord(rids[i], r.Value); err != nil {
			return nil, err
		}
		out[i].Generation = r.Generation
	}
	return out, nil
}

// PutBroadcastCursors implements BroadcastStore: one batch of conditional
// writes.
func (s *Service) PutBroadcastCursors(ctx context.Context, cursors []BroadcastCursor) ([]bool, error) {
	out := make([]bool, len(cursors))
	if len(cursors) == 0 {
		return out, nil
	}
	writes := make([]Write, len(cursors))
	for i, c := range cursors {
		writes[i] = Write{Kind: KindBroadcastCursor, Key: c.RegistrationID, Value: encodeCursor(c),
			Options: WriteOptions{Generation: c.Generation, CreateOnly: c.Generation == 0}}
	}
	errs, err := PerWrite(s.store.PutMany(ctx, writes), len(writes))
	if err != nil {
		return nil, fmt.Errorf("put %d broadcast cursors: %w", len(cursors), err)
	}
	for i, e := range errs {
		switch {
		case e == nil:
			out[i] = true
		case !errors.Is(e, ErrExists) && !errors.Is(e, ErrGenerationMismatch):
			return nil, fmt.Errorf("put broadcast cursor %s: %w", cursors[i].RegistrationID, e)
		}
	}
	return out, nil
}
