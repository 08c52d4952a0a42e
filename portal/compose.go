package portal

import (
	"net/http"
	"net/url"
	"strings"
)

// composeView is the compose page's data.
type composeView struct {
	Form     *form
	Segments []segment // for the segment input's suggestions
	Estimate *estimate // after "Estimate audience" without JavaScript
	// Editing is the schedule being edited, if any.
	Editing string
	// TestSent is the msg_id of a test push just sent.
	TestSent string
	// ScheduleOpen opens the schedule part of the form.
	ScheduleOpen bool
}

// composeForm shows the compose form: empty, or (?schedule=ID) holding a
// schedule to edit.
func (p *Portal) composeForm(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(composeDefaults())
	v := &composeView{Form: f}
	if id := r.URL.Query().Get("schedule"); id != "" {
		var sc schedule
		if err := s.api.get(r.Context(), "/v1/schedules/"+seg(id), nil, &sc); err != nil {
			p.fail(w, r, s, err)
			return
		}
		f.V = scheduleForm(&sc)
		v.Editing = sc.ScheduleID
	}
	// Links from a segment's or a tag's page start with that audience.
	if sg := r.URL.Query().Get("segment"); sg != "" && v.Editing == "" {
		f.V.Set("audience", "filter")
		f.V.Set("segment", sg)
	}
	if tag := r.URL.Query().Get("tag"); tag != "" && v.Editing == "" {
		f.V.Set("audience", "filter")
		f.V.Set("tag", tag)
	}
	p.renderCompose(w, r, s, http.StatusOK, v)
}

func (p *Portal) renderCompose(w http.ResponseWriter, r *http.Request, s *session, status int, v *composeView) {
	// The first page of the app's segments, to suggest in the audience
	// builder; any id can be typed.
	var segs segmentList
	if err := s.api.get(r.Context(), "/v1/segments", url.Values{"limit": {"100"}}, &segs); err == nil {
		v.Segments = segs.Segments
	}
	v.ScheduleOpen = v.Editing != "" || v.Form.Get("action") == "schedule"
	title := "Compose"
	if v.Editing != "" {
		title = "Edit schedule"
	}
	p.render(w, r, status, "compose", &view{Title: title, S: s, Active: "compose", Notice: notice(r), Data: v})
}

// compose acts on the compose form: estimate the audience, send a test to
// one device, send now, or save a schedule (new, or the one edited).
func (p *Portal) compose(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	v := &composeView{Form: f, Editing: strings.TrimSpace(f.Get("schedule_id"))}
	ctx := r.Context()
	switch action := f.Get("action"); action {
	case "estimate":
		var est estimate
		if err := s.api.call(ctx, http.MethodPost, "/v1/audiences/estimate", nil,
			estimateRequest{Platform: formPlatform(f), Audience: formAudience(f)}, &est); err != nil {
			f.setError(asAPIError(err), composeFields)
		} else {
			v.Estimate = &est
		}
	case "test":
		rid := strings.TrimSpace(f.Get("test_registration_id"))
		if rid == "" {
			f.E["test_registration_id"] = "Enter the registration id of the device to send the test to."
			break
		}
		push := formPush(f)
		if push == nil {
			break
		}
		// The test goes to one device, now, whatever the audience and
		// pacing say; its other options are the push's.
		push.Platform = nil
		push.Audience = audienceObject{RegistrationID: []string{rid}}
		if o := push.Options; o != nil {
			o.Rate, o.BigPushDuration = nil, nil
			if *o == (pushOptions{}) {
				push.Options = nil
			}
		}
		var ok pushAccepted
		if err := s.api.call(ctx, http.MethodPost, "/v1/push", nil, push, &ok); err != nil {
			f.setError(asAPIError(err), testFields)
			break
		}
		v.TestSent = ok.MsgID
	case "send":
		push := formPush(f)
		if push == nil {
			break
		}
		var ok pushAccepted
		if err := s.api.call(ctx, http.MethodPost, "/v1/push", nil, push, &ok); err != nil {
			f.setError(asAPIError(err), composeFields)
			break
		}
		http.Redirect(w, r, appPath(s, "messages/"+seg(ok.MsgID))+"?ok=sent", http.StatusSeeOther)
		return
	case "schedule":
		sc := formSchedule(f)
		if sc == nil {
			break
		}
		var saved schedule
		var err error
		if v.Editing != "" {
			err = s.api.call(ctx, http.MethodPut, "/v1/schedules/"+seg(v.Editing), nil, sc, &saved)
		} else {
			err = s.api.call(ctx, http.MethodPost, "/v1/schedules", nil, sc, &saved)
		}
		if err != nil {
			f.setError(asAPIError(err), composeFields)
			break
		}
		http.Redirect(w, r, appPath(s, "schedules/"+seg(saved.ScheduleID))+"?ok=schedule_saved", http.StatusSeeOther)
		return
	default:
		f.Top = "Choose an action: estimate, send a test, send now or save the schedule."
	}
	status := http.StatusOK
	if f.Invalid() {
		status = http.StatusBadRequest
		if ae := f.status; ae != 0 {
			status = ae
		}
	}
	p.renderCompose(w, r, s, status, v)
}

// estimate answers the page script's audience estimate as the compose
// form changes: the form's audience and platforms, posted as the form
// is, give {estimate, exact}, or an error with the input it concerns.
func (p *Portal) estimate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	var est estimate
	if err := s.api.call(r.Context(), http.MethodPost, "/v1/audiences/estimate", nil,
		estimateRequest{Platform: formPlatform(f), Audience: formAudience(f)}, &est); err != nil {
		ae := asAPIError(err)
		var b errorBody
		b.Error.Code, b.Error.Message, b.Error.Field = ae.Code, ae.Message, fieldOf(ae, composeFields)
		writeJSON(w, ae.Status, b)
		return
	}
	writeJSON(w, http.StatusOK, est)
}

// appPath returns the path of a page of the session's app.
func appPath(s *session, rel string) string {
	return "/portal/apps/" + url.PathEscape(s.app.AppKey) + "/" + rel
}
