package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// schedulePage is how many schedules a page of the list shows (each with
// its latest firings).
const schedulePage = 20

// schedulesView is the schedules page's data.
type schedulesView struct {
	Schedules []schedule
	Next      string
	First     string
}

// schedules lists the app's schedules with their next firing and their
// latest firings, paged (GET /v1/schedules).
func (p *Portal) schedules(w http.ResponseWriter, r *http.Request, s *session) {
	q := url.Values{"limit": {strconv.Itoa(schedulePage)}}
	after := r.URL.Query().Get("after")
	if after != "" {
		q.Set("after", after)
	}
	var list scheduleList
	if err := s.api.get(r.Context(), "/v1/schedules", q, &list); err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := &schedulesView{Schedules: list.Schedules}
	if list.Next != "" {
		v.Next = appPath(s, "schedules") + "?after=" + url.QueryEscape(list.Next)
	}
	if after != "" {
		v.First = appPath(s, "schedules")
	}
	p.render(w, r, http.StatusOK, "schedules", &view{Title: "Schedules", S: s, Active: "schedules", Notice: notice(r), Data: v})
}

// schedule shows one schedule: its trigger, push, next firing and its
// latest 100 firings, each linking to the message it sent.
func (p *Portal) schedule(w http.ResponseWriter, r *http.Request, s *session) {
	var sc schedule
	if err := s.api.get(r.Context(), "/v1/schedules/"+seg(r.PathValue("id")), nil, &sc); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "schedule", &view{Title: "Schedule " + sc.Name, S: s, Active: "schedules", Notice: notice(r), Data: &sc})
}

// setScheduleEnabled enables or disables a schedule: the API replaces a
// schedule whole, so this reads it and writes it back with enabled set.
func (p *Portal) setScheduleEnabled(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	enable := r.PostFormValue("enabled") == "true"
	var sc schedule
	if err := s.api.get(r.Context(), "/v1/schedules/"+seg(id), nil, &sc); err != nil {
		p.fail(w, r, s, err)
		return
	}
	body := scheduleBody{Name: sc.Name, Enabled: enable, Trigger: sc.Trigger, Push: sc.Push}
	if err := s.api.call(r.Context(), http.MethodPut, "/v1/schedules/"+seg(id), nil, body, nil); err != nil {
		p.fail(w, r, s, err)
		return
	}
	ok := "schedule_disabled"
	if enable {
		ok = "schedule_enabled"
	}
	http.Redirect(w, r, backTo(r, appPath(s, "schedules/"+seg(id)))+"ok="+ok, http.StatusSeeOther)
}

// deleteSchedule deletes a schedule.
func (p *Portal) deleteSchedule(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.api.call(r.Context(), http.MethodDelete, "/v1/schedules/"+seg(r.PathValue("id")), nil, nil, nil); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, appPath(s, "schedules")+"?ok=schedule_deleted", http.StatusSeeOther)
}

// backTo returns the page an action came from (the form's "back" field,
// a path of the same app) or def, ready for a query parameter to be
// appended.
func backTo(r *http.Request, def string) string {
	back := r.PostFormValue("back")
	prefix := "/portal/apps/" + url.PathEscape(r.PathValue("app")) + "/"
	if !strings.HasPrefix(back, prefix) || strings.ContainsAny(back, "\\\r\n") || strings.Contains(back, "//") {
		back = def
	}
	if strings.Contains(back, "?") {
		return back + "&"
	}
	return back + "?"
}

// triggerText says in words when a trigger fires.
func triggerText(t trigger) string {
	zone := t.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	where := " (" + zone + ")"
	if t.ZoneType == "device" {
		where = " in each device's time zone (" + zone + " for devices without one)"
	}
	switch {
	case t.Single != nil:
		return "Once, at " + t.Single.Time + where
	case t.Periodical != nil:
		pt := t.Periodical
		every := "day"
		freq := max(pt.Frequency, 1)
		unit := strings.ToLower(pt.TimeUnit)
		switch {
		case freq == 1:
			every = unit
		default:
			every = strconv.Itoa(freq) + " " + unit + "s"
		}
		s := "Every " + every
		if len(pt.Point) > 0 {
			on := strings.Join(pt.Point, ", ")
			if unit == "month" {
				s += " on day " + on
			} else {
				s += " on " + on
			}
		}
		return s + " at " + pt.Time + where + ", from " + inputDate(pt.Start) + " to " + inputDate(pt.End)
	}
	return "—"
}

// audienceText says in words whom a push goes to.
func audienceText(a any) string {
	if s, ok := a.(string); ok {
		if s == "all" {
			return "Every device"
		}
		return s
	}
	obj, ok := a.(map[string]any)
	if !ok {
		return "—"
	}
	var parts []string
	for _, k := range []struct{ key, words string }{
		{"tag", "tagged any of"}, {"tag_and", "tagged all of"}, {"tag_not", "tagged none of"},
		{"alias", "aliases"}, {"registration_id", "registration ids"}, {"segment", "segment"},
	} {
		list, _ := obj[k.key].([]any)
		if len(list) == 0 {
			continue
		}
		var items []string
		for _, x := range list {
			if s, ok := x.(string); ok {
				items = append(items, s)
			}
		}
		if len(items) > 5 {
			items = append(items[:5], "… ("+strconv.Itoa(len(list))+")")
		}
		parts = append(parts, k.words+" "+strings.Join(items, ", "))
	}
	if len(parts) == 0 {
		return "—"
	}
	return "Devices " + strings.Join(parts, "; and ")
}

// summaryText says in words whom a listed message went to.
func summaryText(a audienceSummary) string {
	if a.All {
		return "Every device"
	}
	var parts []string
	add := func(words string, list []string) {
		if len(list) > 0 {
			parts = append(parts, words+" "+strings.Join(list, ", "))
		}
	}
	add("tagged any of", a.Tag)
	add("tagged all of", a.TagAnd)
	add("tagged none of", a.TagNot)
	add("segment", a.Segment)
	if a.Aliases > 0 {
		parts = append(parts, strconv.Itoa(a.Aliases)+" aliases")
	}
	if a.RegistrationIDs > 0 {
		parts = append(parts, strconv.Itoa(a.RegistrationIDs)+" registration ids")
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "; ")
}
