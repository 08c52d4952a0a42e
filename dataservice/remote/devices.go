package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

// Request bodies of the dataservice.DeviceIndex endpoints. None of what
// they read is cached: tags, aliases and the indexes change often and are
// read by the devices API and audience resolution only.
type (
	updateTagsReq struct {
		App, RID    string
		Add, Remove []string
	}
	setAliasReq struct{ App, RID, Alias string }
	pageReq     struct {
		App, Name, After string // Name: the tag of TagMembers, empty otherwise
		Limit            int
	}
	nameReq struct{ App, Name string } // a tag or an alias of an app
)

// routeDevices serves the dataservice.DeviceIndex methods.
func (s *Server) routeDevices() {
	d := s.data
	handle(s, domainPath+"app_devices", func(ctx context.Context, q *pageReq) ([]string, error) {
		return d.AppDevices(ctx, q.App, q.After, q.Limit)
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
}
