package clienttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// deviceTests are the cases of DeviceStore and DeviceIndex: devices, their tags
// and aliases, the per-app indexes and last-active times.
var deviceTests = []test{
	{"Devices", devices},
	{"DeviceTags", deviceTags},
	{"DeviceIndexAppIsolation", deviceIndexAppIsolation},
	{"DevicePagination", devicePagination},
	{"TagCountsConcurrentDevices", tagCountsConcurrentDevices},
	{"TagCountsConcurrentOneDevice", tagCountsConcurrentOneDevice},
	{"DeviceAlias", deviceAlias},
	{"AliasLimit", aliasLimit},
	{"DeviceIndexValidation", deviceIndexValidation},
	{"AppDeviceCount", appDeviceCount},
	{"LastActive", lastActive},
}

func device(rid string) dataservice.Device {
	return dataservice.Device{RegistrationID: rid, AppKey: "app", Platform: "ios", StoredKey: [32]byte{7}, ServerKey: [32]byte{8}, Created: time.UnixMilli(1_700_000_000_000).UTC()}
}

func sameDevice(a, b dataservice.Device) bool {
	return a.RegistrationID == b.RegistrationID && a.AppKey == b.AppKey && a.Platform == b.Platform &&
		a.StoredKey == b.StoredKey && a.ServerKey == b.ServerKey && a.Created.Equal(b.Created)
}

func devices(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	d := device("r1")
	if err := c.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrExists, "creating a device twice")
	got, err := c.Device(ctx, "r1")
	if err != nil || !sameDevice(got, d) {
		t.Fatalf("Device() = %+v, %v; want %+v", got, err, d)
	}
	_, err = c.Device(ctx, "nope")
	wantErr(t, err, dataservice.ErrNotFound, "unknown device")
	if err := c.CreateDevice(ctx, device("r2")); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Devices(ctx, []string{"r2", "nope", "r1"})
	if err != nil || len(ds) != 3 || ds[0].RegistrationID != "r2" || ds[1].Exists() || !sameDevice(ds[2], d) {
		t.Fatalf("Devices() = %+v, %v", ds, err)
	}
}

// createDevices creates devices of app with the given ids.
func createDevices(t *testing.T, c dataservice.Client, app string, rids ...string) {
	t.Helper()
	for _, rid := range rids {
		d := device(rid)
		d.AppKey = app
		if err := c.CreateDevice(context.Background(), d); err != nil {
			t.Fatalf("create device %s of %s: %v", rid, app, err)
		}
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func updateTags(t *testing.T, c dataservice.Client, app, rid string, add, remove []string) []string {
	t.Helper()
	tags, err := c.UpdateTags(context.Background(), app, rid, add, remove)
	if err != nil {
		t.Fatalf("UpdateTags(%s, %s, +%q, -%q): %v", app, rid, add, remove, err)
	}
	return tags
}

// allMembers reads a tag's members page by page.
func allMembers(t *testing.T, c dataservice.Client, app, tag string, page int) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		rids, err := c.TagMembers(context.Background(), app, tag, after, page)
		if err != nil {
			t.Fatalf("TagMembers(%s, %q, %q): %v", app, tag, after, err)
		}
		out = append(out, rids...)
		if len(rids) < page {
			return out
		}
		after = rids[len(rids)-1]
	}
}

func allAppTags(t *testing.T, c dataservice.Client, app string) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		tags, err := c.AppTags(context.Background(), app, after, 3)
		if err != nil {
			t.Fatalf("AppTags(%s, %q): %v", app, after, err)
		}
		out = append(out, tags...)
		if len(tags) < 3 {
			return out
		}
		after = tags[len(tags)-1]
	}
}

func tagCount(t *testing.T, c dataservice.Client, app, tag string) int64 {
	t.Helper()
	n, err := c.TagCount(context.Background(), app, tag)
	if err != nil {
		t.Fatalf("TagCount(%s, %q): %v", app, tag, err)
	}
	return n
}

// checkTagState checks that counters, index and the app's tag list all
// agree with the devices' attributes, for the given tags of app.
func checkTagState(t *testing.T, c dataservice.Client, app string, rids, tags []string) {
	t.Helper()
	ctx := context.Background()
	members := map[string][]string{}
	for _, rid := range rids {
		a, err := c.DeviceAttrs(ctx, rid)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range a.Tags {
			members[tag] = append(members[tag], rid)
		}
	}
	var listed []string
	for _, tag := range tags {
		want := members[tag]
		slices.Sort(want)
		if n := tagCount(t, c, app, tag); n != int64(len(want)) {
			t.Errorf("TagCount(%q) = %d, want %d (devices whose attributes have it)", tag, n, len(want))
		}
		wantStrings(t, fmt.Sprintf("TagMembers(%q)", tag), allMembers(t, c, app, tag, 7), want)
		if len(want) > 0 {
			listed = append(listed, tag)
		}
	}
	slices.Sort(listed)
	wantStrings(t, "AppTags", allAppTags(t, c, app), listed)
}

func deviceTags(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	createDevices(t, c, "app", "r1", "r2")
	wantStrings(t, "tags after adding", updateTags(t, c, "app", "r1", []string{"vip", "beta", "vip", "标签 1"}, nil), []string{"beta", "vip", "标签 1"})
	a, err := c.DeviceAttrs(ctx, "r1")
	if err != nil || a.Alias != "" {
		t.Fatalf("DeviceAttrs = %+v, %v", a, err)
	}
	wantStrings(t, "DeviceAttrs.Tags", a.Tags, []string{"beta", "vip", "标签 1"})
	if err := c.SetAlias(ctx, "app", "r2", "bob"); err != nil {
		t.Fatal(err)
	}
	many, err := c.DevicesAttrs(ctx, []string{"r2", "nope", "r1"})
	if err != nil || len(many) != 3 || many[0].Alias != "bob" || len(many[1].Tags) != 0 || many[1].Alias != "" {
		t.Fatalf("DevicesAttrs = %+v, %v", many, err)
	}
	wantStrings(t, "DevicesAttrs[2].Tags", many[2].Tags, []string{"beta", "vip", "标签 1"})
	if err := c.SetAlias(ctx, "app", "r2", ""); err != nil {
		t.Fatal(err)
	}
	// Idempotent: adding what is there and removing what is not change nothing.
	wantStrings(t, "tags after adding again", updateTags(t, c, "app", "r1", []string{"vip"}, []string{"absent"}), []string{"beta", "vip", "标签 1"})
	wantStrings(t, "tags of r2", updateTags(t, c, "app", "r2", []string{"vip"}, nil), []string{"vip"})
	if n := tagCount(t, c, "app", "vip"); n != 2 {
		t.Fatalf("TagCount(vip) = %d, want 2", n)
	}
	wantStrings(t, "TagMembers(vip)", allMembers(t, c, "app", "vip", 10), []string{"r1", "r2"})
	wantStrings(t, "AppTags", allAppTags(t, c, "app"), []string{"beta", "vip", "标签 1"})

	wantStrings(t, "tags after removing", updateTags(t, c, "app", "r1", []string{"new"}, []string{"vip", "beta"}), []string{"new", "标签 1"})
	wantStrings(t, "tags after removing again", updateTags(t, c, "app", "r1", nil, []string{"vip", "beta"}), []string{"new", "标签 1"})
	if n := tagCount(t, c, "app", "vip"); n != 1 {
		t.Fatalf("TagCount(vip) = %d, want 1", n)
	}
	if n := tagCount(t, c, "app", "beta"); n != 0 {
		t.Fatalf("TagCount of a tag that lost its device = %d, want 0", n)
	}
	if n := tagCount(t, c, "app", "never"); n != 0 {
		t.Fatalf("TagCount of an unknown tag = %d, want 0", n)
	}
	wantStrings(t, "TagMembers(vip)", allMembers(t, c, "app", "vip", 10), []string{"r2"})
	wantStrings(t, "TagMembers(beta)", allMembers(t, c, "app", "beta", 10), nil)
	wantStrings(t, "AppTags", allAppTags(t, c, "app"), []string{"new", "vip", "标签 1"})
	// Nothing named: the tags as they are.
	wantStrings(t, "tags of an empty update", updateTags(t, c, "app", "r2", nil, nil), []string{"vip"})
	if tags := updateTags(t, c, "app", "r2", nil, []string{"vip"}); tags == nil || len(tags) != 0 {
		t.Fatalf("tags after removing the last = %#v, want an empty slice", tags)
	}
	checkTagState(t, c, "app", []string{"r1", "r2"}, []string{"vip", "beta", "new", "标签 1"})
	// A device with no attributes.
	createDevices(t, c, "app", "r3")
	if a, err := c.DeviceAttrs(ctx, "r3"); err != nil || len(a.Tags) != 0 || a.Alias != "" {
		t.Fatalf("DeviceAttrs of a fresh device = %+v, %v", a, err)
	}
	if a, err := c.DeviceAttrs(ctx, "nope"); err != nil || len(a.Tags) != 0 || a.Alias != "" {
		t.Fatalf("DeviceAttrs of an unknown device = %+v, %v; want zero", a, err)
	}
}

func deviceIndexAppIsolation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	createDevices(t, c, "app", "a1", "a2")
	createDevices(t, c, "other", "o1")
	createDevices(t, c, "app2", "x1") // "app" is a prefix of "app2"
	updateTags(t, c, "app", "a1", []string{"vip"}, nil)
	updateTags(t, c, "other", "o1", []string{"vip", "only-other"}, nil)
	updateTags(t, c, "app2", "x1", []string{"vip"}, nil)
	for app, want := range map[string][]string{"app": {"a1"}, "other": {"o1"}, "app2": {"x1"}} {
		wantStrings(t, "TagMembers of "+app, allMembers(t, c, app, "vip", 10), want)
		if n := tagCount(t, c, app, "vip"); n != 1 {
			t.Fatalf("TagCount(%s, vip) = %d, want 1", app, n)
		}
	}
	wantStrings(t, "AppTags(app)", allAppTags(t, c, "app"), []string{"vip"})
	wantStrings(t, "AppTags(other)", allAppTags(t, c, "other"), []string{"only-other", "vip"})

	// Another app's device is as unknown as a device that does not exist.
	_, err := c.UpdateTags(ctx, "app", "o1", []string{"stolen"}, nil)
	wantErr(t, err, dataservice.ErrNotFound, "UpdateTags on another app's device")
	_, err = c.UpdateTags(ctx, "app", "nope", []string{"x"}, nil)
	wantErr(t, err, dataservice.ErrNotFound, "UpdateTags on an unknown device")
	wantErr(t, c.SetAlias(ctx, "app", "o1", "stolen"), dataservice.ErrNotFound, "SetAlias on another app's device")
	wantErr(t, c.SetAlias(ctx, "app", "nope", "x"), dataservice.ErrNotFound, "SetAlias on an unknown device")
	if a, _ := c.DeviceAttrs(ctx, "o1"); a.Alias != "" || slices.Contains(a.Tags, "stolen") {
		t.Fatalf("another app changed o1: %+v", a)
	}
	wantStrings(t, "TagMembers(app, stolen)", allMembers(t, c, "app", "stolen", 10), nil)

	// Aliases are per app.
	for app, rid := range map[string]string{"app": "a1", "other": "o1"} {
		if err := c.SetAlias(ctx, app, rid, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	for app, want := range map[string][]string{"app": {"a1"}, "other": {"o1"}, "app2": nil} {
		got, err := c.AliasMembers(ctx, app, "alice")
		if err != nil {
			t.Fatal(err)
		}
		wantStrings(t, "AliasMembers of "+app, got, want)
	}

	// The app's devices.
	for app, want := range map[string][]string{"app": {"a1", "a2"}, "other": {"o1"}, "app2": {"x1"}, "none": nil} {
		got, err := c.AppDevices(ctx, app, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		wantStrings(t, "AppDevices of "+app, got, want)
	}
	// Creating an existing device under another app leaves both apps'
	// device lists as they were.
	d := device("a1")
	d.AppKey = "other"
	wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrExists, "creating another app's device")
	if got, _ := c.AppDevices(ctx, "other", "", 10); !slices.Equal(got, []string{"o1"}) {
		t.Fatalf("AppDevices(other) = %q after a failed create, want [o1]", got)
	}
}

func devicePagination(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	// Created out of order; listed in byte order.
	rids := numbered("p", 25)
	shuffled := slices.Clone(rids)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	createDevices(t, c, "app", shuffled...)
	var got []string
	after := ""
	for {
		page, err := c.AppDevices(ctx, "app", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("a page of %d for limit 10", len(page))
		}
		got = append(got, page...)
		if len(page) < 10 {
			break
		}
		after = page[len(page)-1]
	}
	wantStrings(t, "AppDevices page by page", got, rids)
	for _, rid := range shuffled {
		updateTags(t, c, "app", rid, []string{"all"}, nil)
	}
	for _, page := range []int{1, 7, 25, 100} {
		wantStrings(t, fmt.Sprintf("TagMembers by pages of %d", page), allMembers(t, c, "app", "all", page), rids)
	}
	if rest, err := c.TagMembers(ctx, "app", "all", rids[20], 100); err != nil || !slices.Equal(rest, rids[21:]) {
		t.Fatalf("TagMembers after %s = %q, %v; want %q", rids[20], rest, err, rids[21:])
	}
	tags := numbered("t", 25)
	updateTags(t, c, "app", rids[0], tags, nil)
	wantStrings(t, "AppTags by pages of 3", allAppTags(t, c, "app"), append([]string{"all"}, tags...))
}

// tagCountsConcurrentDevices changes the tags of many devices at once.
func tagCountsConcurrentDevices(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	rids := numbered("c", 40)
	createDevices(t, c, "app", rids...)
	tags := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for i, rid := range rids {
		wg.Go(func() {
			// Every device ends with the tags of its number's bits.
			for round := range 3 {
				var add, remove []string
				for b, tag := range tags {
					if (i>>b)&1 == 1 || round < 2 && (i+round)%3 == 0 {
						add = append(add, tag)
					} else {
						remove = append(remove, tag)
					}
				}
				if _, err := c.UpdateTags(ctx, "app", rid, add, remove); err != nil {
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
	for b, tag := range tags {
		var want []string
		for i, rid := range rids {
			if (i>>b)&1 == 1 {
				want = append(want, rid)
			}
		}
		if n := tagCount(t, c, "app", tag); n != int64(len(want)) {
			t.Errorf("TagCount(%s) = %d, want %d", tag, n, len(want))
		}
	}
	checkTagState(t, c, "app", rids, tags)
}

// tagCountsConcurrentOneDevice changes the tags of few devices from many
// goroutines at once: counts, index and the app's tag list must end as the
// devices' attributes say.
func tagCountsConcurrentOneDevice(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	rids := []string{"one", "two"}
	createDevices(t, c, "app", rids...)
	tags := []string{"x", "y", "z"}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			rid := rids[g%len(rids)]
			for range 15 {
				var add, remove []string
				for _, tag := range tags {
					switch rng.IntN(3) {
					case 0:
						add = append(add, tag)
					case 1:
						remove = append(remove, tag)
					}
				}
				if _, err := c.UpdateTags(ctx, "app", rid, add, remove); err != nil {
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
	checkTagState(t, c, "app", rids, tags)
}

func deviceAlias(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	createDevices(t, c, "app", "r1", "r2")
	aliasMembers := func(alias string) []string {
		t.Helper()
		got, err := c.AliasMembers(ctx, "app", alias)
		if err != nil {
			t.Fatalf("AliasMembers(%q): %v", alias, err)
		}
		return got
	}
	if err := c.SetAlias(ctx, "app", "r1", "alice"); err != nil {
		t.Fatal(err)
	}
	updateTags(t, c, "app", "r1", []string{"vip"}, nil)
	if a, _ := c.DeviceAttrs(ctx, "r1"); a.Alias != "alice" || !slices.Equal(a.Tags, []string{"vip"}) {
		t.Fatalf("DeviceAttrs = %+v, want alias alice and tag vip", a)
	}
	if err := c.SetAlias(ctx, "app", "r1", "alice"); err != nil {
		t.Fatalf("setting the same alias again: %v", err)
	}
	if err := c.SetAlias(ctx, "app", "r2", "alice"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "AliasMembers(alice)", aliasMembers("alice"), []string{"r1", "r2"})
	// One alias per device: a new one replaces the old.
	if err := c.SetAlias(ctx, "app", "r1", "bob"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "AliasMembers(alice)", aliasMembers("alice"), []string{"r2"})
	wantStrings(t, "AliasMembers(bob)", aliasMembers("bob"), []string{"r1"})
	if a, _ := c.DeviceAttrs(ctx, "r1"); a.Alias != "bob" || !slices.Equal(a.Tags, []string{"vip"}) {
		t.Fatalf("DeviceAttrs = %+v, want alias bob, tags kept", a)
	}
	// "" removes.
	if err := c.SetAlias(ctx, "app", "r1", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAlias(ctx, "app", "r1", ""); err != nil {
		t.Fatalf("removing no alias: %v", err)
	}
	wantStrings(t, "AliasMembers(bob)", aliasMembers("bob"), nil)
	if a, _ := c.DeviceAttrs(ctx, "r1"); a.Alias != "" || !slices.Equal(a.Tags, []string{"vip"}) {
		t.Fatalf("DeviceAttrs = %+v, want no alias, tags kept", a)
	}
	wantStrings(t, "AliasMembers(nobody)", aliasMembers("nobody"), nil)
}

func aliasLimit(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	rids := numbered("m", dataservice.MaxAliasDevices+1)
	createDevices(t, c, "app", rids...)
	for _, rid := range rids[:dataservice.MaxAliasDevices] {
		if err := c.SetAlias(ctx, "app", rid, "family"); err != nil {
			t.Fatalf("SetAlias of %s: %v", rid, err)
		}
	}
	last := rids[dataservice.MaxAliasDevices]
	err := c.SetAlias(ctx, "app", last, "family")
	wantErr(t, err, dataservice.ErrAliasFull, "SetAlias of an alias with the most devices")
	wantErr(t, err, dataservice.ErrInvalid, "SetAlias of an alias with the most devices")
	if a, _ := c.DeviceAttrs(ctx, last); a.Alias != "" {
		t.Fatalf("a rejected SetAlias left alias %q", a.Alias)
	}
	got, _ := c.AliasMembers(ctx, "app", "family")
	wantStrings(t, "AliasMembers after a rejected SetAlias", got, rids[:dataservice.MaxAliasDevices])
	// A member may set it again.
	if err := c.SetAlias(ctx, "app", rids[0], "family"); err != nil {
		t.Fatalf("a member setting its alias again: %v", err)
	}
	// Once a place is free, it is taken.
	if err := c.SetAlias(ctx, "app", rids[0], "other"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAlias(ctx, "app", last, "family"); err != nil {
		t.Fatalf("SetAlias after a place was freed: %v", err)
	}
	got, _ = c.AliasMembers(ctx, "app", "family")
	wantStrings(t, "AliasMembers", got, rids[1:])

	// Racing for places never admits more than the limit.
	racers := numbered("race", 2*dataservice.MaxAliasDevices)
	createDevices(t, c, "app", racers...)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won []string
	)
	for _, rid := range racers {
		wg.Go(func() {
			err := c.SetAlias(ctx, "app", rid, "crowd")
			if err != nil && !errors.Is(err, dataservice.ErrAliasFull) {
				t.Error(err)
			}
			if err == nil {
				mu.Lock()
				won = append(won, rid)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(won)
	got, _ = c.AliasMembers(ctx, "app", "crowd")
	if len(won) == 0 || len(won) > dataservice.MaxAliasDevices {
		t.Fatalf("%d of %d racers got the alias; want 1 to %d", len(won), len(racers), dataservice.MaxAliasDevices)
	}
	wantStrings(t, "AliasMembers after a race", got, won)
}

func deviceIndexValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	createDevices(t, c, "app", "r1")
	long := strings.Repeat("x", dataservice.MaxTagLen+1)
	for _, bad := range []string{"", long, "a/b", "a\x00", "line\nbreak", "\x7f", "\xff\xfe", "tab\t"} {
		_, err := c.UpdateTags(ctx, "app", "r1", []string{"ok", bad}, nil)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("adding tag %q", bad))
		_, err = c.UpdateTags(ctx, "app", "r1", nil, []string{bad})
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("removing tag %q", bad))
		if bad != "" {
			wantErr(t, c.SetAlias(ctx, "app", "r1", bad), dataservice.ErrInvalid, fmt.Sprintf("alias %q", bad))
			_, err = c.AliasMembers(ctx, "app", bad)
			wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AliasMembers(%q)", bad))
		}
		_, err = c.TagMembers(ctx, "app", bad, "", 10)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("TagMembers(%q)", bad))
		_, err = c.TagCount(ctx, "app", bad)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("TagCount(%q)", bad))
	}
	if a, _ := c.DeviceAttrs(ctx, "r1"); len(a.Tags) != 0 || a.Alias != "" {
		t.Fatalf("rejected calls changed the device: %+v", a)
	}
	// The longest names are fine, in bytes of UTF-8.
	maxASCII := strings.Repeat("x", dataservice.MaxTagLen)
	maxWide := strings.Repeat("标", dataservice.MaxTagLen/3)
	updateTags(t, c, "app", "r1", []string{maxASCII, maxWide, "with space", "emoji 😀"}, nil)
	if err := c.SetAlias(ctx, "app", "r1", maxWide); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateTags(ctx, "app", "r1", []string{"both"}, []string{"both"})
	wantErr(t, err, dataservice.ErrInvalid, "a tag both added and removed")
	_, err = c.UpdateTags(ctx, "app", "r1", numbered("many", dataservice.MaxTagsPerCall+1), nil)
	wantErr(t, err, dataservice.ErrInvalid, "too many tags in one call")

	// The most tags a device may have.
	updateTags(t, c, "app", "r1", nil, []string{maxASCII, maxWide, "with space", "emoji 😀"})
	full := numbered("f", dataservice.MaxTagsPerDevice)
	updateTags(t, c, "app", "r1", full, nil)
	_, err = c.UpdateTags(ctx, "app", "r1", []string{"one-more"}, nil)
	wantErr(t, err, dataservice.ErrTooManyTags, "a tag past the most a device may have")
	wantErr(t, err, dataservice.ErrInvalid, "a tag past the most a device may have")
	if a, _ := c.DeviceAttrs(ctx, "r1"); !slices.Equal(a.Tags, full) {
		t.Fatalf("a rejected UpdateTags changed the tags: %d of them", len(a.Tags))
	}
	if n := tagCount(t, c, "app", "one-more"); n != 0 {
		t.Fatalf("a rejected UpdateTags counted %d", n)
	}
	wantStrings(t, "TagMembers of a rejected tag", allMembers(t, c, "app", "one-more", 10), nil)
	// Swapping one for another keeps the count at the limit: allowed.
	updateTags(t, c, "app", "r1", []string{"one-more"}, []string{full[0]})

	// App keys and pages.
	for _, app := range []string{"", "a/b"} {
		_, err = c.UpdateTags(ctx, app, "r1", []string{"x"}, nil)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("UpdateTags with app %q", app))
		_, err = c.AppDevices(ctx, app, "", 10)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppDevices(%q)", app))
		_, err = c.AppTags(ctx, app, "", 10)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppTags(%q)", app))
		d := device("bad-app")
		d.AppKey = app
		wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrInvalid, fmt.Sprintf("CreateDevice with app %q", app))
	}
	for _, limit := range []int{0, -1, dataservice.MaxPage + 1} {
		_, err = c.AppDevices(ctx, "app", "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppDevices limit %d", limit))
		_, err = c.TagMembers(ctx, "app", "x", "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("TagMembers limit %d", limit))
		_, err = c.AppTags(ctx, "app", "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppTags limit %d", limit))
	}
	_, err = c.AppTags(ctx, "app", "a/b", 10)
	wantErr(t, err, dataservice.ErrInvalid, "AppTags after a tag that cannot exist")
}

func appDeviceCount(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	count := func(app string) int64 {
		t.Helper()
		n, err := c.AppDeviceCount(ctx, app)
		if err != nil {
			t.Fatalf("AppDeviceCount(%s): %v", app, err)
		}
		return n
	}
	if n := count("counted"); n != 0 {
		t.Fatalf("count of an app without devices = %d", n)
	}
	createDevices(t, c, "counted", "c1", "c2", "c3")
	createDevices(t, c, "other", "o1")
	d := device("c1")
	d.AppKey = "counted"
	wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrExists, "creating a device twice")
	d.AppKey = "other"
	wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrExists, "creating another app's device")
	// Concurrent creations of one device count it once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			d := device("c4")
			d.AppKey = "counted"
			if err := c.CreateDevice(ctx, d); err != nil && !errors.Is(err, dataservice.ErrExists) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if a, b := count("counted"), count("other"); a != 4 || b != 1 {
		t.Fatalf("counts %d and %d, want 4 and 1", a, b)
	}
	for _, app := range []string{"", "a/b", "bad\xff"} {
		_, err := c.AppDeviceCount(ctx, app)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppDeviceCount(%q)", app))
	}
}

func lastActive(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	read := func(rids ...string) []time.Time {
		t.Helper()
		ts, err := c.LastActive(ctx, rids)
		if err != nil || len(ts) != len(rids) {
			t.Fatalf("LastActive(%q) = %v, %v", rids, ts, err)
		}
		return ts
	}
	within := func(what string, got, from, to time.Time) {
		t.Helper()
		if got.Before(from.Truncate(time.Millisecond)) || got.After(to) {
			t.Fatalf("%s = %v, want between %v and %v", what, got, from, to)
		}
	}
	if ts := read("never"); !ts[0].IsZero() {
		t.Fatalf("a device never connected was last active at %v", ts[0])
	}
	since := time.UnixMilli(1_700_000_000_000)
	gens, err := c.PutSessions(ctx, []dataservice.Session{
		{RegistrationID: "on", Connector: "c1", Since: since},
		{RegistrationID: "gone", Connector: "c1", Since: since},
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	ts := read("on", "never", "gone")
	within("a connected device", ts[0], before, time.Now())
	if !ts[1].IsZero() {
		t.Fatalf("never connected: %v", ts[1])
	}
	// A session that ends: the device was last active when it ended.
	before = time.Now()
	if err := c.DeleteSession(ctx, "gone", gens[1]); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	within("a device whose session was deleted", read("gone")[0], before, after)
	// Deleting a session that was replaced changes nothing.
	putSession(t, c, dataservice.Session{RegistrationID: "on", Connector: "c2", Since: since})
	if err := c.DeleteSession(ctx, "on", gens[0]); err != nil {
		t.Fatal(err)
	}
	within("a device whose old session was deleted", read("on")[0], after, time.Now())

	// A session that expires (its connector died): the last refresh.
	if _, err := c.PutSessions(ctx, []dataservice.Session{{RegistrationID: "crashed", Connector: "c1", Since: since}}, time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a device whose session expired was last active at its last refresh", func() bool {
		return read("crashed")[0].Equal(since)
	})
	if ts, err := c.LastActive(ctx, nil); err != nil || len(ts) != 0 {
		t.Fatalf("LastActive of none = %v, %v", ts, err)
	}
	_, err = c.LastActive(ctx, []string{"bad\xff"})
	wantErr(t, err, dataservice.ErrInvalid, "LastActive of an id that is not UTF-8")
}
