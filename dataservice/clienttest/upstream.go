package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Upstream messages and webhooks (Upstreams).

func upstream(app, rid string, n int) dataservice.UpstreamMessage {
	return dataservice.UpstreamMessage{
		AppKey: app, RegistrationID: rid, ID: uint64(n),
		// Bytes JSON and text encodings like to mangle: kept verbatim.
		Data: []byte(fmt.Sprintf("\x00\xff<&>\u2028 %s #%d", rid, n)),
		At:   time.UnixMilli(1_700_000_000_000 + int64(n)*1001).UTC(),
	}
}

func enqueue(t *testing.T, c dataservice.Client, msgs ...dataservice.UpstreamMessage) {
	t.Helper()
	if err := c.EnqueueUpstream(context.Background(), msgs); err != nil {
		t.Fatalf("EnqueueUpstream(%d messages): %v", len(msgs), err)
	}
}

func pending(t *testing.T, c dataservice.Client, app string) []dataservice.PendingUpstream {
	t.Helper()
	var out []dataservice.PendingUpstream
	after := ""
	for {
		page, err := c.PendingUpstreams(context.Background(), app, after, 3)
		if err != nil {
			t.Fatalf("PendingUpstreams(%s, %q): %v", app, after, err)
		}
		out = append(out, page...)
		if len(page) < 3 {
			return out
		}
		after = page[len(page)-1].Key
	}
}

func sameUpstream(got dataservice.PendingUpstream, want dataservice.UpstreamMessage) bool {
	return got.AppKey == want.AppKey && got.RegistrationID == want.RegistrationID && got.ID == want.ID &&
		bytes.Equal(got.Data, want.Data) && got.At.Equal(want.At) && got.Key != ""
}

func upstreamQueue(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	// "up" is a prefix of "up2": their queues must not mix.
	var want []dataservice.UpstreamMessage
	for i := 1; i <= 4; i++ {
		want = append(want, upstream("up", "r1", i))
	}
	enqueue(t, c, want[:3]...)
	enqueue(t, c, upstream("up2", "r1", 1))
	enqueue(t, c, want[3])
	// Another device reusing a message id is another message.
	other := upstream("up", "r2", 1)
	enqueue(t, c, other)
	want = append(want, other)

	got := pending(t, c, "up")
	if len(got) != len(want) {
		t.Fatalf("PendingUpstreams = %d messages, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !sameUpstream(got[i], want[i]) {
			t.Fatalf("message %d = %+v\nwant %+v (in enqueue order, data verbatim)", i, got[i], want[i])
		}
	}
	if o := pending(t, c, "up2"); len(o) != 1 || !sameUpstream(o[0], upstream("up2", "r1", 1)) {
		t.Fatalf("queue of up2 = %+v", o)
	}
	if o := pending(t, c, "nobody"); len(o) != 0 {
		t.Fatalf("queue of an app without messages = %+v", o)
	}

	// A message without a time gets the service's.
	before := time.Now().Add(-time.Second)
	enqueue(t, c, dataservice.UpstreamMessage{AppKey: "up3", RegistrationID: "r1", ID: 7, Data: []byte{1}})
	if o := pending(t, c, "up3"); len(o) != 1 || o[0].At.Before(before) || o[0].At.After(time.Now().Add(time.Second)) {
		t.Fatalf("message enqueued without At: %+v, want At about now", o)
	}

	// Removal: by key, reporting what existed.
	existed, err := c.RemoveUpstreams(ctx, "up", []string{got[0].Key, got[2].Key})
	if err != nil || len(existed) != 2 || !existed[0] || !existed[1] {
		t.Fatalf("RemoveUpstreams = %v, %v; want [true true]", existed, err)
	}
	existed, err = c.RemoveUpstreams(ctx, "up", []string{got[0].Key, got[1].Key})
	if err != nil || len(existed) != 2 || existed[0] || !existed[1] {
		t.Fatalf("RemoveUpstreams of a removed and a pending message = %v, %v; want [false true]", existed, err)
	}
	// Another app's key names nothing in this app's queue.
	up2 := pending(t, c, "up2")
	if existed, err := c.RemoveUpstreams(ctx, "up", []string{up2[0].Key}); err != nil || existed[0] {
		t.Fatalf("removing up2's message from up's queue: %v, %v", existed, err)
	}
	if o := pending(t, c, "up2"); len(o) != 1 {
		t.Fatalf("up2's message was removed through up's queue: %+v", o)
	}
	left := pending(t, c, "up")
	if len(left) != 2 || left[0].ID != 4 || left[1].RegistrationID != "r2" {
		t.Fatalf("after removals: %+v; want messages 4 of r1 and 1 of r2", left)
	}
	// Reading on after a removed message still works.
	page, err := c.PendingUpstreams(ctx, "up", got[1].Key, 10)
	if err != nil || len(page) != 2 || page[0].Key != left[0].Key {
		t.Fatalf("PendingUpstreams after a removed key = %+v, %v", page, err)
	}
	if existed, err := c.RemoveUpstreams(ctx, "up", nil); err != nil || len(existed) != 0 {
		t.Fatalf("RemoveUpstreams of nothing = %v, %v", existed, err)
	}
	if err := c.EnqueueUpstream(ctx, nil); err != nil {
		t.Fatalf("EnqueueUpstream of nothing: %v", err)
	}
}

// upstreamConcurrent checks that concurrent enqueuers (connectors) lose
// nothing and that each writer's order is kept.
func upstreamConcurrent(t *testing.T, c dataservice.Client) {
	const writers, each = 6, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 1; i <= each; i++ {
				if err := c.EnqueueUpstream(context.Background(), []dataservice.UpstreamMessage{upstream("upc", fmt.Sprint("w", w), i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := pending(t, c, "upc")
	if len(got) != writers*each {
		t.Fatalf("%d messages queued, want %d", len(got), writers*each)
	}
	last := map[string]uint64{}
	keys := map[string]bool{}
	for _, m := range got {
		if m.ID <= last[m.RegistrationID] {
			t.Fatalf("message %d of %s read after %d: the order of enqueueing is lost", m.ID, m.RegistrationID, last[m.RegistrationID])
		}
		last[m.RegistrationID] = m.ID
		if keys[m.Key] {
			t.Fatalf("key %q read twice", m.Key)
		}
		keys[m.Key] = true
	}
}

func upstreamRemoveOnce(t *testing.T, c dataservice.Client) {
	enqueue(t, c, upstream("upr", "r1", 1))
	key := pending(t, c, "upr")[0].Key
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			existed, err := c.RemoveUpstreams(context.Background(), "upr", []string{key})
			if err != nil {
				t.Error(err)
				return
			}
			if existed[0] {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d removals reported the message existed, want exactly 1", wins.Load())
	}
}

func upstreamValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	good := upstream("upv", "r1", 1)
	with := func(f func(m *dataservice.UpstreamMessage)) dataservice.UpstreamMessage {
		m := good
		f(&m)
		return m
	}
	for name, m := range map[string]dataservice.UpstreamMessage{
		"empty app":    with(func(m *dataservice.UpstreamMessage) { m.AppKey = "" }),
		"app with /":   with(func(m *dataservice.UpstreamMessage) { m.AppKey = "a/b" }),
		"app too long": with(func(m *dataservice.UpstreamMessage) { m.AppKey = strings.Repeat("a", 150) }),
		"empty rid":    with(func(m *dataservice.UpstreamMessage) { m.RegistrationID = "" }),
		"rid with /":   with(func(m *dataservice.UpstreamMessage) { m.RegistrationID = "r/1" }),
		"rid too long": with(func(m *dataservice.UpstreamMessage) {
			m.RegistrationID = strings.Repeat("r", dataservice.MaxUpstreamRIDLen+1)
		}),
		"rid not UTF-8":         with(func(m *dataservice.UpstreamMessage) { m.RegistrationID = "r\xff" }),
		"rid control character": with(func(m *dataservice.UpstreamMessage) { m.RegistrationID = "r\n" }),
		"zero id":               with(func(m *dataservice.UpstreamMessage) { m.ID = 0 }),
		"no data":               with(func(m *dataservice.UpstreamMessage) { m.Data = nil }),
		"data too long":         with(func(m *dataservice.UpstreamMessage) { m.Data = make([]byte, dataservice.MaxUpstreamData+1) }),
	} {
		if err := dataservice.CheckUpstream(m); err == nil {
			t.Errorf("CheckUpstream accepts a message with %s", name)
		}
		// The valid message before it is not stored either.
		wantErr(t, c.EnqueueUpstream(ctx, []dataservice.UpstreamMessage{good, m}), dataservice.ErrInvalid, "enqueueing a message with "+name)
	}
	if err := dataservice.CheckUpstream(with(func(m *dataservice.UpstreamMessage) { m.Data = make([]byte, dataservice.MaxUpstreamData) })); err != nil {
		t.Errorf("CheckUpstream refuses %d bytes of data: %v", dataservice.MaxUpstreamData, err)
	}
	if o := pending(t, c, "upv"); len(o) != 0 {
		t.Fatalf("a call that failed stored %+v", o)
	}
	many := make([]dataservice.UpstreamMessage, dataservice.MaxUpstreamBatch+1)
	for i := range many {
		many[i] = upstream("upv", "r1", i+1)
	}
	wantErr(t, c.EnqueueUpstream(ctx, many), dataservice.ErrInvalid, "enqueueing more than MaxUpstreamBatch messages")

	for _, limit := range []int{0, -1, dataservice.MaxUpstreamPage + 1} {
		_, err := c.PendingUpstreams(ctx, "upv", "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("PendingUpstreams with limit %d", limit))
	}
	for _, after := range []string{"x", "upv/00000000000000000001/r1/00000000000000000001", "00000000000000000001/r1/00000000000000000000", "\xff"} {
		_, err := c.PendingUpstreams(ctx, "upv", after, 1)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("PendingUpstreams after %q", after))
		_, err = c.RemoveUpstreams(ctx, "upv", []string{after})
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("RemoveUpstreams of %q", after))
	}
	_, err := c.PendingUpstreams(ctx, "", "", 1)
	wantErr(t, err, dataservice.ErrInvalid, "PendingUpstreams of an empty app")
	_, err = c.RemoveUpstreams(ctx, "a/b", nil)
	wantErr(t, err, dataservice.ErrInvalid, "RemoveUpstreams of an app with /")
	_, err = c.RemoveUpstreams(ctx, "upv", make([]string, dataservice.MaxUpstreamPage+1))
	wantErr(t, err, dataservice.ErrInvalid, "RemoveUpstreams of too many keys")
}

func newWebhook(app string) dataservice.Webhook {
	return dataservice.Webhook{AppKey: app, URL: "https://example.com/hooks/herald?x=<&>", Secret: "abcdefghijklmnopqrstuvwxyz012345"}
}

func webhooks(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	w, err := c.CreateWebhook(ctx, newWebhook("wh1"))
	if err != nil {
		t.Fatal(err)
	}
	if w.Generation == 0 || w.Created.Before(before) || !w.Updated.Equal(w.Created) || w.URL != newWebhook("").URL {
		t.Fatalf("CreateWebhook = %+v", w)
	}
	_, err = c.CreateWebhook(ctx, newWebhook("wh1"))
	wantErr(t, err, dataservice.ErrExists, "creating a webhook twice")
	got, err := c.Webhook(ctx, "wh1")
	if err != nil || got.Generation != w.Generation || got.URL != w.URL || got.Secret != w.Secret || !got.Created.Equal(w.Created) || got.AppKey != "wh1" {
		t.Fatalf("Webhook() = %+v, %v; want %+v", got, err, w)
	}
	_, err = c.Webhook(ctx, "wh")
	wantErr(t, err, dataservice.ErrNotFound, "webhook of an app without one")

	// Update: compare-and-set, Created kept, Updated the caller's.
	u := got
	u.URL, u.Owner, u.LeaseUntil = "http://10.0.0.1:8080/h", "g1:abc", msTime(time.Minute)
	u.Created, u.Updated = time.Time{}, msTime(time.Hour)
	u2, err := c.UpdateWebhook(ctx, u)
	if err != nil || u2.Generation == got.Generation || !u2.Created.Equal(w.Created) || !u2.Updated.Equal(u.Updated) {
		t.Fatalf("UpdateWebhook = %+v, %v", u2, err)
	}
	if r, _ := c.Webhook(ctx, "wh1"); r.URL != u.URL || r.Owner != "g1:abc" || !r.LeaseUntil.Equal(u.LeaseUntil) || r.Generation != u2.Generation {
		t.Fatalf("after update: %+v", r)
	}
	_, err = c.UpdateWebhook(ctx, u) // the old generation
	wantErr(t, err, dataservice.ErrGenerationMismatch, "updating with a stale generation")
	u.Generation = 0
	_, err = c.UpdateWebhook(ctx, u)
	wantErr(t, err, dataservice.ErrInvalid, "updating without a generation")
	missing := newWebhook("wh-missing")
	missing.Generation = 1
	_, err = c.UpdateWebhook(ctx, missing)
	wantErr(t, err, dataservice.ErrNotFound, "updating a webhook that does not exist")

	// Listing: every app, in key order, paged.
	for _, app := range []string{"wh3", "wh2", "wh10"} {
		if _, err := c.CreateWebhook(ctx, newWebhook(app)); err != nil {
			t.Fatal(err)
		}
	}
	var apps []string
	after := ""
	for {
		page, err := c.Webhooks(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page {
			if h.Generation == 0 || h.Secret == "" {
				t.Fatalf("listed webhook %+v", h)
			}
			apps = append(apps, h.AppKey)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].AppKey
	}
	if fmt.Sprint(apps) != "[wh1 wh10 wh2 wh3]" {
		t.Fatalf("Webhooks listed %v, want [wh1 wh10 wh2 wh3]", apps)
	}

	existed, err := c.DeleteWebhook(ctx, "wh1")
	if err != nil || !existed {
		t.Fatalf("DeleteWebhook = %v, %v", existed, err)
	}
	if existed, err := c.DeleteWebhook(ctx, "wh1"); err != nil || existed {
		t.Fatalf("second DeleteWebhook = %v, %v", existed, err)
	}
	_, err = c.Webhook(ctx, "wh1")
	wantErr(t, err, dataservice.ErrNotFound, "webhook after delete")
}

// webhookLeaseRace checks that of gateways racing to take a webhook's
// lease, exactly one wins.
func webhookLeaseRace(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	w, err := c.CreateWebhook(ctx, newWebhook("whr"))
	if err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			claim := w
			claim.Owner, claim.LeaseUntil = fmt.Sprint("g", i), msTime(time.Minute)
			_, err := c.UpdateWebhook(ctx, claim)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, dataservice.ErrGenerationMismatch):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d gateways took the lease, want exactly 1", wins.Load())
	}
}

func webhookValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	good := newWebhook("whv")
	with := func(f func(w *dataservice.Webhook)) dataservice.Webhook {
		w := good
		f(&w)
		return w
	}
	for name, w := range map[string]dataservice.Webhook{
		"empty app":        with(func(w *dataservice.Webhook) { w.AppKey = "" }),
		"app with /":       with(func(w *dataservice.Webhook) { w.AppKey = "a/b" }),
		"empty URL":        with(func(w *dataservice.Webhook) { w.URL = "" }),
		"relative URL":     with(func(w *dataservice.Webhook) { w.URL = "/hooks" }),
		"ftp URL":          with(func(w *dataservice.Webhook) { w.URL = "ftp://example.com/" }),
		"URL without host": with(func(w *dataservice.Webhook) { w.URL = "https:///path" }),
		"opaque URL":       with(func(w *dataservice.Webhook) { w.URL = "http:example.com" }),
		"URL with a space": with(func(w *dataservice.Webhook) { w.URL = "https://example.com/a b" }),
		"URL too long": with(func(w *dataservice.Webhook) {
			w.URL = "https://example.com/" + strings.Repeat("a", dataservice.MaxWebhookURLLen)
		}),
		"URL not UTF-8":      with(func(w *dataservice.Webhook) { w.URL = "https://example.com/\xff" }),
		"short secret":       with(func(w *dataservice.Webhook) { w.Secret = "abc" }),
		"secret with a dash": with(func(w *dataservice.Webhook) { w.Secret = "abcdefghijklmnop-rstuvwxyz012345" }),
		"long secret":        with(func(w *dataservice.Webhook) { w.Secret = strings.Repeat("a", dataservice.MaxWebhookSecretLen+1) }),
	} {
		_, err := c.CreateWebhook(ctx, w)
		wantErr(t, err, dataservice.ErrInvalid, "creating a webhook with "+name)
	}
	if _, err := c.Webhook(ctx, "whv"); err == nil {
		t.Fatal("a refused webhook was stored")
	}
	if err := dataservice.CheckWebhookURL("http://127.0.0.1:8080/h?a=1"); err != nil {
		t.Fatalf("CheckWebhookURL refuses a plain http URL: %v", err)
	}
	_, err := c.Webhook(ctx, "a/b")
	wantErr(t, err, dataservice.ErrInvalid, "Webhook of an app with /")
	_, err = c.DeleteWebhook(ctx, "")
	wantErr(t, err, dataservice.ErrInvalid, "DeleteWebhook of an empty app")
	for _, limit := range []int{0, dataservice.MaxPage + 1} {
		_, err = c.Webhooks(ctx, "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("Webhooks with limit %d", limit))
	}
	_, err = c.Webhooks(ctx, "a/b", 1)
	wantErr(t, err, dataservice.ErrInvalid, "Webhooks after an app with /")
}
