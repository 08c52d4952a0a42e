package clienttest

import (
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

// webhookTests are the cases of WebhookStore.
var webhookTests = []test{
	{"Webhooks", webhooks},
	{"WebhookLeaseRace", webhookLeaseRace},
	{"WebhookValidation", webhookValidation},
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
