package device

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
)

// Reader reads device records.
type Reader interface {
	Device(ctx context.Context, rid string) (dataservice.Device, error)
}

// Get returns the device rid of app, or the API's 404 (as for a device
// that does not exist, for another app's).
func Get(ctx context.Context, data Reader, app *dataservice.App, rid string) (dataservice.Device, error) {
	unknown := api.Errorf(http.StatusNotFound, "unknown_registration_id", "this app has no device with registration_id %q; devices register with POST /v1/devices", rid)
	if !api.ValidID(rid) {
		return dataservice.Device{}, unknown
	}
	d, err := data.Device(ctx, rid)
	if err != nil {
		if api.IsNotFound(err) {
			return d, unknown
		}
		return d, err
	}
	if d.AppKey != app.Key {
		return dataservice.Device{}, unknown
	}
	return d, nil
}

// Store is what applying an Update reads and writes.
type Store interface {
	DeviceAttrs(ctx context.Context, rid string) (dataservice.DeviceAttrs, error)
	AliasMembers(ctx context.Context, app, alias string) ([]string, error)
	SetAlias(ctx context.Context, app, rid, alias string) error
	UpdateTags(ctx context.Context, app, rid string, add, remove []string) ([]string, error)
}

// Update is a change of a device's tags and alias: the body of POST
// /v1/devices/{registration_id}, in JPush v3's shape.
type Update struct {
	Tags *TagsUpdate `json:"tags"`
	// Alias replaces the device's alias; "" removes it; absent keeps it.
	Alias *string `json:"alias"`
}

// TagsUpdate adds and removes tags.
type TagsUpdate struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

// Validate checks the change without looking at the device.
func (req *Update) Validate() error {
	if req.Tags == nil && req.Alias == nil {
		return api.Errorf(http.StatusBadRequest, "missing_field", `send "tags": {"add": […], "remove": […]} and/or "alias"; the body changes nothing`)
	}
	if t := req.Tags; t != nil {
		for _, list := range []struct {
			name string
			tags []string
		}{{"add", t.Add}, {"remove", t.Remove}} {
			for i, tag := range list.tags {
				if dataservice.CheckTag(tag) != nil {
					return api.Errorf(http.StatusBadRequest, "invalid_field", "tags.%s[%d] is not a tag: tags are %s", list.name, i, api.NameRules)
				}
			}
		}
		add, remove := api.Distinct(t.Add), api.Distinct(t.Remove)
		if n := len(add) + len(remove); n > dataservice.MaxTagsPerCall {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "tags.add and tags.remove name %d tags; at most %d per request — split the change", n, dataservice.MaxTagsPerCall)
		}
		for _, tag := range add {
			if slices.Contains(remove, tag) {
				return api.Errorf(http.StatusBadRequest, "invalid_field", "tag %q is both in tags.add and in tags.remove; keep it in one", tag)
			}
		}
	}
	if a := req.Alias; a != nil && *a != "" && dataservice.CheckAlias(*a) != nil {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "alias is not an alias: aliases are %s (\"\" removes it)", api.NameRules)
	}
	return nil
}

// ErrTooManyTags is the error for a device that would have n tags, over
// dataservice.MaxTagsPerDevice.
func ErrTooManyTags(n int) error {
	return api.Errorf(http.StatusBadRequest, "too_many_tags", "the device would have %d tags; a device has at most %d — remove some in the same request or first", n, dataservice.MaxTagsPerDevice)
}

// Apply changes the alias and tags of app's device rid, for both API faces:
// the tag and alias limits checked before anything changes, then the alias
// (what fails on other devices' state), then the tags. aliasFull is the
// face's error for an alias that names the most devices allowed.
func (req *Update) Apply(ctx context.Context, data Store, app *dataservice.App, rid string, aliasFull func(alias string) error) error {
	if t := req.Tags; t != nil && len(t.Add) > 0 {
		attrs, err := data.DeviceAttrs(ctx, rid)
		if err != nil {
			return err
		}
		after := api.Distinct(append(slices.Clone(attrs.Tags), t.Add...))
		after = slices.DeleteFunc(after, func(tag string) bool { return slices.Contains(t.Remove, tag) })
		if len(after) > dataservice.MaxTagsPerDevice {
			return ErrTooManyTags(len(after))
		}
	}
	if req.Alias != nil && *req.Alias != "" {
		// The alias limit, checked before anything changes (SetAlias
		// checks again, exactly, but writes an index entry first).
		members, err := data.AliasMembers(ctx, app.Key, *req.Alias)
		if err != nil {
			return err
		}
		if len(members) >= dataservice.MaxAliasDevices && !slices.Contains(members, rid) {
			return aliasFull(*req.Alias)
		}
	}
	if req.Alias != nil {
		if err := data.SetAlias(ctx, app.Key, rid, *req.Alias); err != nil {
			if errors.Is(err, dataservice.ErrAliasFull) {
				return aliasFull(*req.Alias)
			}
			return err
		}
	}
	if t := req.Tags; t != nil && len(t.Add)+len(t.Remove) > 0 {
		if _, err := data.UpdateTags(ctx, app.Key, rid, t.Add, t.Remove); err != nil {
			if errors.Is(err, dataservice.ErrTooManyTags) {
				return ErrTooManyTags(dataservice.MaxTagsPerDevice + 1)
			}
			return err
		}
	}
	return nil
}
