package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Paging of the listings.
const (
	DefaultPage = 100
	MaxPage     = 1000
)

// Page reads the after and limit parameters of a listing; check validates
// after (the cursor is the last item of the previous page).
func Page(r *http.Request, check func(string) bool) (after string, limit int, err error) {
	q := r.URL.Query()
	after, limit = q.Get("after"), DefaultPage
	if after != "" && !check(after) {
		return "", 0, Errorf(http.StatusBadRequest, "invalid_parameter", "after must be the next value of the previous page")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			return "", 0, Errorf(http.StatusBadRequest, "invalid_parameter", "limit must be a whole number from 1 to %d; got %q", MaxPage, s)
		}
		limit = n
	}
	return after, limit, nil
}

// NextOf cuts a page read with limit+1 items down to limit and returns the
// cursor of the next page, nil if there is none.
func NextOf(items []string, limit int) ([]string, *string) {
	if len(items) <= limit {
		return NonNil(items), nil
	}
	items = items[:limit]
	return items, &items[limit-1]
}

// NonNil returns s, or an empty list for nil: a JSON [] rather than null.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Distinct returns the distinct strings of s, sorted, in a new slice.
func Distinct(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// ValidID reports whether s can be a registration id: 1 to 64 bytes of
// UTF-8. Anything else cannot name a device, whatever the store accepts.
func ValidID(s string) bool {
	return s != "" && len(s) <= 64 && utf8.ValidString(s)
}

// NameRules says what tags and aliases may be (dataservice.CheckTag and
// CheckAlias).
const NameRules = "1 to 40 bytes of UTF-8 without '/' or control characters"

// Truncate shortens s to at most n bytes, cut between characters, for
// echoing what a caller sent.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// NameProblem turns a dataservice name-check error into what the API
// says.
func NameProblem(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "invalid argument: "); ok {
		msg = after
	}
	return msg + " (" + NameRules + ")"
}
