package dataservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

var _ SegmentStore = (*Service)(nil)

// segmentKey is the key of a segment: app_key/segment_id.
func segmentKey(app, id string) string { return app + "/" + id }

// segmentRecord is a Segment as stored: the key holds its app and id.
type segmentRecord struct {
	Name         string        `json:"name"`
	Tags         []string      `json:"tags,omitempty"`
	Platforms    []string      `json:"platforms,omitempty"`
	ActiveWithin time.Duration `json:"active_within,omitempty"`
	Created      time.Time     `json:"created"`
	Updated      time.Time     `json:"updated"`
}

func encodeSegment(s Segment) ([]byte, error) {
	v, err := json.Marshal(segmentRecord{Name: s.Name, Tags: s.Tags, Platforms: s.Platforms, ActiveWithin: s.ActiveWithin, Created: s.Created, Updated: s.Updated})
	if err != nil {
		return nil, fmt.Errorf("dataservice: encode segment %s: %w", s.ID, err)
	}
	return v, nil
}

func decodeSegment(app, id string, v []byte) (Segment, error) {
	var r segmentRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return Segment{}, fmt.Errorf("dataservice: corrupt segment record %s: %w", segmentKey(app, id), err)
	}
	return Segment{ID: id, AppKey: app, Name: r.Name, Tags: r.Tags, Platforms: r.Platforms, ActiveWithin: r.ActiveWithin, Created: r.Created, Updated: r.Updated}, nil
}

// checkSegmentKey validates the app and id naming a segment.
func checkSegmentKey(app, id string) error {
	if err := checkAppKey(app); err != nil {
		return err
	}
	return CheckSegmentID(id)
}

// CreateSegment implements SegmentStore.
func (s *Service) CreateSegment(ctx context.Context, seg Segment) error {
	seg, err := normalizeSegment(seg)
	if err != nil {
		return fmt.Errorf("create segment %q: %w", seg.ID, err)
	}
	seg.Created = s.now().UTC()
	seg.Updated = seg.Created
	v, err := encodeSegment(seg)
	if err != nil {
		return err
	}
	if err := s.takeSlot(ctx, segmentQuota, seg.AppKey, seg.AppLimit); err != nil {
		return fmt.Errorf("create segment %s: %w", seg.ID, err)
	}
	if _, err := s.store.Put(ctx, KindSegment, segmentKey(seg.AppKey, seg.ID), v, WriteOptions{CreateOnly: true}); err != nil {
		s.freeSlot(ctx, segmentQuota, seg.AppKey)
		return fmt.Errorf("create segment %s of app %s: %w", seg.ID, seg.AppKey, err)
	}
	return nil
}

// readSegment returns a segment and the generation of its record.
func (s *Service) readSegment(ctx context.Context, app, id string) (Segment, uint32, error) {
	r, err := s.store.Get(ctx, KindSegment, segmentKey(app, id))
	if err != nil {
		return Segment{}, 0, fmt.Errorf("segment %s of app %s: %w", id, app, err)
	}
	seg, err := decodeSegment(app, id, r.Value)
	return seg, r.Generation, err
}

// Segment implements SegmentStore.
func (s *Service) Segment(ctx context.Context, app, id string) (Segment, error) {
	if err := checkSegmentKey(app, id); err != nil {
		return Segment{}, fmt.Errorf("segment %q: %w", id, err)
	}
	seg, _, err := s.readSegment(ctx, app, id)
	return seg, err
}

// Segments implements SegmentStore.
func (s *Service) Segments(ctx context.Context, app, after string, limit int) ([]Segment, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	if after != "" {
		if err := CheckSegmentID(after); err != nil {
			return nil, fmt.Errorf("segments of app %s after %q: %w", app, after, err)
		}
	}
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("segments of app %s: %w", app, err)
	}
	prefix, from := app+"/", ""
	if after != "" {
		from = segmentKey(app, after)
	}
	recs, err := s.store.Scan(ctx, KindSegment, prefix, from, limit)
	if err != nil {
		return nil, fmt.Errorf("segments of app %s: %w", app, err)
	}
	out := make([]Segment, len(recs))
	for i, r := range recs {
		if out[i], err = decodeSegment(app, r.Key[len(prefix):], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateSegment implements SegmentStore: a compare-and-set on the segment's
// record, so that Created survives concurrent updates.
func (s *Service) UpdateSegment(ctx context.Context, seg Segment) error {
	seg, err := normalizeSegment(seg)
	if err != nil {
		return fmt.Errorf("update segment %q: %w", seg.ID, err)
	}
	key := segmentKey(seg.AppKey, seg.ID)
	for round := 0; ; round++ {
		if round == casAttempts {
			return fmt.Errorf("update segment %s of app %s: %w: %d concurrent changes in a row; retry", seg.ID, seg.AppKey, ErrGenerationMismatch, casAttempts)
		}
		if err := backoff(ctx, round); err != nil {
			return fmt.Errorf("update segment %s of app %s: %w", seg.ID, seg.AppKey, err)
		}
		old, gen, err := s.readSegment(ctx, seg.AppKey, seg.ID)
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		// Updated never goes before Created, whatever the clock does.
		seg.Created, seg.Updated = old.Created, s.now().UTC()
		if seg.Updated.Before(seg.Created) {
			seg.Updated = seg.Created
		}
		v, err := encodeSegment(seg)
		if err != nil {
			return err
		}
		_, err = s.store.Put(ctx, KindSegment, key, v, WriteOptions{Generation: gen})
		if err == nil {
			return nil
		}
		// A mismatch: another update or a delete came first. Read again;
		// a deleted segment is then ErrNotFound.
		if !errors.Is(err, ErrGenerationMismatch) {
			return fmt.Errorf("update segment %s of app %s: %w", seg.ID, seg.AppKey, err)
		}
	}
}

// DeleteSegment implements SegmentStore.
func (s *Service) DeleteSegment(ctx context.Context, app, id string) (bool, error) {
	if err := checkSegmentKey(app, id); err != nil {
		return false, fmt.Errorf("delete segment %q: %w", id, err)
	}
	// Counted before, so that the count is right after.
	if err := s.ensureUsage(ctx, segmentQuota, app); err != nil {
		return false, fmt.Errorf("delete segment %s of app %s: %w", id, app, err)
	}
	existed, err := s.store.Delete(ctx, KindSegment, segmentKey(app, id), 0)
	if err != nil {
		return false, fmt.Errorf("delete segment %s of app %s: %w", id, app, err)
	}
	if existed {
		s.freeSlot(ctx, segmentQuota, app)
	}
	return existed, nil
}
