package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/heraldpush/herald/dataservice"
)

// Audience is who a push goes to, in JPush's shape: the string "all", or
// an object whose kinds AND together —
//
//	registration_id  any of these devices          (≤ 1000)
//	alias            any device with any alias     (≤ 1000)
//	tag              any device with any tag       (≤ 20)
//	tag_and          devices with every tag        (≤ 20)
//	tag_not          devices with none of the tags (≤ 20)
//	segment          devices of a saved segment    (exactly one)
//
// An object with only tag_not means every device of the app but those.
type Audience struct {
	All            bool
	RegistrationID []string
	Alias          []string
	Tag            []string
	TagAnd         []string
	TagNot         []string
	Segment        []string
}

// audienceObject is the object form on the wire.
type audienceObject struct {
	RegistrationID []string `json:"registration_id,omitempty"`
	Alias          []string `json:"alias,omitempty"`
	Tag            []string `json:"tag,omitempty"`
	TagAnd         []string `json:"tag_and,omitempty"`
	TagNot         []string `json:"tag_not,omitempty"`
	Segment        []string `json:"segment,omitempty"`
}

// Limits of an audience, as JPush's.
const (
	maxAudienceTags  = 20
	maxAudienceAlias = 1000
)

// UnmarshalJSON reads "all" or an audience object; unknown kinds are
// rejected.
func (a *Audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "all" {
			return errorf(http.StatusBadRequest, "invalid_field", `audience must be "all" or an object such as {"tag": ["vip"]}; got the string %q`, s)
		}
		*a = Audience{All: true}
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return errorf(http.StatusBadRequest, "invalid_field", `audience must be "all" or an object such as {"tag": ["vip"]}`)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o audienceObject
	if err := dec.Decode(&o); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf(http.StatusBadRequest, "invalid_field", "audience.%s must be an array of strings", te.Field)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return errorf(http.StatusBadRequest, "unknown_field", "audience.%s is not an audience kind; kinds are registration_id, alias, tag, tag_and, tag_not and segment",
				strings.Trim(field, `"`))
		}
		return errorf(http.StatusBadRequest, "invalid_json", "audience: %v", err)
	}
	*a = Audience{RegistrationID: o.RegistrationID, Alias: o.Alias, Tag: o.Tag, TagAnd: o.TagAnd, TagNot: o.TagNot, Segment: o.Segment}
	return nil
}

// MarshalJSON writes "all" or the object.
func (a Audience) MarshalJSON() ([]byte, error) {
	if a.All {
		return []byte(`"all"`), nil
	}
	return json.Marshal(audienceObject{RegistrationID: a.RegistrationID, Alias: a.Alias, Tag: a.Tag, TagAnd: a.TagAnd, TagNot: a.TagNot, Segment: a.Segment})
}

// validate checks an audience against the limits and naming rules and
// returns its canonical form: lists sorted, without duplicates.
func (a Audience) validate(maxRecipients int) (Audience, error) {
	if a.All {
		return a, nil
	}
	// Items are checked where the caller wrote them, so that errors name
	// their index.
	for i, rid := range a.RegistrationID {
		if !validID(rid) {
			return a, errorf(http.StatusBadRequest, "invalid_field", "audience.registration_id[%d] must be 1 to 64 bytes of UTF-8", i)
		}
	}
	for _, l := range []struct {
		name  string
		items []string
		check func(string) error
	}{
		{"alias", a.Alias, dataservice.CheckAlias},
		{"tag", a.Tag, dataservice.CheckTag},
		{"tag_and", a.TagAnd, dataservice.CheckTag},
		{"tag_not", a.TagNot, dataservice.CheckTag},
	} {
		for i, s := range l.items {
			if err := l.check(s); err != nil {
				return a, errorf(http.StatusBadRequest, "invalid_field", "audience.%s[%d]: %s", l.name, i, nameProblem(err))
			}
		}
	}
	for i, id := range a.Segment {
		if dataservice.CheckSegmentID(id) != nil {
			return a, errorf(http.StatusBadRequest, "invalid_field", "audience.segment[%d] is not a segment id: ids are those POST /v1/segments returns", i)
		}
	}
	c := Audience{
		RegistrationID: distinct(a.RegistrationID),
		Alias:          distinct(a.Alias),
		Tag:            distinct(a.Tag),
		TagAnd:         distinct(a.TagAnd),
		TagNot:         distinct(a.TagNot),
		Segment:        distinct(a.Segment),
	}
	switch {
	case c.empty():
		return c, errorf(http.StatusBadRequest, "missing_field", `audience names no device: give "all" or at least one of registration_id, alias, tag, tag_and, tag_not, segment`)
	case len(c.RegistrationID) > maxRecipients:
		return c, errorf(http.StatusBadRequest, "too_many_registration_ids",
			"audience.registration_id lists %d devices; at most %d per push — split it into several pushes or tag the devices", len(c.RegistrationID), maxRecipients)
	case len(c.Alias) > maxAudienceAlias:
		return c, errorf(http.StatusBadRequest, "invalid_field", "audience.alias lists %d aliases; at most %d per push", len(c.Alias), maxAudienceAlias)
	case len(c.Segment) > 1:
		return c, errorf(http.StatusBadRequest, "invalid_field", "audience.segment names %d segments; give one", len(c.Segment))
	}
	for _, l := range []struct {
		name  string
		items []string
	}{{"tag", c.Tag}, {"tag_and", c.TagAnd}, {"tag_not", c.TagNot}} {
		if len(l.items) > maxAudienceTags {
			return c, errorf(http.StatusBadRequest, "invalid_field", "audience.%s lists %d tags; at most %d per push", l.name, len(l.items), maxAudienceTags)
		}
	}
	for _, tag := range c.TagNot {
		if slices.Contains(c.TagAnd, tag) {
			return c, errorf(http.StatusBadRequest, "invalid_field", "tag %q is in both audience.tag_and and audience.tag_not: no device can match", tag)
		}
	}
	return c, nil
}

func (a Audience) empty() bool {
	return !a.All && len(a.RegistrationID) == 0 && len(a.Alias) == 0 && len(a.Tag) == 0 && len(a.TagAnd) == 0 &&
		len(a.TagNot) == 0 && len(a.Segment) == 0
}

// onlyRegistrationIDs reports an audience of listed devices alone: the
// push is sent while the API call waits, without a task.
func (a Audience) onlyRegistrationIDs() bool {
	return len(a.RegistrationID) > 0 && len(a.Alias) == 0 && len(a.Tag) == 0 && len(a.TagAnd) == 0 &&
		len(a.TagNot) == 0 && len(a.Segment) == 0
}

// nameProblem turns a dataservice name-check error into what the API
// says.
func nameProblem(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "invalid argument: "); ok {
		msg = after
	}
	return msg + " (" + nameRules + ")"
}
