package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// deviceFields maps the API's messages about a device change to its form.
var deviceFields = fieldMap{
	"tags":        "tags_add",
	"tags.add":    "tags_add",
	"tags.remove": "tags_remove",
	"alias":       "alias",
}

// lookupFields maps the API's messages about a lookup to its form.
var lookupFields = fieldMap{
	"registration_id":              "q",
	"alias":                        "q",
	"tag":                          "q",
	"msg_id":                       "msg_id",
	"code:unknown_registration_id": "q",
	"code:unknown_msg_id":          "msg_id",
	"code:invalid_parameter":       "q",
}

// deviceResult is a device found, with the status of the message asked
// about on it.
type deviceResult struct {
	Device    deviceInfo
	Status    *deviceStatus
	StatusErr string
	// Form edits the device's tags and alias (marketers).
	Form *form
}

// devicesView is the devices page's data.
type devicesView struct {
	Form    *form
	Devices []deviceResult
	// Tag is the tag looked up, with the first devices of it (shown in
	// Devices; the tag's page has them all).
	Tag *tagInfo
	// Searched tells a lookup that found nothing from no lookup.
	Searched bool
}

// devices looks devices up by registration id, alias or tag, and shows
// each one's state, tags and alias, and the status of a message on it.
func (p *Portal) devices(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	f := newForm(url.Values{"by": {"registration_id"}})
	for _, k := range []string{"by", "q", "msg_id"} {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			f.V.Set(k, v)
		}
	}
	p.renderDevices(w, r, s, f, nil)
}

// renderDevices runs the lookup f describes and renders the page; edit,
// if not nil, is the device form re-rendered with its errors.
func (p *Portal) renderDevices(w http.ResponseWriter, r *http.Request, s *session, f *form, edit *form) {
	v := &devicesView{Form: f}
	q, msgID := f.Get("q"), f.Get("msg_id")
	ctx := r.Context()
	status := http.StatusOK
	if q != "" {
		v.Searched = true
		var rids []string
		switch f.Get("by") {
		case "alias":
			var a aliasInfo
			if err := s.api.get(ctx, "/v1/aliases/"+seg(q), nil, &a); err != nil {
				f.setError(asAPIError(err), lookupFields)
			}
			rids = a.RegistrationIDs
		case "tag":
			var t tagInfo
			if err := s.api.get(ctx, "/v1/tags/"+seg(q), url.Values{"limit": {"20"}}, &t); err != nil {
				f.setError(asAPIError(err), lookupFields)
			} else {
				if t.Tag == "" {
					t.Tag = q
				}
				v.Tag = &t
				rids = t.Members
			}
		default:
			rids = []string{q}
		}
		for _, rid := range rids {
			var d deviceResult
			if err := s.api.get(ctx, "/v1/devices/"+seg(rid), nil, &d.Device); err != nil {
				ae := asAPIError(err)
				if ae.Status == http.StatusNotFound || ae.Status == http.StatusBadRequest {
					f.setError(ae, lookupFields)
					continue
				}
				p.fail(w, r, s, err)
				return
			}
			if msgID != "" {
				var st deviceStatus
				if err := s.api.get(ctx, "/v1/messages/"+seg(msgID)+"/devices/"+seg(rid), nil, &st); err != nil {
					d.StatusErr = asAPIError(err).Message
				} else {
					d.Status = &st
				}
			}
			d.Form = newForm(url.Values{"alias": {d.Device.Alias}})
			if edit != nil && edit.Get("registration_id") == rid {
				d.Form = edit
			}
			d.Form.Prefix = "d" + strconv.Itoa(len(v.Devices)) + "-"
			v.Devices = append(v.Devices, d)
		}
		if f.Invalid() && len(v.Devices) == 0 && v.Tag == nil {
			status = formStatus(f)
		}
	}
	if edit != nil && edit.Invalid() {
		status = formStatus(edit)
	}
	p.render(w, r, status, "devices", &view{Title: "Devices", S: s, Active: "devices", Notice: notice(r), Data: v})
}

// updateDevice changes a device's tags and alias (POST
// /v1/devices/{rid}).
func (p *Portal) updateDevice(w http.ResponseWriter, r *http.Request, s *session) {
	rid := r.PathValue("rid")
	f := newForm(r.PostForm)
	f.V.Set("registration_id", rid)
	body := map[string]any{}
	add, remove := splitList(f.Get("tags_add")), splitList(f.Get("tags_remove"))
	if len(add) > 0 || len(remove) > 0 {
		tags := map[string][]string{}
		if len(add) > 0 {
			tags["add"] = add
		}
		if len(remove) > 0 {
			tags["remove"] = remove
		}
		body["tags"] = tags
	}
	body["alias"] = strings.TrimSpace(f.Get("alias"))
	err := s.api.call(r.Context(), http.MethodPost, "/v1/devices/"+seg(rid), nil, body, nil)
	back := newForm(url.Values{"by": {"registration_id"}, "q": {rid}})
	if m := strings.TrimSpace(f.Get("msg_id")); m != "" {
		back.V.Set("msg_id", m)
	}
	if err == nil {
		http.Redirect(w, r, appPath(s, "devices")+"?"+back.V.Encode()+"&ok=device_saved", http.StatusSeeOther)
		return
	}
	f.setError(asAPIError(err), deviceFields)
	p.renderDevices(w, r, s, back, f)
}
