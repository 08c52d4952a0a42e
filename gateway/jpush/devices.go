package jpush

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/device"
)

// JPush's device API over Herald's device index: a device's tags and
// alias, tags with their devices, aliases with theirs. Devices of other
// apps are as unknown as devices that do not exist.

// deviceView is JPush's answer to GET /v3/devices/{registration_id}.
// Herald keeps no mobile number: mobile is always null.
type deviceView struct {
	Tags   []string `json:"tags"`
	Alias  *string  `json:"alias"`
	Mobile *string  `json:"mobile"`
}

// getDevice is GET /v3/devices/{registration_id}.
func (f *Face) getDevice(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	ctx := r.Context()
	d, err := f.appDevice(ctx, app, r.PathValue("registration_id"))
	if err != nil {
		return err
	}
	attrs, err := f.data.DeviceAttrs(ctx, d.RegistrationID)
	if err != nil {
		return err
	}
	v := deviceView{Tags: api.NonNil(attrs.Tags)}
	if attrs.Alias != "" {
		v.Alias = &attrs.Alias
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// appDevice returns app's device rid, or JPush's error.
func (f *Face) appDevice(ctx context.Context, app *dataservice.App, rid string) (dataservice.Device, error) {
	d, err := device.Get(ctx, f.data, app, rid)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == "unknown_registration_id" {
		return d, errorf(kindNotFound, "this app has no device with registration_id %q", rid)
	}
	return d, err
}

// writeOK answers a call that returns nothing, as JPush: 200 and an empty
// body.
func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
}

// decodeJPushDeviceUpdate reads the body of POST
// /v3/devices/{registration_id}: tags is {"add": […], "remove": […]} or "" (remove every tag); alias ""
// removes the alias; mobile is accepted and ignored.
func decodeJPushDeviceUpdate(b []byte) (req device.Update, clearTags bool, err error) {
	obj, err := object(b, "the body")
	if err != nil {
		return req, false, err
	}
	if _, ok := obj["mobile"]; !ok && isNull(obj["tags"]) && isNull(obj["alias"]) {
		return req, false, errorf(kindMissing, `send "tags": {"add": […], "remove": […]} (or "" to remove every tag) and/or "alias"; the body changes nothing`)
	}
	for k, v := range obj {
		switch k {
		case "tags":
			if isNull(v) {
				continue
			}
			var s string
			if json.Unmarshal(v, &s) == nil {
				if s != "" {
					return req, false, errorf(kindInvalid, `tags must be {"add": […], "remove": […]}, or "" to remove every tag`)
				}
				clearTags = true
				continue
			}
			t, err := decodeJPushAddRemove(v, "tags")
			if err != nil {
				return req, false, err
			}
			req.Tags = &device.TagsUpdate{Add: t.add, Remove: t.remove}
		case "alias":
			if isNull(v) {
				continue
			}
			a, err := str(v, "alias")
			if err != nil {
				return req, false, err
			}
			req.Alias = &a
		case "mobile":
			// Herald sends no SMS.
		default:
			return req, false, errorf(kindInvalid, "%q is not a field of a device update; fields are tags, alias and mobile", k)
		}
	}
	return req, clearTags, nil
}

type addRemove struct{ add, remove []string }

// decodeJPushAddRemove reads {"add": […], "remove": […]}.
func decodeJPushAddRemove(raw json.RawMessage, path string) (addRemove, error) {
	var out addRemove
	obj, err := object(raw, path)
	if err != nil {
		return out, err
	}
	for k, v := range obj {
		var dst *[]string
		switch k {
		case "add":
			dst = &out.add
		case "remove":
			dst = &out.remove
		default:
			return out, errorf(kindInvalid, "%s.%s is not a field; give %s.add and %s.remove", path, k, path, path)
		}
		if isNull(v) {
			continue
		}
		if *dst, err = strs(v, path+"."+k); err != nil {
			return out, err
		}
	}
	return out, nil
}

// updateDevice is POST /v3/devices/{registration_id}.
func (f *Face) updateDevice(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	b, err := readJPushBody(w, r, f.cfg.MaxBody)
	if err != nil {
		return err
	}
	req, clearTags, err := decodeJPushDeviceUpdate(b)
	if err != nil {
		return err
	}
	if req.Tags != nil || req.Alias != nil {
		if err := req.Validate(); err != nil {
			return err
		}
	}
	ctx := r.Context()
	d, err := f.appDevice(ctx, app, r.PathValue("registration_id"))
	if err != nil {
		return err
	}
	if clearTags {
		attrs, err := f.data.DeviceAttrs(ctx, d.RegistrationID)
		if err != nil {
			return err
		}
		req.Tags = &device.TagsUpdate{Remove: attrs.Tags}
	}
	if err := req.Apply(ctx, f.data, app, d.RegistrationID, errJPushAliasFull); err != nil {
		return err
	}
	writeOK(w)
	return nil
}

func errJPushAliasFull(alias string) error {
	return errorf(kindAliasFull, "alias %q already names %d devices of this app, the most allowed; take it off one of them first (nothing was changed)", alias, dataservice.MaxAliasDevices)
}

// maxJPushStatus bounds the devices of POST /v3/devices/status, as JPush.
const maxJPushStatus = 1000

// deviceStatus is a device's entry in the answer of POST
// /v3/devices/status.
type deviceStatus struct {
	Online bool `json:"online"`
}

// devicesStatus is POST /v3/devices/status: whether devices are
// online (their session is live). Ids that are not the app's devices map
// to null, as with JPush. Herald keeps no history of connections, so
// last_online_time is never given.
func (f *Face) devicesStatus(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	b, err := readJPushBody(w, r, f.cfg.MaxBody)
	if err != nil {
		return err
	}
	obj, err := object(b, "the body")
	if err != nil {
		return err
	}
	raw, ok := obj["registration_ids"]
	if !ok || isNull(raw) {
		return errorf(kindMissing, `send {"registration_ids": […]}`)
	}
	rids, err := strs(raw, "registration_ids")
	if err != nil {
		return err
	}
	rids = api.Distinct(rids)
	switch {
	case len(rids) == 0:
		return errorf(kindMissing, "registration_ids lists no device")
	case len(rids) > maxJPushStatus:
		return errorf(kindInvalid, "registration_ids lists %d devices; at most %d per call", len(rids), maxJPushStatus)
	}
	for i, rid := range rids {
		if !api.ValidID(rid) {
			return errorf(kindInvalid, "registration_ids[%d] must be 1 to 64 bytes of UTF-8", i)
		}
	}
	ctx := r.Context()
	devices, err := f.data.Devices(ctx, rids)
	if err != nil {
		return err
	}
	sessions, err := f.data.Sessions(ctx, rids)
	if err != nil {
		return err
	}
	out := make(map[string]*deviceStatus, len(rids))
	for i, rid := range rids {
		if !devices[i].Exists() || devices[i].AppKey != app.Key {
			out[rid] = nil
			continue
		}
		out[rid] = &deviceStatus{Online: sessions[i].Exists()}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// listTags is GET /v3/tags: the app's tags that have devices. JPush's
// call is not paged; Herald answers the first dataservice.MaxPage.
func (f *Face) listTags(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	tags, err := f.data.AppTags(r.Context(), app.Key, "", dataservice.MaxPage)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string][]string{"tags": api.NonNil(tags)})
	return nil
}

// tagParam reads the tag of the path.
func tagParam(r *http.Request) (string, error) {
	tag := r.PathValue("tag")
	if err := dataservice.CheckTag(tag); err != nil {
		return "", errorf(kindInvalid, "the path does not name a tag: %s", api.NameProblem(err))
	}
	return tag, nil
}

// tagHas is GET /v3/tags/{tag}/registration_ids/{registration_id}:
// {"result": whether the device has the tag}. A device that is not the
// app's has no tag.
func (f *Face) tagHas(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	tag, err := tagParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rid := r.PathValue("registration_id")
	has := false
	if api.ValidID(rid) {
		devices, err := f.data.Devices(ctx, []string{rid})
		if err != nil {
			return err
		}
		if d := devices[0]; d.Exists() && d.AppKey == app.Key {
			attrs, err := f.data.DeviceAttrs(ctx, rid)
			if err != nil {
				return err
			}
			_, has = slices.BinarySearch(attrs.Tags, tag)
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]bool{"result": has})
	return nil
}

// maxJPushTagDevices bounds add and remove of POST /v3/tags/{tag}, each,
// as JPush.
const maxJPushTagDevices = 1000

// fanOutWidth bounds the device updates one call runs at once.
const fanOutWidth = 8

// updateTag is POST /v3/tags/{tag} {"registration_ids": {"add": […],
// "remove": […]}}: the tag given to, or taken from, each device. Every id
// must be a device of the app, or nothing changes.
func (f *Face) updateTag(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	tag, err := tagParam(r)
	if err != nil {
		return err
	}
	b, err := readJPushBody(w, r, f.cfg.MaxBody)
	if err != nil {
		return err
	}
	obj, err := object(b, "the body")
	if err != nil {
		return err
	}
	for k := range obj {
		if k != "registration_ids" {
			return errorf(kindInvalid, `%q is not a field; send {"registration_ids": {"add": […], "remove": […]}}`, k)
		}
	}
	if isNull(obj["registration_ids"]) {
		return errorf(kindMissing, `send {"registration_ids": {"add": […], "remove": […]}}`)
	}
	ar, err := decodeJPushAddRemove(obj["registration_ids"], "registration_ids")
	if err != nil {
		return err
	}
	add, remove := api.Distinct(ar.add), api.Distinct(ar.remove)
	switch {
	case len(add) == 0 && len(remove) == 0:
		return errorf(kindMissing, "registration_ids.add and registration_ids.remove list no device")
	case len(add) > maxJPushTagDevices || len(remove) > maxJPushTagDevices:
		return errorf(kindInvalid, "registration_ids.add and .remove list at most %d devices each", maxJPushTagDevices)
	}
	for _, l := range []struct {
		name string
		rids []string
	}{{"add", ar.add}, {"remove", ar.remove}} {
		for i, rid := range l.rids {
			if !api.ValidID(rid) {
				return errorf(kindInvalid, "registration_ids.%s[%d] must be 1 to 64 bytes of UTF-8", l.name, i)
			}
			if l.name == "add" && slices.Contains(remove, rid) {
				return errorf(kindInvalid, "registration id %q is in both add and remove; keep it in one", rid)
			}
		}
	}
	ctx := r.Context()
	all := append(slices.Clone(add), remove...)
	devices, err := f.data.Devices(ctx, all)
	if err != nil {
		return err
	}
	var unknown []string
	for i, d := range devices {
		if !d.Exists() || d.AppKey != app.Key {
			unknown = append(unknown, all[i])
		}
	}
	if len(unknown) > 0 {
		return errorf(kindInvalid, "%d registration ids are not devices of this app: %s; nothing was changed", len(unknown), strings.Join(unknown[:min(len(unknown), 10)], ", "))
	}
	if len(add) > 0 {
		// The tag limit, checked before anything changes.
		attrs, err := f.data.DevicesAttrs(ctx, add)
		if err != nil {
			return err
		}
		for i, a := range attrs {
			if _, has := slices.BinarySearch(a.Tags, tag); !has && len(a.Tags) >= dataservice.MaxTagsPerDevice {
				return errorf(kindInvalid, "device %s has %d tags, the most a device may have; remove some first (nothing was changed)", add[i], len(a.Tags))
			}
		}
	}
	err = fanOut(ctx, len(all), func(ctx context.Context, i int) error {
		if i < len(add) {
			_, err := f.data.UpdateTags(ctx, app.Key, all[i], []string{tag}, nil)
			return err
		}
		_, err := f.data.UpdateTags(ctx, app.Key, all[i], nil, []string{tag})
		return err
	})
	if err != nil {
		return err
	}
	writeOK(w)
	return nil
}

// fanOut runs do for 0..n-1, fanOutWidth at a time, and
// returns the first error; after one, the calls not started are skipped.
func fanOut(ctx context.Context, n int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, fanOutWidth)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := do(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// platformParam reads the platform parameter of the tag and alias
// calls (?platform=android,ios): the Herald platforms it keeps, nil for
// every platform.
func platformParam(r *http.Request) ([]string, error) {
	p := r.URL.Query().Get("platform")
	if p == "" || p == "all" {
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(p, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(v3Platforms, name) {
			return nil, errorf(kindInvalid, "platform %q is not one of %s", name, strings.Join(v3Platforms, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

// onPlatforms keeps the ids of rids that are app's devices on one of
// platforms (any platform if nil).
func (f *Face) onPlatforms(ctx context.Context, app *dataservice.App, rids []string, platforms []string) ([]string, error) {
	if len(rids) == 0 {
		return rids, nil
	}
	devices, err := f.data.Devices(ctx, rids)
	if err != nil {
		return nil, err
	}
	kept := rids[:0:0]
	for i, d := range devices {
		if d.Exists() && d.AppKey == app.Key && (platforms == nil || slices.Contains(platforms, d.Platform)) {
			kept = append(kept, rids[i])
		}
	}
	return kept, nil
}

// tagWalkPage is how many of a tag's devices DELETE /v3/tags/{tag}
// reads at a time.
const tagWalkPage = 500

// deleteTag is DELETE /v3/tags/{tag}[?platform=…]: the tag taken
// from every device that has it (on those platforms). It walks the tag's
// devices page by page, so its time grows with them; a call cut short
// leaves the tag on the devices not reached yet, and calling again
// finishes the work.
func (f *Face) deleteTag(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	tag, err := tagParam(r)
	if err != nil {
		return err
	}
	platforms, err := platformParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	after := ""
	for {
		page, err := f.data.TagMembers(ctx, app.Key, tag, after, tagWalkPage)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1]
		rids, err := f.onPlatforms(ctx, app, page, platforms)
		if err != nil {
			return err
		}
		err = fanOut(ctx, len(rids), func(ctx context.Context, i int) error {
			_, err := f.data.UpdateTags(ctx, app.Key, rids[i], nil, []string{tag})
			if errors.Is(err, dataservice.ErrNotFound) {
				return nil // an index entry of a device that is gone
			}
			return err
		})
		if err != nil {
			return err
		}
		if len(page) < tagWalkPage {
			break
		}
	}
	writeOK(w)
	return nil
}

// aliasParam reads the alias of the path.
func aliasParam(r *http.Request) (string, error) {
	alias := r.PathValue("alias")
	if err := dataservice.CheckAlias(alias); err != nil {
		return "", errorf(kindInvalid, "the path does not name an alias: %s", api.NameProblem(err))
	}
	return alias, nil
}

// getAlias is GET /v3/aliases/{alias}[?platform=…]: {"registration_ids":
// […]}.
func (f *Face) getAlias(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	alias, err := aliasParam(r)
	if err != nil {
		return err
	}
	platforms, err := platformParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rids, err := f.data.AliasMembers(ctx, app.Key, alias)
	if err != nil {
		return err
	}
	if platforms != nil {
		if rids, err = f.onPlatforms(ctx, app, rids, platforms); err != nil {
			return err
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string][]string{"registration_ids": api.NonNil(rids)})
	return nil
}

// deleteAlias is DELETE /v3/aliases/{alias}[?platform=…]: the alias
// taken from every device that has it (on those platforms).
func (f *Face) deleteAlias(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	alias, err := aliasParam(r)
	if err != nil {
		return err
	}
	platforms, err := platformParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rids, err := f.data.AliasMembers(ctx, app.Key, alias)
	if err != nil {
		return err
	}
	if rids, err = f.onPlatforms(ctx, app, rids, platforms); err != nil {
		return err
	}
	for _, rid := range rids {
		// Only if the device still has the alias: another call may have
		// given it a new one meanwhile.
		attrs, err := f.data.DeviceAttrs(ctx, rid)
		if err != nil {
			return err
		}
		if attrs.Alias != alias {
			continue
		}
		if err := f.data.SetAlias(ctx, app.Key, rid, ""); err != nil && !errors.Is(err, dataservice.ErrNotFound) {
			return err
		}
	}
	writeOK(w)
	return nil
}
