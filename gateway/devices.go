package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/device"
)

// The devices API: what an app says about its devices (tags, alias) and
// what Herald knows of them (online state), and the tag and alias indexes
// audiences are resolved from. Every call is authenticated as an app and
// sees only that app's devices: another app's device is as unknown as one
// that does not exist.

// deviceView is the answer of GET and POST /v1/devices/{registration_id}.
type deviceView struct {
	RegistrationID string   `json:"registration_id"`
	Platform       string   `json:"platform"`
	Tags           []string `json:"tags"`
	Alias          string   `json:"alias"`
	// Online reports a live session: a connector registered the device's
	// connection and has refreshed it since. Connector names it.
	Online    bool   `json:"online"`
	Connector string `json:"connector"`
	// LastSeen is when the current connection started, for an online
	// device; absent for an offline one (Herald keeps no history of
	// connections).
	LastSeen *time.Time `json:"last_seen,omitempty"`
	Created  time.Time  `json:"created"`
}

// viewDevice reads what the view adds to the device record.
func (g *Gateway) viewDevice(ctx context.Context, d dataservice.Device) (deviceView, error) {
	v := deviceView{RegistrationID: d.RegistrationID, Platform: d.Platform, Created: d.Created.UTC()}
	attrs, err := g.data.DeviceAttrs(ctx, d.RegistrationID)
	if err != nil {
		return v, err
	}
	v.Tags, v.Alias = api.NonNil(attrs.Tags), attrs.Alias
	sessions, err := g.data.Sessions(ctx, []string{d.RegistrationID})
	if err != nil {
		return v, err
	}
	if s := sessions[0]; s.Exists() {
		since := s.Since.UTC()
		v.Online, v.Connector, v.LastSeen = true, s.Connector, &since
	}
	return v, nil
}

func (g *Gateway) deviceInfo(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	d, err := device.Get(r.Context(), g.data, app, r.PathValue("registration_id"))
	if err != nil {
		return err
	}
	v, err := g.viewDevice(r.Context(), d)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (g *Gateway) updateDevice(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req device.Update
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := device.Get(ctx, g.data, app, r.PathValue("registration_id"))
	if err != nil {
		return err
	}
	if err := req.Apply(ctx, g.data, app, d.RegistrationID, errAliasFull); err != nil {
		return err
	}
	v, err := g.viewDevice(ctx, d)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

func errAliasFull(alias string) error {
	return api.Errorf(http.StatusBadRequest, "alias_full", "alias %q already names %d devices of this app, the most allowed; take it off one of them first (GET /v1/aliases/{alias} lists them)", alias, dataservice.MaxAliasDevices)
}

func validTag(s string) bool { return dataservice.CheckTag(s) == nil }

type tagsResponse struct {
	Tags []string `json:"tags"`
	Next *string  `json:"next,omitempty"`
}

func (g *Gateway) listTags(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	after, limit, err := api.Page(r, validTag)
	if err != nil {
		return err
	}
	tags, err := g.data.AppTags(r.Context(), app.Key, after, limit+1)
	if err != nil {
		return err
	}
	var resp tagsResponse
	resp.Tags, resp.Next = api.NextOf(tags, limit)
	api.WriteJSON(w, http.StatusOK, resp)
	return nil
}

type tagResponse struct {
	Tag     string   `json:"tag"`
	Count   int64    `json:"count"`
	Members []string `json:"members"`
	Next    *string  `json:"next,omitempty"`
}

func (g *Gateway) tagInfo(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	tag := r.PathValue("tag")
	if !validTag(tag) {
		return api.Errorf(http.StatusBadRequest, "invalid_parameter", "the path does not name a tag: tags are %s", api.NameRules)
	}
	after, limit, err := api.Page(r, api.ValidID)
	if err != nil {
		return err
	}
	ctx := r.Context()
	count, err := g.data.TagCount(ctx, app.Key, tag)
	if err != nil {
		return err
	}
	members, err := g.data.TagMembers(ctx, app.Key, tag, after, limit+1)
	if err != nil {
		return err
	}
	resp := tagResponse{Tag: tag, Count: count}
	resp.Members, resp.Next = api.NextOf(members, limit)
	api.WriteJSON(w, http.StatusOK, resp)
	return nil
}

type aliasResponse struct {
	Alias           string   `json:"alias"`
	RegistrationIDs []string `json:"registration_ids"`
}

func (g *Gateway) aliasInfo(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	alias := r.PathValue("alias")
	if dataservice.CheckAlias(alias) != nil {
		return api.Errorf(http.StatusBadRequest, "invalid_parameter", "the path does not name an alias: aliases are %s", api.NameRules)
	}
	rids, err := g.data.AliasMembers(r.Context(), app.Key, alias)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, aliasResponse{Alias: alias, RegistrationIDs: api.NonNil(rids)})
	return nil
}
