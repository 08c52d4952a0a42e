package audience

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/wallclock"
)

// Data is what resolving an audience reads.
type Data interface {
	Devices(ctx context.Context, rids []string) ([]dataservice.Device, error)
	DevicesAttrs(ctx context.Context, rids []string) ([]dataservice.DeviceAttrs, error)
	LastActive(ctx context.Context, rids []string) ([]time.Time, error)
	AppDevices(ctx context.Context, app, after string, limit int) ([]string, error)
	AppDeviceCount(ctx context.Context, app string) (int64, error)
	TagMembers(ctx context.Context, app, tag, after string, limit int) ([]string, error)
	TagCount(ctx context.Context, app, tag string) (int64, error)
	AliasMembers(ctx context.Context, app, alias string) ([]string, error)
	Segment(ctx context.Context, app, id string) (dataservice.Segment, error)
}

// LocalTime narrows an audience to the devices whose clocks show a
// schedule's time: what a task adds to its message's audience when it is
// the firing of a schedule in each device's local time. It is stored with
// the task, as JSON. The zero value narrows nothing.
type LocalTime struct {
	// UTCOffset, if set, makes the task the firing for this offset from
	// UTC (in seconds) of an occurrence of a schedule in each device's
	// local time: it keeps the devices it reaches (LocalTime.reaches).
	// Devices that registered no time zone are taken to be in DefaultZone
	// (the schedule's own; UTC if empty).
	UTCOffset   *int   `json:"utc_offset,omitempty"`
	DefaultZone string `json:"default_zone,omitempty"`
	// At is the firing's instant (zero in tasks stored before it was
	// recorded).
	At time.Time `json:"at,omitzero"`
}

// reaches reports whether the firing of s reaches a device in time zone
// tz: whether At is when that zone's clocks first read the occurrence's
// wall time (At plus UTCOffset), as for a schedule in a fixed zone
// (wallclock.Instant). A device then gets each occurrence once: on the day clocks
// are set back, the hour that repeats is sent at its first reading, not
// at both; on the day they are set forward, an hour that never happens
// is sent as if the clocks had not changed, not skipped. Without At, the
// zone must be at UTCOffset at now.
func (s *LocalTime) reaches(tz string, now time.Time) bool {
	loc, err := wallclock.Zone(tz)
	if err != nil {
		return false
	}
	off := *s.UTCOffset
	if s.At.IsZero() {
		_, o := now.In(loc).Zone()
		return o == off
	}
	at := s.At.UTC()
	return wallclock.Instant(at.Add(time.Duration(off)*time.Second), loc).Equal(at)
}

// Resolver yields the devices of an audience page by page, in ascending
// registration id order, so that a cursor (the last id of a page) says
// where to continue after a restart. One kind drives the walk — the
// cheapest to enumerate — and every other kind filters what it yields.
type Resolver struct {
	data  Data
	app   string
	aud   Audience
	local LocalTime

	seg *dataservice.Segment // the segment of aud.Segment, read by prepare
	// driver enumerates candidates; the filters below test them.
	driver      driverKind
	driverTags  []string // tag OR union (tag, or a segment's tags) or the one tag_and tag
	listed      []string // registration_id, or the alias members, sorted
	needAttrs   bool
	needDevice  bool
	needActive  bool
	restAnd     []string // tag_and tags other than the driving one
	filterTag   []string // tag OR filter, when tag does not drive
	filterAlias []string
	filterRID   []string // registration ids, when they do not drive (never: they always drive)
}

type driverKind int

const (
	driveListed  driverKind = iota // registration ids or alias members
	driveTags                      // union of tag members
	driveAppDevs                   // every device of the app
)

// maxScanFactor bounds the candidates one page may examine, as a multiple
// of the page size, so that a selective filter cannot make one call run
// for long: the page is then shorter than asked (its cursor still moves).
const maxScanFactor = 8

func NewResolver(data Data, app string, aud Audience, local LocalTime) *Resolver {
	return &Resolver{data: data, app: app, aud: aud, local: local}
}

// prepare chooses the driver and the filters; it reads the segment, the
// alias members and tag counts. Audiences naming unknown things (a segment
// that does not exist) fail with an API error.
func (r *Resolver) Prepare(ctx context.Context) error {
	a := r.aud
	if len(a.Segment) == 1 {
		seg, err := r.data.Segment(ctx, r.app, a.Segment[0])
		if errors.Is(err, dataservice.ErrNotFound) {
			return api.Errorf(http.StatusBadRequest, "unknown_segment", "this app has no segment %q; create it with POST /v1/segments", a.Segment[0])
		}
		if err != nil {
			return err
		}
		r.seg = &seg
		r.needDevice = r.needDevice || len(seg.Platforms) > 0
		r.needActive = seg.ActiveWithin > 0
	}
	// The push's platforms filter whatever drives; the devices' records
	// say their platform.
	r.needDevice = r.needDevice || r.local.UTCOffset != nil || len(a.Platform) > 0
	r.restAnd = a.TagAnd
	switch {
	case len(a.RegistrationID) > 0:
		r.driver, r.listed = driveListed, a.RegistrationID
		r.needDevice = true // ids of other apps are skipped
		r.filterAlias, r.filterTag = a.Alias, a.Tag
	case len(a.Alias) > 0:
		var members []string
		for _, alias := range a.Alias {
			m, err := r.data.AliasMembers(ctx, r.app, alias)
			if err != nil {
				return err
			}
			members = append(members, m...)
		}
		r.driver, r.listed = driveListed, api.Distinct(members)
		r.filterTag = a.Tag
	case len(a.Tag) > 0:
		r.driver, r.driverTags = driveTags, a.Tag
	case len(a.TagAnd) > 0:
		// Walk the smallest tag; the others filter.
		best, bestN := 0, int64(-1)
		for i, tag := range a.TagAnd {
			n, err := r.data.TagCount(ctx, r.app, tag)
			if err != nil {
				return err
			}
			if bestN < 0 || n < bestN {
				best, bestN = i, n
			}
		}
		r.driver, r.driverTags = driveTags, a.TagAnd[best:best+1]
		r.restAnd = slices.Delete(slices.Clone(a.TagAnd), best, best+1)
	case r.seg != nil && len(r.seg.Tags) > 0:
		r.driver, r.driverTags = driveTags, r.seg.Tags
	default:
		r.driver = driveAppDevs
	}
	// A segment's tags filter unless they drive.
	if r.seg != nil && len(r.seg.Tags) > 0 && !(r.driver == driveTags && slices.Equal(r.driverTags, r.seg.Tags)) {
		r.needAttrs = true
	}
	r.needAttrs = r.needAttrs || len(r.restAnd) > 0 || len(a.TagNot) > 0 || len(r.filterTag) > 0 || len(r.filterAlias) > 0
	return nil
}

// Next returns up to n devices after cursor, the cursor to continue from,
// and whether the audience is exhausted. A page may be shorter than n
// without being the last.
func (r *Resolver) Next(ctx context.Context, cursor string, n int) (rids []string, next string, done bool, err error) {
	next = cursor
	budget := n * maxScanFactor
	for len(rids) < n && budget > 0 {
		want := min(n-len(rids), budget)
		cands, exhausted, err := r.candidates(ctx, next, want)
		if err != nil {
			return nil, cursor, false, err
		}
		if len(cands) > 0 {
			next = cands[len(cands)-1]
			budget -= len(cands)
			kept, err := r.filter(ctx, cands)
			if err != nil {
				return nil, cursor, false, err
			}
			rids = append(rids, kept...)
		}
		if exhausted {
			return rids, next, true, nil
		}
	}
	return rids, next, false, nil
}

// candidates returns up to n candidates after cursor from the driver, and
// whether the driver has no more.
func (r *Resolver) candidates(ctx context.Context, cursor string, n int) ([]string, bool, error) {
	switch r.driver {
	case driveListed:
		i, found := slices.BinarySearch(r.listed, cursor)
		if found {
			i++
		}
		end := min(i+n, len(r.listed))
		return r.listed[i:end], end == len(r.listed), nil
	case driveAppDevs:
		page, err := r.data.AppDevices(ctx, r.app, cursor, n)
		if err != nil {
			return nil, false, err
		}
		return page, len(page) < n, nil
	default:
		// Merge the members of every driving tag: each list is sorted, so
		// the union's first n are among the first n of each.
		var all []string
		exhausted := true
		for _, tag := range r.driverTags {
			page, err := r.data.TagMembers(ctx, r.app, tag, cursor, n)
			if err != nil {
				return nil, false, err
			}
			if len(page) == n {
				exhausted = false
			}
			all = append(all, page...)
		}
		all = api.Distinct(all)
		if len(all) > n {
			// Past the n-th, a list that was cut short may hide smaller ids.
			all, exhausted = all[:n], false
		}
		return all, exhausted, nil
	}
}

// filter keeps the candidates every other kind of the audience accepts.
func (r *Resolver) filter(ctx context.Context, cands []string) ([]string, error) {
	var (
		attrs   []dataservice.DeviceAttrs
		devices []dataservice.Device
		active  []time.Time
		err     error
	)
	if r.needAttrs {
		if attrs, err = r.data.DevicesAttrs(ctx, cands); err != nil {
			return nil, err
		}
	}
	if r.needDevice {
		if devices, err = r.data.Devices(ctx, cands); err != nil {
			return nil, err
		}
	}
	if r.needActive {
		if active, err = r.data.LastActive(ctx, cands); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	kept := cands[:0:0]
	for i, rid := range cands {
		if r.needDevice {
			d := devices[i]
			if !d.Exists() || d.AppKey != r.app {
				continue
			}
			if r.seg != nil && len(r.seg.Platforms) > 0 && !slices.Contains(r.seg.Platforms, devicePlatform(d.Platform)) {
				continue
			}
			if !r.aud.PlatformAllows(d.Platform) {
				continue
			}
			if r.local.UTCOffset != nil && !r.local.reaches(cmp.Or(d.TimeZone, r.local.DefaultZone, "UTC"), now) {
				continue
			}
		}
		if r.needActive && now.Sub(active[i]) > r.seg.ActiveWithin {
			continue
		}
		if r.needAttrs && !r.attrsMatch(attrs[i]) {
			continue
		}
		kept = append(kept, rid)
	}
	return kept, nil
}

func (r *Resolver) attrsMatch(a dataservice.DeviceAttrs) bool {
	has := func(tag string) bool { _, ok := slices.BinarySearch(a.Tags, tag); return ok }
	for _, tag := range r.restAnd {
		if !has(tag) {
			return false
		}
	}
	for _, tag := range r.aud.TagNot {
		if has(tag) {
			return false
		}
	}
	if len(r.filterTag) > 0 && !slices.ContainsFunc(r.filterTag, has) {
		return false
	}
	if len(r.filterAlias) > 0 && (a.Alias == "" || !slices.Contains(r.filterAlias, a.Alias)) {
		return false
	}
	if r.seg != nil && len(r.seg.Tags) > 0 && !slices.ContainsFunc(r.seg.Tags, has) {
		return false
	}
	return true
}

// estimate is the size of an audience: exact, or measured on a sample.
type Estimate struct {
	Count int64 `json:"estimate"`
	Exact bool  `json:"exact"`
}

// Estimate sizes the audience a for app: exactly for "all" (the app's
// device count), else as its Resolver estimates it.
func (a Audience) Estimate(ctx context.Context, data Data, app string) (Estimate, error) {
	if a.All {
		n, err := data.AppDeviceCount(ctx, app)
		return Estimate{Count: n, Exact: true}, err
	}
	r := NewResolver(data, app, a, LocalTime{})
	if err := r.Prepare(ctx); err != nil {
		return Estimate{}, err
	}
	return r.Estimate(ctx)
}

// sampleSize is how many candidates an estimate examines at most.
const sampleSize = 2000

// estimate sizes the audience: the driver's size, times the share of a
// sample of its candidates that the filters keep.
func (r *Resolver) Estimate(ctx context.Context) (Estimate, error) {
	var size int64
	exactSize := true
	switch r.driver {
	case driveListed:
		size = int64(len(r.listed))
	case driveAppDevs:
		n, err := r.data.AppDeviceCount(ctx, r.app)
		if err != nil {
			return Estimate{}, err
		}
		size = n
	default:
		for _, tag := range r.driverTags {
			n, err := r.data.TagCount(ctx, r.app, tag)
			if err != nil {
				return Estimate{}, err
			}
			size += n
		}
		exactSize = len(r.driverTags) == 1
	}
	filtered := r.needAttrs || r.needDevice || r.needActive
	if exactSize && !filtered {
		return Estimate{Count: size, Exact: true}, nil
	}
	// Examine a sample: the first candidates of the driver.
	var scanned, kept int
	cursor := ""
	for scanned < sampleSize {
		cands, exhausted, err := r.candidates(ctx, cursor, min(1000, sampleSize-scanned))
		if err != nil {
			return Estimate{}, err
		}
		if len(cands) > 0 {
			cursor = cands[len(cands)-1]
			k, err := r.filter(ctx, cands)
			if err != nil {
				return Estimate{}, err
			}
			scanned, kept = scanned+len(cands), kept+len(k)
		}
		if exhausted {
			// The whole audience was examined.
			return Estimate{Count: int64(kept), Exact: true}, nil
		}
	}
	if scanned == 0 {
		return Estimate{Count: 0, Exact: true}, nil
	}
	return Estimate{Count: int64(float64(size) * float64(kept) / float64(scanned)), Exact: false}, nil
}

// describe names an audience for logs and listings.
func (a Audience) Describe() string {
	if a.All {
		return "all"
	}
	var parts []string
	for _, k := range []struct {
		name  string
		items []string
	}{{"registration_id", a.RegistrationID}, {"alias", a.Alias}, {"tag", a.Tag}, {"tag_and", a.TagAnd}, {"tag_not", a.TagNot}, {"segment", a.Segment}, {"platform", a.Platform}} {
		if len(k.items) > 0 {
			parts = append(parts, fmt.Sprintf("%s(%d)", k.name, len(k.items)))
		}
	}
	return strings.Join(parts, "+")
}
