package remote

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var (
	_ dataservice.DeviceStore = (*Client)(nil)
	_ dataservice.DeviceIndex = (*Client)(nil)
)

// Request bodies of the dataservice.DeviceStore and DeviceIndex
// endpoints. Devices are read through the store endpoints, and cached;
// none of what the index endpoints read is: tags, aliases and the indexes
// change often and are read by the devices API and audience resolution
// only.
type (
	deviceReq     struct{ Device dataservice.Device }
	updateTagsReq struct {
		App, RID    string
		Add, Remove []string
	}
	setAliasReq struct{ App, RID, Alias string }
	nameReq     struct{ App, Name string } // a tag or an alias of an app
	appReqOnly  struct{ App string }
)

// routeDevices serves the dataservice.DeviceStore and DeviceIndex
// methods.
func (s *Server) routeDevices() {
	d := s.data
	handle(s, domainPath+"create_device", func(ctx context.Context, q *deviceReq) (empty, error) {
		return empty{}, d.CreateDevice(ctx, q.Device)
	})
	handle(s, domainPath+"app_devices", func(ctx context.Context, q *pageReq) ([]string, error) {
		return d.AppDevices(ctx, q.App, q.After, q.Limit)
	})
	handle(s, domainPath+"app_device_count", func(ctx context.Context, q *appReqOnly) (int64, error) {
		return d.AppDeviceCount(ctx, q.App)
	})
	handle(s, domainPath+"device_attrs", func(ctx context.Context, q *ridReq) (dataservice.DeviceAttrs, error) {
		return d.DeviceAttrs(ctx, q.RID)
	})
	handle(s, domainPath+"devices_attrs", func(ctx context.Context, q *ridsReq) ([]dataservice.DeviceAttrs, error) {
		return d.DevicesAttrs(ctx, q.RIDs)
	})
	handle(s, domainPath+"update_tags", func(ctx context.Context, q *updateTagsReq) ([]string, error) {
		return d.UpdateTags(ctx, q.App, q.RID, q.Add, q.Remove)
	})
	handle(s, domainPath+"set_alias", func(ctx context.Context, q *setAliasReq) (empty, error) {
		return empty{}, d.SetAlias(ctx, q.App, q.RID, q.Alias)
	})
	handle(s, domainPath+"tag_members", func(ctx context.Context, q *pageReq) ([]string, error) {
		return d.TagMembers(ctx, q.App, q.Name, q.After, q.Limit)
	})
	handle(s, domainPath+"tag_count", func(ctx context.Context, q *nameReq) (int64, error) {
		return d.TagCount(ctx, q.App, q.Name)
	})
	handle(s, domainPath+"app_tags", func(ctx context.Context, q *pageReq) ([]string, error) {
		return d.AppTags(ctx, q.App, q.After, q.Limit)
	})
	handle(s, domainPath+"alias_members", func(ctx context.Context, q *nameReq) ([]string, error) {
		return d.AliasMembers(ctx, q.App, q.Name)
	})
	handle(s, domainPath+"last_active", func(ctx context.Context, q *ridsReq) ([]time.Time, error) {
		return d.LastActive(ctx, q.RIDs)
	})
}

// CreateDevice implements dataservice.DeviceStore.
func (c *Client) CreateDevice(ctx context.Context, d dataservice.Device) error {
	return c.write(ctx, "create_device", deviceReq{Device: d}, &empty{})
}

// Device implements dataservice.DeviceStore.
func (c *Client) Device(ctx context.Context, rid string) (dataservice.Device, error) {
	return c.reads.Device(ctx, rid)
}

// Devices implements dataservice.DeviceStore.
func (c *Client) Devices(ctx context.Context, rids []string) ([]dataservice.Device, error) {
	return c.reads.Devices(ctx, rids)
}

// AppDevices implements dataservice.DeviceIndex.
func (c *Client) AppDevices(ctx context.Context, app, after string, limit int) ([]string, error) {
	return c.strings(ctx, "app_devices", false, pageReq{App: app, After: after, Limit: limit}, []string{app, after})
}

// AppDeviceCount implements dataservice.DeviceIndex.
func (c *Client) AppDeviceCount(ctx context.Context, app string) (int64, error) {
	if err := checkUTF8("app_device_count", []string{app}); err != nil {
		return 0, err
	}
	var n int64
	err := c.read(ctx, "app_device_count", appReqOnly{App: app}, &n)
	return n, err
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

// LastActive implements dataservice.DeviceIndex.
func (c *Client) LastActive(ctx context.Context, rids []string) ([]time.Time, error) {
	if err := checkUTF8("last_active", rids); err != nil {
		return nil, err
	}
	var out []time.Time
	if err := c.read(ctx, "last_active", ridsReq{RIDs: rids}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
