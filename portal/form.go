package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// form is a form as the browser sent it, with the errors to show next to
// its fields: what a page re-renders after a refusal, so that nothing
// typed is lost.
type form struct {
	V url.Values
	// E holds an error per field name, in the API's words.
	E map[string]string
	// Top is an error about no one field (or about a field the form does
	// not show), shown above the form.
	Top string
	// Prefix tells the inputs of this form from those of another form of
	// the same page and kind (their ids are "f-" + Prefix + name).
	Prefix string
	// status is the HTTP status of the API error set last, to answer
	// with.
	status int
}

func newForm(v url.Values) *form {
	if v == nil {
		v = url.Values{}
	}
	return &form{V: v, E: map[string]string{}}
}

// Get returns the value of field name.
func (f *form) Get(name string) string { return f.V.Get(name) }

// Err returns the error of field name, or "".
func (f *form) Err(name string) string { return f.E[name] }

// Has reports whether field name has value (a checked box or radio, a
// selected option).
func (f *form) Has(name, value string) bool { return slices.Contains(f.V[name], value) }

// Invalid reports whether any field has an error.
func (f *form) Invalid() bool { return len(f.E) > 0 || f.Top != "" }

// fieldMap maps what the API's messages name (the JSON path at their
// start, such as "message.content" or "options.rate"; or "code:" and an
// error code) to the name of the form's input.
type fieldMap map[string]string

// fieldOf returns the input an API error is about, or "" if it names none
// of fields: the path its message starts with (after the "push: " a
// schedule's push is prefixed with), else the first dotted path it names
// anywhere ("give options.rate or options.big_push_duration, not both"),
// else its code.
func fieldOf(ae *apiError, fields fieldMap) string {
	msg := ae.Message
	for {
		rest, ok := strings.CutPrefix(msg, "push: ")
		if !ok {
			break
		}
		msg = rest
	}
	if f, at := matchPath(msg, fields, true); f != "" && at == 0 {
		return f
	}
	if f, _ := matchPath(msg, fields, false); f != "" {
		return f
	}
	return fields["code:"+ae.Code]
}

// matchPath finds the earliest key of fields in msg that stands as a
// whole path (not inside a longer name), the longest at that place; with
// atStart only at the start of msg, else only dotted or indexed keys.
func matchPath(msg string, fields fieldMap, atStart bool) (field string, at int) {
	best, bestAt, bestLen := "", -1, 0
	for key, name := range fields {
		if strings.HasPrefix(key, "code:") || (!atStart && !strings.ContainsAny(key, ".[")) {
			continue
		}
		from := 0
		for {
			i := strings.Index(msg[from:], key)
			if i < 0 {
				break
			}
			i += from
			from = i + 1
			if atStart && i != 0 {
				break
			}
			if i > 0 && isNameByte(msg[i-1]) || i > 0 && (msg[i-1] == '.' || msg[i-1] == '/') {
				continue
			}
			if end := i + len(key); end < len(msg) && isNameByte(msg[end]) {
				continue
			}
			if bestAt < 0 || i < bestAt || i == bestAt && len(key) > bestLen {
				best, bestAt, bestLen = name, i, len(key)
			}
			break
		}
	}
	return best, bestAt
}

func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}

// setError puts an API error next to the field it is about, or on top.
func (f *form) setError(ae *apiError, fields fieldMap) {
	f.status = ae.Status
	msg := ae.Message
	if msg == "" {
		msg = http.StatusText(ae.Status)
	}
	if name := fieldOf(ae, fields); name != "" {
		f.E[name] = msg
		return
	}
	f.Top = msg
}
