package portal

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed web/templates
var templatesFS embed.FS

// pages are the parsed templates: one set per page, each of the layout,
// the shared partials and the page's own file.
type pages struct {
	byName map[string]*template.Template
}

// loadPages parses every page; a template that does not parse fails New,
// so a build with a broken page does not start.
func loadPages(a *assets) (*pages, error) {
	funcs := template.FuncMap{
		"asset":        a.url,
		"when":         formatTime,
		"iso":          func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"count":        formatCount,
		"percent":      percent,
		"join":         strings.Join,
		"pathEscape":   url.PathEscape,
		"queryEscape":  url.QueryEscape,
		"duration":     formatSeconds,
		"json":         func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"field":        newField,
		"has":          func(list []string, s string) bool { return contains(list, s) },
		"platforms":    func() []string { return platformNames },
		"weekdays":     func() []string { return weekdayNames },
		"dict":         dict,
		"list":         func(s ...string) []string { return s },
		"tm":           asTime,
		"triggerText":  triggerText,
		"audienceText": audienceText,
		"summaryText":  summaryText,
		"platformText": platformText,
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templatesFS, "web/templates/layout.html", "web/templates/partials.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templatesFS, "web/templates/page_*.html")
	if err != nil {
		return nil, err
	}
	ps := &pages{byName: map[string]*template.Template{}}
	for _, file := range names {
		t, err := template.Must(base.Clone()).ParseFS(templatesFS, file)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(path.Base(file), "page_"), ".html")
		ps.byName[name] = t
	}
	return ps, nil
}

// view is what every page renders: the session (nil on the login page),
// the page's title and navigation entry, a notice, and the page's data.
type view struct {
	Title  string
	S      *session
	Active string // the navigation entry of the page
	Notice string
	Data   any
}

// Can reports whether the user's role on the page's app is role or above.
func (v *view) Can(role string) bool { return v.S != nil && v.S.can(role) }

// CSRF returns the CSRF token the page's forms carry.
func (v *view) CSRF() string {
	if v.S == nil {
		return ""
	}
	return v.S.csrf
}

// App returns the page's app, or nil.
func (v *view) App() *appRole {
	if v.S == nil {
		return nil
	}
	return v.S.app
}

// AppURL returns the path of an app page: "/portal/apps/KEY/" + rel.
func (v *view) AppURL(rel string) string {
	if v.S == nil || v.S.app == nil {
		return "/portal/"
	}
	return "/portal/apps/" + url.PathEscape(v.S.app.AppKey) + "/" + rel
}

// minGzip is the smallest page worth compressing.
const minGzip = 1024

// gzipWriters keeps the compressors of pages: each holds some 800 KB of
// tables, too much to make per page.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
	return zw
}}

// render writes page name with v, gzipped when the browser accepts it.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := p.pages.byName[name]
	if !ok {
		p.log.Error("portal: no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		p.log.Error("portal: rendering a page", "page", name, "err", err)
		http.Error(w, "internal error: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept-Encoding")
	body := buf.Bytes()
	if len(body) >= minGzip && acceptsGzip(r) {
		var z bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&z)
		zw.Write(body)
		zw.Close()
		gzipWriters.Put(zw)
		h.Set("Content-Encoding", "gzip")
		body = z.Bytes()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// writeJSON answers a call of the page script.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errorBody is the portal's JSON error: the gateway's code and message,
// and the form input it concerns, if any.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// fail answers a request that failed with err: JSON to the page script,
// the login page when the session has ended, else an error page that
// says what the gateway said.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	ae := asAPIError(err)
	if ae.Status == http.StatusBadGateway && ae.Code == "gateway_unreachable" {
		p.log.Warn("portal: calling the gateway", "path", r.URL.Path, "err", err)
	}
	if ae.Status == http.StatusUnauthorized {
		p.clearCookie(w, r, sessionCookie) // the session has ended
	}
	if isScriptCall(r) {
		var b errorBody
		b.Error.Code, b.Error.Message = ae.Code, ae.Message
		writeJSON(w, ae.Status, b)
		return
	}
	if ae.Status == http.StatusUnauthorized && r.Method == http.MethodGet {
		http.Redirect(w, r, "/portal/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	status := ae.Status
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	p.render(w, r, status, "error", &view{Title: errorTitle(status), S: s, Data: ae})
}

func errorTitle(status int) string {
	switch status {
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusNotFound:
		return "Not found"
	case http.StatusUnauthorized:
		return "Log in again"
	case http.StatusTooManyRequests:
		return "Too many requests"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "The request was refused"
}

// notFound answers a portal path that names no page.
func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.fail(w, r, nil, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "There is no page at " + r.URL.Path + "."})
}

// notices are the confirmations a page shows after an action redirected
// to it (?ok=KEY): a fixed table, so a link cannot make the portal say
// anything else.
var notices = map[string]string{
	"logged_out":        "You are logged out.",
	"sent":              "The push is sent. Its funnel below updates live.",
	"cancel":            "Canceling: sending stops, and copies not yet delivered are withdrawn.",
	"schedule_created":  "The schedule is saved.",
	"schedule_saved":    "The schedule is saved.",
	"schedule_enabled":  "The schedule is enabled.",
	"schedule_disabled": "The schedule is disabled: it fires no more until enabled.",
	"schedule_deleted":  "The schedule is deleted.",
	"segment_created":   "The segment is saved.",
	"segment_saved":     "The segment is saved.",
	"segment_deleted":   "The segment is deleted.",
	"device_saved":      "The device's tags and alias are saved.",
	"webhook_saved":     "The webhook is saved.",
	"webhook_deleted":   "The webhook is removed: upstream data waits (24 h) for a new one.",
	"member_saved":      "The member is saved.",
	"member_removed":    "The member is removed.",
}

// notice returns the confirmation the request's ?ok= asks for.
func notice(r *http.Request) string { return notices[r.URL.Query().Get("ok")] }

// formatTime shows an instant in UTC to the second; JavaScript shows it in
// the browser's zone (the <time> element carries it in RFC 3339).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// asTime returns the instant v holds (a time.Time or *time.Time); zero
// for nil or anything else.
func asTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case *time.Time:
		if t != nil {
			return *t
		}
	}
	return time.Time{}
}

// dict builds a map of key, value pairs, to pass several values to a
// partial.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: %d arguments, want key, value pairs", len(kv))
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// platformText says which platforms a push is for.
func platformText(p any) string {
	list, ok := p.([]any)
	if !ok || len(list) == 0 {
		return "all"
	}
	var names []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			names = append(names, s)
		}
	}
	return strings.Join(names, ", ")
}

// formatCount writes n with thousands separators.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// percent returns part of whole as a percentage, "—" when whole is 0.
func percent(part, whole int64) string {
	if whole <= 0 {
		return "—"
	}
	v := float64(part) * 100 / float64(whole)
	if v >= 99.95 && part < whole {
		return "99.9%"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', 1, 64) + "%"
}

// formatSeconds shows a number of seconds as a duration people read.
func formatSeconds(s int64) string {
	switch {
	case s == 0:
		return "online only"
	case s%86400 == 0:
		return plural(s/86400, "day")
	case s%3600 == 0:
		return plural(s/3600, "hour")
	case s%60 == 0:
		return plural(s/60, "minute")
	}
	return plural(s, "second")
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fieldView is one input of a form, for the "field" partial: its label,
// its value and its error.
type fieldView struct {
	Form  *form
	Name  string
	Label string
	Type  string // text, email, password, number, textarea, date, time, datetime-local
	Hint  string
}

// newField returns the fieldView of input name of f: newField f "title"
// "Title" "text" ["hint"].
func newField(f *form, name, label, typ string, hint ...string) fieldView {
	fv := fieldView{Form: f, Name: name, Label: label, Type: typ}
	if len(hint) > 0 {
		fv.Hint = hint[0]
	}
	return fv
}

// Value is the input's value.
func (f fieldView) Value() string { return f.Form.Get(f.Name) }

// Err is the input's error.
func (f fieldView) Err() string { return f.Form.Err(f.Name) }

// ID is the input's element id.
func (f fieldView) ID() string { return "f-" + f.Form.Prefix + f.Name }
