package dataservice

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SegmentStore holds saved segments: audience definitions an app names
// once and pushes reuse.
//
// A segment belongs to one app; its id is unique within the app only, and
// methods taking an app and an id see that app's segments only: another
// app's segment is ErrNotFound, like one that does not exist. Each method
// is one atomic step on one record; concurrent UpdateSegment calls on one
// segment are serialized (the last to write wins) and never lose Created.
// Arguments failing the rules of Segment, app keys that are empty or hold
// '/', and ids failing CheckSegmentID fail with ErrInvalid before any
// effect.
type SegmentStore interface {
	// CreateSegment stores a new segment of s.AppKey under s.ID, with
	// Tags and Platforms sorted and without duplicates, and Created and
	// Updated set to the service's clock (the values passed are ignored).
	// ErrExists if the app has a segment with that id, ErrLimit if it has
	// s.AppLimit segments already (quota.go).
	CreateSegment(ctx context.Context, s Segment) error
	// Segment returns a segment of app, or ErrNotFound.
	Segment(ctx context.Context, app, id string) (Segment, error)
	// Segments returns up to limit (1 to MaxPage) segments of app in
	// ascending byte order of id, starting after the id after (empty:
	// from the first).
	Segments(ctx context.Context, app, after string, limit int) ([]Segment, error)
	// UpdateSegment replaces a segment's definition (Name, Tags,
	// Platforms, ActiveWithin) with that of s, normalized as by
	// CreateSegment. It keeps the stored Created and sets Updated to the
	// service's clock. ErrNotFound if the app has no segment s.ID.
	UpdateSegment(ctx context.Context, s Segment) error
	// DeleteSegment deletes a segment of app and reports whether it
	// existed. Of concurrent deletes of one segment exactly one reports
	// true.
	DeleteSegment(ctx context.Context, app, id string) (bool, error)
}

// KindSegment holds the saved segments: app_key/segment_id → Segment
// (JSON, without the key's fields). Scan lists an app's segments.
const KindSegment Kind = "seg"

// Segment is a saved audience: the devices of app AppKey that match every
// condition it has. A segment without conditions means every device of the
// app.
type Segment struct {
	// ID names the segment within its app (CheckSegmentID).
	ID     string `json:"id"`
	AppKey string `json:"app_key"`
	// Name is for people: 1 to MaxSegmentNameLen bytes of UTF-8 without
	// control characters.
	Name string `json:"name"`
	// Tags, when not empty, keep the devices that have ANY of them: at
	// most MaxSegmentTags tags valid for CheckTag, sorted, distinct. Nil
	// means no tag condition.
	Tags []string `json:"tags,omitempty"`
	// Platforms, when not empty, keep the devices that run on one of
	// them (IsPlatform), sorted, distinct. Nil means any platform.
	Platforms []string `json:"platforms,omitempty"`
	// ActiveWithin, when nonzero, keeps the devices connected within that
	// long before the push is resolved: at most MaxSegmentActiveWithin.
	// Zero means active at any time, or never.
	ActiveWithin time.Duration `json:"active_within,omitempty"`
	// Created and Updated are set by the service: when the segment was
	// created and when it was last written.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// AppLimit, read by CreateSegment only and not stored, is the most
	// segments AppKey may have: creating one more fails with ErrLimit.
	// Zero means no limit.
	AppLimit int `json:"app_limit,omitempty"`
}

// Limits of segments.
const (
	// MaxSegmentIDLen bounds a segment id, in bytes.
	MaxSegmentIDLen = 64
	// MaxSegmentNameLen bounds a segment's name, in bytes.
	MaxSegmentNameLen = 100
	// MaxSegmentTags bounds the tags of a segment.
	MaxSegmentTags = 20
	// MaxSegmentActiveWithin bounds a segment's activity window.
	MaxSegmentActiveWithin = 365 * 24 * time.Hour
)

// platforms are the platforms a device registers with, as a segment names
// them, sorted.
var platforms = []string{"android", "desktop", "hmos", "ios", "other", "quickapp", "web"}

// platformList is platforms as error messages list them.
const platformList = "android, ios, hmos, quickapp, web, desktop, other"

// IsPlatform reports whether p is a platform a device can register with:
// android, ios, hmos, quickapp, web, desktop or other.
func IsPlatform(p string) bool {
	_, ok := slices.BinarySearch(platforms, p)
	return ok
}

// CheckSegmentID validates a segment id: 1 to MaxSegmentIDLen bytes of
// UTF-8 without '/' (the group separator of the segment keys) and without
// control characters.
func CheckSegmentID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty segment id", ErrInvalid)
	case len(id) > MaxSegmentIDLen:
		return fmt.Errorf("%w: segment id of %d bytes; at most %d are allowed", ErrInvalid, len(id), MaxSegmentIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: segment id is not valid UTF-8", ErrInvalid)
	case strings.IndexByte(id, GroupSeparator) >= 0:
		return fmt.Errorf("%w: segment id %q contains '/'", ErrInvalid, id)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: segment id %q contains a control character", ErrInvalid, id)
	}
	return nil
}

// CheckSegmentName validates a segment's name: 1 to MaxSegmentNameLen
// bytes of UTF-8 without control characters.
func CheckSegmentName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty segment name; give the segment a name of 1 to %d bytes", ErrInvalid, MaxSegmentNameLen)
	case len(name) > MaxSegmentNameLen:
		return fmt.Errorf("%w: segment name of %d bytes; at most %d are allowed", ErrInvalid, len(name), MaxSegmentNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: segment name is not valid UTF-8", ErrInvalid)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: segment name %q contains a control character; remove it", ErrInvalid, name)
	}
	return nil
}

// normalizeSegment returns s with Tags and Platforms sorted and distinct
// (nil when empty), in slices of its own, or the first rule s breaks.
func normalizeSegment(s Segment) (Segment, error) {
	if err := checkAppKey(s.AppKey); err != nil {
		return s, err
	}
	if err := CheckSegmentID(s.ID); err != nil {
		return s, err
	}
	if err := CheckSegmentName(s.Name); err != nil {
		return s, err
	}
	s.Tags, s.Platforms = nilIfEmpty(sortedSet(s.Tags)), nilIfEmpty(sortedSet(s.Platforms))
	for _, t := range s.Tags {
		if err := CheckTag(t); err != nil {
			return s, fmt.Errorf("segment tags: %w", err)
		}
	}
	if len(s.Tags) > MaxSegmentTags {
		return s, fmt.Errorf("%w: segment has %d distinct tags; at most %d are allowed", ErrInvalid, len(s.Tags), MaxSegmentTags)
	}
	for _, p := range s.Platforms {
		if !IsPlatform(p) {
			return s, fmt.Errorf("%w: segment platform %q is not one of %s", ErrInvalid, p, platformList)
		}
	}
	switch {
	case s.ActiveWithin < 0:
		return s, fmt.Errorf("%w: segment activity window %v is negative; use 0 for devices active at any time", ErrInvalid, s.ActiveWithin)
	case s.ActiveWithin > MaxSegmentActiveWithin:
		return s, fmt.Errorf("%w: segment activity window %v exceeds %d days", ErrInvalid, s.ActiveWithin, MaxSegmentActiveWithin/(24*time.Hour))
	}
	return s, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
