package remote

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.DeviceIndex = (*Client)(nil)

// checkUTF8 fails like the service does on strings that are not UTF-8,
// which JSON would otherwise carry as U+FFFD and make valid.
func checkUTF8(op string, args ...[]string) error {
	for _, list := range args {
		for _, s := range list {
			if !utf8.ValidString(s) {
				return fmt.Errorf("remote: %s: %w: %q is not valid UTF-8", op, dataservice.ErrInvalid, s)
			}
		}
	}
	return nil
}

// strings makes one call answering a list of strings.
func (c *Client) strings(ctx context.Context, op string, write bool, req any, args ...[]string) ([]string, error) {
	if err := checkUTF8(op, args...); err != nil {
		return nil, err
	}
	var out []string
	call := c.read
	if write {
		call = c.write
	}
	if err := call(ctx, op, req, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// AppDevices implements dataservice.DeviceIndex.
func (c *Client) AppDevices(ctx context.Context, app, after string, limit int) ([]string, error) {
	return c.strings(ctx, "app_devices", false, pageReq{App: app, After: after, Limit: limit}, []string{app, after})
}

// DeviceAttrs implements dataservice.DeviceIndex.
func (c *Client) DeviceAttrs(ctx context.Context, rid string) (dataservice.DeviceAttrs, error) {
	var a dataservice.DeviceAttrs
	if err := checkUTF8("device_attrs", []string{rid}); err != nil {
		return a, err
	}
	err := c.read(ctx, "device_attrs", ridReq{RID: rid}, &a)
	return a, err
}

// DevicesAttrs implements dataservice.DeviceIndex.
func (c *Client) DevicesAttrs(ctx context.Context, rids []string) ([]dataservice.DeviceAttrs, error) {
	if err := checkUTF8("devices_attrs", rids); err != nil {
		return nil, err
	}
	var out []dataservice.DeviceAttrs
	if err := c.read(ctx, "devices_attrs", ridsReq{RIDs: rids}, &out); err != nil {
		return nil, err
	}
	if len(out) != len(rids) {
		return nil, fmt.Errorf("remote: devices_attrs: %w: %d answers for %d devices", dataservice.ErrUnavailable, len(out), len(rids))
	}
	return out, nil
}

// UpdateTags implements dataservice.DeviceIndex.
func (c *Client) UpdateTags(ctx context.Context, app, rid string, add, remove []string) ([]string, error) {
	tags, err := c.strings(ctx, "update_tags", true, updateTagsReq{App: app, RID: rid, Add: add, Remove: remove}, []string{app, rid}, add, remove)
	if err == nil && tags == nil {
		tags = []string{}
	}
	return tags, err
}

// SetAlias implements dataservice.DeviceIndex.
func (c *Client) SetAlias(ctx context.Context, app, rid, alias string) error {
	if err := checkUTF8("set_alias", []string{app, rid, alias}); err != nil {
		return err
	}
	return c.write(ctx, "set_alias", setAliasReq{App: app, RID: rid, Alias: alias}, &empty{})
}

// TagMembers implements dataservice.DeviceIndex.
func (c *Client) TagMembers(ctx context.Context, app, tag, after string, limit int) ([]string, error) {
	return c.strings(ctx, "tag_members", false, pageReq{App: app, Name: tag, After: after, Limit: limit}, []string{app, tag, after})
}

// TagCount implements dataservice.DeviceIndex.
func (c *Client) TagCount(ctx context.Context, app, tag string) (int64, error) {
	var n int64
	if err := checkUTF8("tag_count", []string{app, tag}); err != nil {
		return 0, err
	}
	err := c.read(ctx, "tag_count", nameReq{App: app, Name: tag}, &n)
	return n, err
}

// AppTags implements dataservice.DeviceIndex.
func (c *Client) AppTags(ctx context.Context, app, after string, limit int) ([]string, error) {
	return c.strings(ctx, "app_tags", false, pageReq{App: app, After: after, Limit: limit}, []string{app, after})
}

// AliasMembers implements dataservice.DeviceIndex.
func (c *Client) AliasMembers(ctx context.Context, app, alias string) ([]string, error) {
	return c.strings(ctx, "alias_members", false, nameReq{App: app, Name: alias}, []string{app, alias})
}
