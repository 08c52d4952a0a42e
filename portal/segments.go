package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// segmentPage is how many segments a page of the list shows.
const segmentPage = 50

// segmentFields maps the API's messages about a segment to its form.
var segmentFields = fieldMap{
	"name":               "name",
	"tags":               "tags",
	"platforms":          "platforms",
	"active_within_days": "active_within_days",
}

// segmentsView is the segments page's data: a page of segments and the
// form that creates one.
type segmentsView struct {
	Segments []segment
	Next     string
	First    string
	Form     *form
}

// segments lists the app's segments (their estimated sizes are filled in
// by the page script, one estimate per segment, so that the list answers
// at once) and offers the form that creates one.
func (p *Portal) segments(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderSegments(w, r, s, http.StatusOK, newForm(url.Values{"active_within_days": {"0"}}))
}

func (p *Portal) renderSegments(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	q := url.Values{"limit": {strconv.Itoa(segmentPage)}}
	after := r.URL.Query().Get("after")
	if after != "" {
		q.Set("after", after)
	}
	var list segmentList
	if err := s.api.get(r.Context(), "/v1/segments", q, &list); err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := &segmentsView{Segments: list.Segments, Form: f}
	if list.Next != "" {
		v.Next = appPath(s, "segments") + "?after=" + url.QueryEscape(list.Next)
	}
	if after != "" {
		v.First = appPath(s, "segments")
	}
	p.render(w, r, status, "segments", &view{Title: "Segments", S: s, Active: "segments", Notice: notice(r), Data: v})
}

// formSegment returns the segment the form describes, or nil with f's
// errors set.
func formSegment(f *form) *segment {
	sg := &segment{
		Name:      strings.TrimSpace(f.Get("name")),
		Tags:      splitList(f.Get("tags")),
		Platforms: f.V["platforms"],
	}
	if sg.Tags == nil {
		sg.Tags = []string{}
	}
	if sg.Platforms == nil {
		sg.Platforms = []string{}
	}
	if n := formInt(f, "active_within_days", "active_within_days"); n != nil {
		sg.ActiveWithinDays = int(*n)
	}
	if len(f.E) > 0 {
		return nil
	}
	return sg
}

// createSegment saves a new segment (POST /v1/segments).
func (p *Portal) createSegment(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	sg := formSegment(f)
	if sg != nil {
		var saved segment
		err := s.api.call(r.Context(), http.MethodPost, "/v1/segments", nil, sg, &saved)
		if err == nil {
			http.Redirect(w, r, appPath(s, "segments/"+seg(saved.SegmentID))+"?ok=segment_created", http.StatusSeeOther)
			return
		}
		f.setError(asAPIError(err), segmentFields)
	}
	p.renderSegments(w, r, s, formStatus(f), f)
}

// formStatus is the status of a page re-rendered with f's errors.
func formStatus(f *form) int {
	if f.status >= 400 {
		return f.status
	}
	return http.StatusBadRequest
}

// segmentView is a segment's page: its estimated size and the form that
// edits it.
type segmentView struct {
	Segment  segment
	Estimate *estimate
	EstErr   string
	Form     *form
}

// segment shows a segment with its estimated size, and the form that
// edits it.
func (p *Portal) segment(w http.ResponseWriter, r *http.Request, s *session) {
	var sg segment
	if err := s.api.get(r.Context(), "/v1/segments/"+seg(r.PathValue("id")), nil, &sg); err != nil {
		p.fail(w, r, s, err)
		return
	}
	f := newForm(url.Values{
		"name":               {sg.Name},
		"tags":               {strings.Join(sg.Tags, "\n")},
		"platforms":          sg.Platforms,
		"active_within_days": {strconv.Itoa(sg.ActiveWithinDays)},
	})
	p.renderSegment(w, r, s, http.StatusOK, &segmentView{Segment: sg, Form: f})
}

func (p *Portal) renderSegment(w http.ResponseWriter, r *http.Request, s *session, status int, v *segmentView) {
	var est estimate
	err := s.api.call(r.Context(), http.MethodPost, "/v1/audiences/estimate", nil,
		estimateRequest{Audience: audienceObject{Segment: []string{v.Segment.SegmentID}}}, &est)
	if err != nil {
		v.EstErr = asAPIError(err).Message
	} else {
		v.Estimate = &est
	}
	p.render(w, r, status, "segment", &view{Title: "Segment " + v.Segment.Name, S: s, Active: "segments", Notice: notice(r), Data: v})
}

// updateSegment replaces a segment's definition (PUT /v1/segments/{id}).
func (p *Portal) updateSegment(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	f := newForm(r.PostForm)
	sg := formSegment(f)
	if sg != nil {
		err := s.api.call(r.Context(), http.MethodPut, "/v1/segments/"+seg(id), nil, sg, nil)
		if err == nil {
			http.Redirect(w, r, appPath(s, "segments/"+seg(id))+"?ok=segment_saved", http.StatusSeeOther)
			return
		}
		f.setError(asAPIError(err), segmentFields)
	}
	var cur segment
	if err := s.api.get(r.Context(), "/v1/segments/"+seg(id), nil, &cur); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.renderSegment(w, r, s, formStatus(f), &segmentView{Segment: cur, Form: f})
}

// deleteSegment deletes a segment.
func (p *Portal) deleteSegment(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.api.call(r.Context(), http.MethodDelete, "/v1/segments/"+seg(r.PathValue("id")), nil, nil, nil); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, appPath(s, "segments")+"?ok=segment_deleted", http.StatusSeeOther)
}
