package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
)

// The segments API: audiences an app saves under an id and pushes name
// with {"audience": {"segment": [id]}}. A segment holds the devices of the
// app that have any of its tags (if it names tags), run on one of its
// platforms (if it names platforms), and connected within its last
// active_within_days days (if not 0). Every call is authenticated as an
// app and sees only that app's segments: another app's segment is as
// unknown as one that does not exist.

// segmentView is a segment as the API shows it.
type segmentView struct {
	SegmentID        string    `json:"segment_id"`
	Name             string    `json:"name"`
	Tags             []string  `json:"tags"`
	Platforms        []string  `json:"platforms"`
	ActiveWithinDays int64     `json:"active_within_days"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
}

// segmentDay is the unit of active_within_days.
const segmentDay = 24 * time.Hour

func viewSegment(s dataservice.Segment) segmentView {
	return segmentView{
		SegmentID: s.ID, Name: s.Name, Tags: api.NonNil(s.Tags), Platforms: api.NonNil(s.Platforms),
		// Whole days, rounded up so that a window never reads as 0 (any
		// time); the API only stores whole days.
		ActiveWithinDays: int64((s.ActiveWithin + segmentDay - 1) / segmentDay),
		Created:          s.Created.UTC(), Updated: s.Updated.UTC(),
	}
}

// segmentRequest is the body of POST /v1/segments and PUT
// /v1/segments/{segment_id}: the whole definition.
type segmentRequest struct {
	Name      string   `json:"name"`
	Tags      []string `json:"tags"`
	Platforms []string `json:"platforms"`
	// ActiveWithinDays is read by segment, for messages that say what a
	// valid value is: a JSON integer, absent or null meaning 0.
	ActiveWithinDays json.RawMessage `json:"active_within_days"`
}

const (
	maxActiveWithinDays = int64(dataservice.MaxSegmentActiveWithin / segmentDay)
	segmentNameRules    = "1 to 100 bytes of UTF-8 without control characters"
)

// segment validates the request and returns the segment it defines for
// app, with tags and platforms sorted and distinct.
func (req *segmentRequest) segment(app, id string) (dataservice.Segment, error) {
	s := dataservice.Segment{ID: id, AppKey: app, Name: req.Name}
	if req.Name == "" {
		return s, api.Errorf(http.StatusBadRequest, "missing_field", `send "name": %s naming the segment`, segmentNameRules)
	}
	if len(req.Name) > dataservice.MaxSegmentNameLen {
		return s, api.Errorf(http.StatusBadRequest, "invalid_field", "name has %d bytes; at most %d are allowed — shorten it", len(req.Name), dataservice.MaxSegmentNameLen)
	}
	if dataservice.CheckSegmentName(req.Name) != nil {
		return s, api.Errorf(http.StatusBadRequest, "invalid_field", "name must be %s; remove the control characters (tabs, line breaks…)", segmentNameRules)
	}
	for i, tag := range req.Tags {
		if dataservice.CheckTag(tag) != nil {
			return s, api.Errorf(http.StatusBadRequest, "invalid_field", "tags[%d] is not a tag: tags are %s", i, api.NameRules)
		}
	}
	s.Tags = api.Distinct(req.Tags)
	if len(s.Tags) > dataservice.MaxSegmentTags {
		return s, api.Errorf(http.StatusBadRequest, "invalid_field", "tags names %d distinct tags; a segment matches at most %d — split it into several segments", len(s.Tags), dataservice.MaxSegmentTags)
	}
	for i, p := range req.Platforms {
		if !dataservice.IsPlatform(p) {
			return s, api.Errorf(http.StatusBadRequest, "invalid_field", "platforms[%d] must be one of %s; got %q", i, audience.PlatformNames, p)
		}
	}
	s.Platforms = api.Distinct(req.Platforms)
	if raw := bytes.TrimSpace(req.ActiveWithinDays); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 0 || n > maxActiveWithinDays {
			return s, api.Errorf(http.StatusBadRequest, "invalid_field", "active_within_days must be a whole number of days from 0 (active at any time) to %d; got %.20s", maxActiveWithinDays, raw)
		}
		s.ActiveWithin = time.Duration(n) * segmentDay
	}
	return s, nil
}

// appSegment returns a segment of app, or the API's 404.
func (g *Gateway) appSegment(ctx context.Context, app *dataservice.App, id string) (dataservice.Segment, error) {
	if dataservice.CheckSegmentID(id) != nil {
		return dataservice.Segment{}, errUnknownSegment(id)
	}
	s, err := g.data.Segment(ctx, app.Key, id)
	if api.IsNotFound(err) {
		return s, errUnknownSegment(id)
	}
	return s, err
}

func errUnknownSegment(id string) error {
	return api.Errorf(http.StatusNotFound, "unknown_segment", "this app has no segment with segment_id %q; GET /v1/segments lists them", id)
}

// newSegmentID returns 16 random lowercase hexadecimal digits.
func newSegmentID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// segmentIDAttempts bounds the ids tried for a new segment. Two random
// 64-bit ids of one app collide with odds too small to see twice.
const segmentIDAttempts = 3

func (g *Gateway) createSegment(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req segmentRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	s, err := req.segment(app.Key, "")
	if err != nil {
		return err
	}
	s.AppLimit = max(0, g.cfg.MaxSegments)
	ctx := r.Context()
	for range segmentIDAttempts {
		if s.ID, err = newSegmentID(); err != nil {
			return err
		}
		if err = g.data.CreateSegment(ctx, s); !errors.Is(err, dataservice.ErrExists) {
			break
		}
	}
	if errors.Is(err, dataservice.ErrLimit) {
		return api.Errorf(http.StatusConflict, "too_many_segments", "this app has %d segments, the most it may have; delete one (DELETE /v1/segments/{segment_id}) before creating another", g.cfg.MaxSegments)
	}
	if err != nil {
		return err
	}
	api.NoteTarget(r, "segment_id", s.ID)
	// The answer shows the segment as stored, with its timestamps.
	if s, err = g.data.Segment(ctx, app.Key, s.ID); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, viewSegment(s))
	return nil
}

type segmentsResponse struct {
	Segments []segmentView `json:"segments"`
	Next     *string       `json:"next,omitempty"`
}

func validSegmentID(s string) bool { return dataservice.CheckSegmentID(s) == nil }

func (g *Gateway) listSegments(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	after, limit, err := api.Page(r, validSegmentID)
	if err != nil {
		return err
	}
	segs, err := g.data.Segments(r.Context(), app.Key, after, limit+1)
	if err != nil {
		return err
	}
	resp := segmentsResponse{Segments: make([]segmentView, 0, min(len(segs), limit))}
	if len(segs) > limit {
		segs = segs[:limit]
		resp.Next = &segs[limit-1].ID
	}
	for _, s := range segs {
		resp.Segments = append(resp.Segments, viewSegment(s))
	}
	api.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (g *Gateway) segmentInfo(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	s, err := g.appSegment(r.Context(), app, r.PathValue("segment_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewSegment(s))
	return nil
}

func (g *Gateway) updateSegment(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req segmentRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	id := r.PathValue("segment_id")
	if dataservice.CheckSegmentID(id) != nil {
		return errUnknownSegment(id)
	}
	s, err := req.segment(app.Key, id)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := g.data.UpdateSegment(ctx, s); err != nil {
		if api.IsNotFound(err) {
			return errUnknownSegment(id)
		}
		return err
	}
	s, err = g.appSegment(ctx, app, id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewSegment(s))
	return nil
}

func (g *Gateway) deleteSegment(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id := r.PathValue("segment_id")
	if dataservice.CheckSegmentID(id) != nil {
		return errUnknownSegment(id)
	}
	existed, err := g.data.DeleteSegment(r.Context(), app.Key, id)
	if err != nil {
		return err
	}
	if !existed {
		return errUnknownSegment(id)
	}
	api.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
