package portal

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkPages measures what each page costs the portal itself: the
// gateway is the fake one, called in process (HandlerTransport), so the
// figures are the portal's handlers, its gateway calls' encoding and
// decoding, and rendering, for a full page of each list.
func BenchmarkPages(b *testing.B) {
	gw := newFakeGateway(b)
	gw.addApp(appA, "Shop")
	gw.addUser("marketer@example.com", pass, map[string]string{appA: roleMarketer})
	var msgID string
	for i := range messagePage + 10 {
		msgID = gw.addMessage(appA, messageItem{Title: fmt.Sprintf("Message %d", i), TimeToLive: 86400,
			Audience: audienceSummary{Tag: []string{"vip"}}, report: report{Targeted: 1_000_000, Sent: 999_000, Delivered: 990_000}}).MsgID
	}
	gw.update(func() {
		a := gw.apps[appA]
		for i := range tagPage + 10 {
			a.tags[fmt.Sprintf("tag%03d", i)] = []string{"r1", "r2"}
		}
		for i := range segmentPage + 10 {
			id := fmt.Sprintf("seg%06d", i)
			a.segments[id] = &segment{SegmentID: id, Name: "Segment " + id, Tags: []string{"vip"}}
		}
		next := time.Now().Add(time.Hour)
		for i := range schedulePage + 5 {
			id := fmt.Sprintf("sch%06d", i)
			sc := &schedule{ScheduleID: id, Name: "Schedule " + id, Enabled: true, NextFire: &next,
				Trigger: trigger{Single: &singleTrigger{Time: "2030-01-01 09:00:00"}}, Push: pushBody{Audience: "all", Message: pushMessage{Content: "x"}}}
			for j := range 100 {
				sc.Firings = append(sc.Firings, firing{Time: time.Now().Add(-time.Duration(j) * time.Hour), MsgID: msgID})
			}
			a.schedules[id] = sc
		}
		gw.sessions["bench-token"] = "marketer@example.com"
	})
	p, err := New(Config{Gateway: "http://herald.internal", Transport: HandlerTransport(http.HandlerFunc(gw.serve)),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	for _, page := range []string{"overview", "compose", "messages", "message", "schedules", "segments", "tags"} {
		path := map[string]string{
			"overview": "/portal/", "compose": appURL(appA, "compose"), "messages": appURL(appA, "messages"),
			"message": appURL(appA, "messages/"+msgID), "schedules": appURL(appA, "schedules"),
			"segments": appURL(appA, "segments"), "tags": appURL(appA, "tags"),
		}[page]
		b.Run("page="+page, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "bench-token"})
				w := httptest.NewRecorder()
				p.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, w.Code)
				}
			}
		})
	}
	// The fake gateway's calls pile up in its log; reset between runs.
	gw.update(func() { gw.calls = nil })
}
