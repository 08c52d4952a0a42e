package device_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/device"
)

func ptr(s string) *string { return &s }

func TestValidate(t *testing.T) {
	many := make([]string, dataservice.MaxTagsPerCall+1)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	for _, tc := range []struct {
		name string
		u    device.Update
		says string // "" for valid
	}{
		{"tags and alias", device.Update{Tags: &device.TagsUpdate{Add: []string{"a"}, Remove: []string{"b"}}, Alias: ptr("al")}, ""},
		{"remove the alias", device.Update{Alias: ptr("")}, ""},
		{"nothing", device.Update{}, "changes nothing"},
		{"bad tag", device.Update{Tags: &device.TagsUpdate{Add: []string{"a/b"}}}, "tags.add[0]"},
		{"both ways", device.Update{Tags: &device.TagsUpdate{Add: []string{"a"}, Remove: []string{"a"}}}, "both in tags.add and in tags.remove"},
		{"too many", device.Update{Tags: &device.TagsUpdate{Add: many}}, "split the change"},
		{"bad alias", device.Update{Alias: ptr(strings.Repeat("x", 41))}, "alias is not an alias"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.u.Validate()
			if tc.says == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ae *api.Error
			if !errors.As(err, &ae) || !strings.Contains(ae.Message, tc.says) {
				t.Fatalf("Validate = %v, want an API error saying %q", err, tc.says)
			}
		})
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	data := dataservice.New(store)
	app := &dataservice.App{Key: "app"}
	for i := range dataservice.MaxAliasDevices + 1 {
		if err := data.CreateDevice(ctx, dataservice.Device{RegistrationID: fmt.Sprint("r", i), AppKey: app.Key, Platform: "android"}); err != nil {
			t.Fatal(err)
		}
	}
	full := errors.New("alias full")
	aliasFull := func(string) error { return full }

	u := device.Update{Tags: &device.TagsUpdate{Add: []string{"vip", "new"}}, Alias: ptr("shared")}
	if err := u.Apply(ctx, data, app, "r0", aliasFull); err != nil {
		t.Fatal(err)
	}
	attrs, err := data.DeviceAttrs(ctx, "r0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(attrs.Tags, []string{"new", "vip"}) || attrs.Alias != "shared" {
		t.Fatalf("attrs %+v, want tags new, vip and alias shared", attrs)
	}

	// The alias limit holds before anything changes: the device that would
	// be one too many keeps its tags as they were.
	for i := 1; i < dataservice.MaxAliasDevices; i++ {
		if err := (&device.Update{Alias: ptr("shared")}).Apply(ctx, data, app, fmt.Sprint("r", i), aliasFull); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprint("r", dataservice.MaxAliasDevices)
	err = (&device.Update{Tags: &device.TagsUpdate{Add: []string{"x"}}, Alias: ptr("shared")}).Apply(ctx, data, app, last, aliasFull)
	if !errors.Is(err, full) {
		t.Fatalf("Apply to an alias with %d devices = %v, want the face's alias-full error", dataservice.MaxAliasDevices, err)
	}
	if attrs, _ := data.DeviceAttrs(ctx, last); len(attrs.Tags) != 0 {
		t.Fatalf("a refused change still set tags %v", attrs.Tags)
	}

	// The tag limit per device counts what the device has.
	var tags []string
	for i := range dataservice.MaxTagsPerDevice - 2 {
		tags = append(tags, fmt.Sprint("t", i))
	}
	if err := (&device.Update{Tags: &device.TagsUpdate{Add: tags}}).Apply(ctx, data, app, "r0", aliasFull); err != nil {
		t.Fatal(err)
	}
	err = (&device.Update{Tags: &device.TagsUpdate{Add: []string{"one-too-many"}}}).Apply(ctx, data, app, "r0", aliasFull)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != "too_many_tags" {
		t.Fatalf("a tag over the limit: %v, want too_many_tags", err)
	}
}

func TestGetHidesOtherAppsDevices(t *testing.T) {
	ctx := context.Background()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	data := dataservice.New(store)
	if err := data.CreateDevice(ctx, dataservice.Device{RegistrationID: "mine", AppKey: "a", Platform: "ios"}); err != nil {
		t.Fatal(err)
	}
	if d, err := device.Get(ctx, data, &dataservice.App{Key: "a"}, "mine"); err != nil || d.RegistrationID != "mine" {
		t.Fatalf("Get own device = %+v, %v", d, err)
	}
	for _, rid := range []string{"mine", "nobody", strings.Repeat("x", 65)} {
		_, err := device.Get(ctx, data, &dataservice.App{Key: "b"}, rid)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != "unknown_registration_id" {
			t.Errorf("Get(%.10q) by another app = %v, want unknown_registration_id", rid, err)
		}
	}
}
