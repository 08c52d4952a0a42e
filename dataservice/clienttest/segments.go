package clienttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// segmentTests are the cases of SegmentStore.
var segmentTests = []test{
	{"Segments", segments},
	{"SegmentAppIsolation", segmentAppIsolation},
	{"SegmentPagination", segmentPagination},
	{"SegmentConcurrentUpdates", segmentConcurrentUpdates},
	{"SegmentValidation", segmentValidation},
}

func createSegment(t *testing.T, c dataservice.Client, s dataservice.Segment) {
	t.Helper()
	if err := c.CreateSegment(context.Background(), s); err != nil {
		t.Fatalf("CreateSegment(%+v): %v", s, err)
	}
}

func getSegment(t *testing.T, c dataservice.Client, app, id string) dataservice.Segment {
	t.Helper()
	s, err := c.Segment(context.Background(), app, id)
	if err != nil {
		t.Fatalf("Segment(%s, %s): %v", app, id, err)
	}
	return s
}

// wantSegment checks a segment's key and definition against want's;
// Created and Updated are checked by the callers.
func wantSegment(t *testing.T, what string, got, want dataservice.Segment) {
	t.Helper()
	if got.ID != want.ID || got.AppKey != want.AppKey || got.Name != want.Name || got.ActiveWithin != want.ActiveWithin ||
		!slices.Equal(got.Tags, want.Tags) || !slices.Equal(got.Platforms, want.Platforms) {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

// allSegments reads an app's segments page by page.
func allSegments(t *testing.T, c dataservice.Client, app string, page int) []dataservice.Segment {
	t.Helper()
	var out []dataservice.Segment
	after := ""
	for {
		segs, err := c.Segments(context.Background(), app, after, page)
		if err != nil {
			t.Fatalf("Segments(%s, %q, %d): %v", app, after, page, err)
		}
		if len(segs) > page {
			t.Fatalf("a page of %d segments for limit %d", len(segs), page)
		}
		out = append(out, segs...)
		if len(segs) < page {
			return out
		}
		after = segs[len(segs)-1].ID
	}
}

func segmentIDs(segs []dataservice.Segment) []string {
	ids := make([]string, len(segs))
	for i, s := range segs {
		ids[i] = s.ID
	}
	return ids
}

func segments(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	start := time.Now()
	vip := dataservice.Segment{
		ID: "s1", AppKey: "app", Name: "VIPs on phones, active this week <&>",
		// Unsorted, with duplicates: stored sorted and distinct.
		Tags: []string{"vip", "beta", "vip", "标签"}, Platforms: []string{"ios", "android", "ios"},
		ActiveWithin: 7 * 24 * time.Hour,
		Created:      time.Unix(1, 0), // ignored: the service stamps
	}
	createSegment(t, c, vip)
	if !slices.Equal(vip.Tags, []string{"vip", "beta", "vip", "标签"}) {
		t.Fatalf("CreateSegment changed the caller's tags: %q", vip.Tags)
	}
	want := vip
	want.Tags, want.Platforms = []string{"beta", "vip", "标签"}, []string{"android", "ios"}
	got := getSegment(t, c, "app", "s1")
	wantSegment(t, "Segment after CreateSegment", got, want)
	if got.Created.Before(start.Add(-time.Minute)) || got.Created.After(time.Now().Add(time.Minute)) || !got.Updated.Equal(got.Created) {
		t.Fatalf("created %v, updated %v; want both about %v", got.Created, got.Updated, start)
	}
	created := got.Created

	dup := vip
	dup.Name = "another"
	wantErr(t, c.CreateSegment(ctx, dup), dataservice.ErrExists, "creating a segment with a taken id")
	wantSegment(t, "Segment after a failed create", getSegment(t, c, "app", "s1"), want)

	// Without conditions: every device of the app.
	all := dataservice.Segment{ID: "s2", AppKey: "app", Name: "everyone"}
	createSegment(t, c, all)
	wantSegment(t, "a segment without conditions", getSegment(t, c, "app", "s2"), all)

	_, err := c.Segment(ctx, "app", "nope")
	wantErr(t, err, dataservice.ErrNotFound, "an unknown segment")

	// UpdateSegment replaces the definition and keeps Created.
	next := dataservice.Segment{ID: "s1", AppKey: "app", Name: "web, any time", Platforms: []string{"web"}}
	if err := c.UpdateSegment(ctx, next); err != nil {
		t.Fatal(err)
	}
	got = getSegment(t, c, "app", "s1")
	wantSegment(t, "Segment after UpdateSegment", got, next)
	if !got.Created.Equal(created) || got.Updated.Before(created) {
		t.Fatalf("after an update: created %v, updated %v; want created %v kept, updated after it", got.Created, got.Updated, created)
	}
	missing := next
	missing.ID = "nope"
	wantErr(t, c.UpdateSegment(ctx, missing), dataservice.ErrNotFound, "updating an unknown segment")
	if _, err := c.Segment(ctx, "app", "nope"); err == nil {
		t.Fatal("UpdateSegment of an unknown segment created it")
	}

	if segs := allSegments(t, c, "app", 10); !slices.Equal(segmentIDs(segs), []string{"s1", "s2"}) {
		t.Fatalf("Segments = %q, want [s1 s2]", segmentIDs(segs))
	} else {
		wantSegment(t, "listed s1", segs[0], next)
	}

	// DeleteSegment reports whether the segment existed.
	for i, want := range []bool{true, false} {
		existed, err := c.DeleteSegment(ctx, "app", "s1")
		if err != nil || existed != want {
			t.Fatalf("DeleteSegment #%d = %v, %v; want %v", i+1, existed, err, want)
		}
	}
	_, err = c.Segment(ctx, "app", "s1")
	wantErr(t, err, dataservice.ErrNotFound, "a deleted segment")
	wantErr(t, c.UpdateSegment(ctx, next), dataservice.ErrNotFound, "updating a deleted segment")
	if ids := segmentIDs(allSegments(t, c, "app", 10)); !slices.Equal(ids, []string{"s2"}) {
		t.Fatalf("Segments after a delete = %q, want [s2]", ids)
	}
	// The id is free again.
	createSegment(t, c, vip)
	if segs, err := c.Segments(ctx, "none", "", 10); err != nil || len(segs) != 0 {
		t.Fatalf("Segments of an app without any = %+v, %v", segs, err)
	}
}

func segmentAppIsolation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	// "app" is a prefix of "app2": their key groups must not mix.
	for _, app := range []string{"app", "app2", "other"} {
		createSegment(t, c, dataservice.Segment{ID: "same", AppKey: app, Name: "of " + app})
	}
	createSegment(t, c, dataservice.Segment{ID: "only-other", AppKey: "other", Name: "x"})
	for app, want := range map[string][]string{"app": {"same"}, "app2": {"same"}, "other": {"only-other", "same"}} {
		if ids := segmentIDs(allSegments(t, c, app, 10)); !slices.Equal(ids, want) {
			t.Fatalf("Segments(%s) = %q, want %q", app, ids, want)
		}
		if s := getSegment(t, c, app, "same"); s.AppKey != app || s.Name != "of "+app {
			t.Fatalf("Segment(%s, same) = %+v", app, s)
		}
	}
	// Another app's segment is as unknown as one that does not exist.
	_, err := c.Segment(ctx, "app", "only-other")
	wantErr(t, err, dataservice.ErrNotFound, "reading another app's segment")
	wantErr(t, c.UpdateSegment(ctx, dataservice.Segment{ID: "only-other", AppKey: "app", Name: "stolen"}), dataservice.ErrNotFound, "updating another app's segment")
	if existed, err := c.DeleteSegment(ctx, "app", "only-other"); err != nil || existed {
		t.Fatalf("deleting another app's segment = %v, %v; want false", existed, err)
	}
	if s := getSegment(t, c, "other", "only-other"); s.Name != "x" {
		t.Fatalf("another app changed a segment: %+v", s)
	}
	if existed, err := c.DeleteSegment(ctx, "app", "same"); err != nil || !existed {
		t.Fatalf("DeleteSegment = %v, %v", existed, err)
	}
	for _, app := range []string{"app2", "other"} {
		getSegment(t, c, app, "same")
	}
}

func segmentPagination(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	ids := numbered("seg", 25)
	shuffled := slices.Clone(ids)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, id := range shuffled {
		createSegment(t, c, dataservice.Segment{ID: id, AppKey: "app", Name: "n" + id, Tags: []string{id}})
	}
	for _, page := range []int{1, 7, 25, 100} {
		segs := allSegments(t, c, "app", page)
		wantStrings(t, fmt.Sprintf("Segments by pages of %d", page), segmentIDs(segs), ids)
		for _, s := range segs {
			if s.Name != "n"+s.ID || !slices.Equal(s.Tags, []string{s.ID}) {
				t.Fatalf("listed %+v", s)
			}
		}
	}
	rest, err := c.Segments(ctx, "app", ids[20], 100)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "Segments after "+ids[20], segmentIDs(rest), ids[21:])
	// after need not be an existing id.
	rest, err = c.Segments(ctx, "app", "seg0205", 100)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "Segments after seg0205", segmentIDs(rest), ids[21:])
}

// segmentConcurrentUpdates updates one segment from many goroutines: every
// update succeeds, the last one written stays whole, and Created survives.
func segmentConcurrentUpdates(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	createSegment(t, c, dataservice.Segment{ID: "s", AppKey: "app", Name: "start"})
	created := getSegment(t, c, "app", "s").Created
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				name := fmt.Sprintf("g%d-%d", g, i)
				s := dataservice.Segment{ID: "s", AppKey: "app", Name: name, Tags: []string{name}, ActiveWithin: time.Duration(g+1) * time.Hour}
				if err := c.UpdateSegment(ctx, s); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	got := getSegment(t, c, "app", "s")
	var g, i int
	if _, err := fmt.Sscanf(got.Name, "g%d-%d", &g, &i); err != nil || !slices.Equal(got.Tags, []string{got.Name}) || got.ActiveWithin != time.Duration(g+1)*time.Hour {
		t.Fatalf("after concurrent updates: %+v, not one update's whole definition", got)
	}
	if !got.Created.Equal(created) || got.Updated.Before(created) {
		t.Fatalf("after concurrent updates: created %v, updated %v; want created %v kept", got.Created, got.Updated, created)
	}
}

func segmentValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	createSegment(t, c, dataservice.Segment{ID: "keep", AppKey: "app", Name: "kept"})
	ok := dataservice.Segment{ID: "new", AppKey: "app", Name: "fine"}
	longTag := strings.Repeat("x", dataservice.MaxTagLen+1)
	for _, tc := range []struct {
		name   string
		change func(s *dataservice.Segment)
	}{
		{"empty name", func(s *dataservice.Segment) { s.Name = "" }},
		{"name too long", func(s *dataservice.Segment) { s.Name = strings.Repeat("n", dataservice.MaxSegmentNameLen+1) }},
		{"name with a newline", func(s *dataservice.Segment) { s.Name = "a\nb" }},
		{"name with DEL", func(s *dataservice.Segment) { s.Name = "a\x7f" }},
		{"name not UTF-8", func(s *dataservice.Segment) { s.Name = "\xff\xfe" }},
		{"empty tag", func(s *dataservice.Segment) { s.Tags = []string{"ok", ""} }},
		{"tag too long", func(s *dataservice.Segment) { s.Tags = []string{longTag} }},
		{"tag with '/'", func(s *dataservice.Segment) { s.Tags = []string{"a/b"} }},
		{"tag with a control character", func(s *dataservice.Segment) { s.Tags = []string{"tab\t"} }},
		{"tag not UTF-8", func(s *dataservice.Segment) { s.Tags = []string{"\xff"} }},
		{"too many tags", func(s *dataservice.Segment) { s.Tags = numbered("t", dataservice.MaxSegmentTags+1) }},
		{"unknown platform", func(s *dataservice.Segment) { s.Platforms = []string{"android", "symbian"} }},
		{"platform in capitals", func(s *dataservice.Segment) { s.Platforms = []string{"iOS"} }},
		{"empty platform", func(s *dataservice.Segment) { s.Platforms = []string{""} }},
		{"platform not UTF-8", func(s *dataservice.Segment) { s.Platforms = []string{"\xff"} }},
		{"negative window", func(s *dataservice.Segment) { s.ActiveWithin = -time.Second }},
		{"window too long", func(s *dataservice.Segment) { s.ActiveWithin = dataservice.MaxSegmentActiveWithin + time.Nanosecond }},
		{"empty id", func(s *dataservice.Segment) { s.ID = "" }},
		{"id with '/'", func(s *dataservice.Segment) { s.ID = "a/b" }},
		{"id too long", func(s *dataservice.Segment) { s.ID = strings.Repeat("i", dataservice.MaxSegmentIDLen+1) }},
		{"id with a control character", func(s *dataservice.Segment) { s.ID = "a\x00" }},
		{"id not UTF-8", func(s *dataservice.Segment) { s.ID = "\xff" }},
		{"empty app", func(s *dataservice.Segment) { s.AppKey = "" }},
		{"app with '/'", func(s *dataservice.Segment) { s.AppKey = "a/b" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.change(&s)
			wantErr(t, c.CreateSegment(ctx, s), dataservice.ErrInvalid, "CreateSegment")
			if s.ID == ok.ID && s.AppKey == ok.AppKey {
				if _, err := c.Segment(ctx, "app", ok.ID); err == nil {
					t.Fatal("a rejected CreateSegment stored the segment")
				}
			}
			if s.ID == ok.ID {
				s.ID = "keep" // an existing segment: what fails is the definition
			}
			wantErr(t, c.UpdateSegment(ctx, s), dataservice.ErrInvalid, "UpdateSegment")
		})
	}
	if s := getSegment(t, c, "app", "keep"); s.Name != "kept" {
		t.Fatalf("rejected updates changed a segment: %+v", s)
	}

	// The limits themselves are fine, in bytes of UTF-8.
	edge := dataservice.Segment{
		ID: strings.Repeat("i", dataservice.MaxSegmentIDLen), AppKey: "app",
		Name:         strings.Repeat("名", dataservice.MaxSegmentNameLen/3),
		Tags:         numbered("t", dataservice.MaxSegmentTags),
		Platforms:    []string{"web", "android", "ios", "hmos", "quickapp", "desktop", "other"},
		ActiveWithin: dataservice.MaxSegmentActiveWithin,
	}
	createSegment(t, c, edge)
	got := getSegment(t, c, "app", edge.ID)
	edge.Platforms = []string{"android", "desktop", "hmos", "ios", "other", "quickapp", "web"}
	wantSegment(t, "a segment at every limit", got, edge)
	// Duplicates count once towards the tag limit.
	dups := ok
	dups.Tags = append(numbered("t", dataservice.MaxSegmentTags), "t000", "t001")
	createSegment(t, c, dups)
	if s := getSegment(t, c, "app", ok.ID); len(s.Tags) != dataservice.MaxSegmentTags {
		t.Fatalf("%d tags stored, want %d", len(s.Tags), dataservice.MaxSegmentTags)
	}

	// Keys and pages.
	for _, tc := range []struct{ app, id string }{{"", "keep"}, {"a/b", "keep"}, {"app", ""}, {"app", "a/b"}, {"app", "\xff"}} {
		_, err := c.Segment(ctx, tc.app, tc.id)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("Segment(%q, %q)", tc.app, tc.id))
		_, err = c.DeleteSegment(ctx, tc.app, tc.id)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("DeleteSegment(%q, %q)", tc.app, tc.id))
	}
	for _, app := range []string{"", "a/b"} {
		_, err := c.Segments(ctx, app, "", 10)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("Segments(%q)", app))
	}
	for _, limit := range []int{0, -1, dataservice.MaxPage + 1} {
		_, err := c.Segments(ctx, "app", "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("Segments limit %d", limit))
	}
	_, err := c.Segments(ctx, "app", "a/b", 10)
	wantErr(t, err, dataservice.ErrInvalid, "Segments after an id that cannot exist")
}
