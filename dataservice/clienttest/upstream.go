package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// upstreamTests are the cases of UpstreamStore.
var upstreamTests = []test{
	{"UpstreamQueue", upstreamQueue},
	{"UpstreamConcurrent", upstreamConcurrent},
	{"UpstreamRemoveOnce", upstreamRemoveOnce},
	{"UpstreamValidation", upstreamValidation},
}

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
