package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// settingsView is the settings page's data (owners): the webhook, the
// master secret, the members and their roles.
type settingsView struct {
	Webhook    *webhook // nil if none is set
	WebhookErr string
	Members    []member
	MembersErr string
	// NewSecret is the master secret just made, shown once.
	NewSecret string
	Hook      *form // the webhook form
	Member    *form // the member form
}

var webhookFields = fieldMap{"url": "url", "rotate_secret": "rotate_secret"}

var memberFields = fieldMap{"email": "email", "role": "role", "password": "password"}

// settings shows an app's settings. The gateway refuses them to all but
// owners; the page says so to others.
func (p *Portal) settings(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderSettings(w, r, s, http.StatusOK, &settingsView{})
}

func (p *Portal) renderSettings(w http.ResponseWriter, r *http.Request, s *session, status int, v *settingsView) {
	ctx := r.Context()
	var hook webhook
	if err := s.api.get(ctx, "/v1/webhook", nil, &hook); err == nil {
		v.Webhook = &hook
	} else if ae := asAPIError(err); ae.Status == http.StatusForbidden {
		p.fail(w, r, s, err) // not an owner: nothing of the page is theirs
		return
	} else if ae.Status != http.StatusNotFound {
		v.WebhookErr = ae.Message
	}
	var members memberList
	if err := s.api.get(ctx, "/v1/app/members", nil, &members); err != nil {
		v.MembersErr = asAPIError(err).Message
	}
	v.Members = members.Members
	if v.Hook == nil {
		v.Hook = newForm(url.Values{})
		if v.Webhook != nil {
			v.Hook.V.Set("url", v.Webhook.URL)
		}
	}
	if v.Member == nil {
		v.Member = newForm(url.Values{"role": {roleMarketer}})
	}
	p.render(w, r, status, "settings", &view{Title: "Settings", S: s, Active: "settings", Notice: notice(r), Data: v})
}

// putWebhook sets the webhook (PUT /v1/webhook).
func (p *Portal) putWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	body := map[string]any{"url": strings.TrimSpace(f.Get("url"))}
	if f.Get("rotate_secret") == "on" {
		body["rotate_secret"] = true
	}
	if err := s.api.call(r.Context(), http.MethodPut, "/v1/webhook", nil, body, nil); err != nil {
		f.setError(asAPIError(err), webhookFields)
		p.renderSettings(w, r, s, formStatus(f), &settingsView{Hook: f})
		return
	}
	http.Redirect(w, r, appPath(s, "settings")+"?ok=webhook_saved", http.StatusSeeOther)
}

// deleteWebhook removes the webhook.
func (p *Portal) deleteWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.api.call(r.Context(), http.MethodDelete, "/v1/webhook", nil, nil, nil); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, appPath(s, "settings")+"?ok=webhook_deleted", http.StatusSeeOther)
}

// rotateSecret makes a new master secret (POST /v1/app/secret) and shows
// it once: the answer is the page, not a redirect, and is not stored.
func (p *Portal) rotateSecret(w http.ResponseWriter, r *http.Request, s *session) {
	var rotated secretRotated
	if err := s.api.call(r.Context(), http.MethodPost, "/v1/app/secret", nil, nil, &rotated); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.renderSettings(w, r, s, http.StatusOK, &settingsView{NewSecret: rotated.MasterSecret})
}

// putMember gives a user a role on the app, creating the user if a
// password is given (PUT /v1/app/members/{email}).
func (p *Portal) putMember(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	email := strings.TrimSpace(f.Get("email"))
	if email == "" {
		f.E["email"] = "Enter the member's email."
	} else {
		body := map[string]string{"role": f.Get("role")}
		if pw := f.Get("password"); pw != "" {
			body["password"] = pw
		}
		err := s.api.call(r.Context(), http.MethodPut, "/v1/app/members/"+seg(email), nil, body, nil)
		if err == nil {
			http.Redirect(w, r, appPath(s, "settings")+"?ok=member_saved", http.StatusSeeOther)
			return
		}
		f.setError(asAPIError(err), memberFields)
	}
	f.V.Del("password") // never echoed
	p.renderSettings(w, r, s, formStatus(f), &settingsView{Member: f})
}

// deleteMember takes a user's role on the app away.
func (p *Portal) deleteMember(w http.ResponseWriter, r *http.Request, s *session) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	if err := s.api.call(r.Context(), http.MethodDelete, "/v1/app/members/"+seg(email), nil, nil, nil); err != nil {
		ae := asAPIError(err)
		if ae.Status == http.StatusUnauthorized {
			p.fail(w, r, s, err)
			return
		}
		f := newForm(url.Values{"role": {roleMarketer}})
		f.Top, f.status = "Removing "+email+": "+ae.Message, ae.Status
		p.renderSettings(w, r, s, formStatus(f), &settingsView{Member: f})
		return
	}
	http.Redirect(w, r, appPath(s, "settings")+"?ok=member_removed", http.StatusSeeOther)
}

// auditPage is how many audit entries a page shows.
const auditPage = 50

// auditView is the audit log page's data.
type auditView struct {
	Entries []auditEntry
	Next    string
	First   string
}

// audit shows the app's audit log, newest first, a page at a time.
func (p *Portal) audit(w http.ResponseWriter, r *http.Request, s *session) {
	q := url.Values{"limit": {strconv.Itoa(auditPage)}}
	before := r.URL.Query().Get("before")
	if before != "" {
		q.Set("before", before)
	}
	var list auditList
	if err := s.api.get(r.Context(), "/v1/audit", q, &list); err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := &auditView{Entries: list.Entries}
	if list.Next != "" {
		v.Next = appPath(s, "audit") + "?before=" + url.QueryEscape(list.Next)
	}
	if before != "" {
		v.First = appPath(s, "audit")
	}
	p.render(w, r, http.StatusOK, "audit", &view{Title: "Audit log", S: s, Active: "settings", Notice: notice(r), Data: v})
}
