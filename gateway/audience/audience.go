package audience

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
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
//
// Platform is the push's platform field, kept with its audience so that
// whatever resolves the audience again (a resumed task, a schedule's
// firing) resolves the same devices: if not empty, only devices on one of
// these platforms (Herald's names) are in the audience. It ANDs with the
// kinds; "all" on some platforms is the object {"platform": […]} alone:
// every device of the app on them. A request names it beside audience,
// not in it (validate refuses it there); the stored form of an audience
// (dataservice.Message.Audience) carries it as "platform".
type Audience struct {
	All            bool
	RegistrationID []string
	Alias          []string
	Tag            []string
	TagAnd         []string
	TagNot         []string
	Segment        []string
	Platform       []string
}

// audienceObject is the object form on the wire.
type audienceObject struct {
	RegistrationID []string `json:"registration_id,omitempty"`
	Alias          []string `json:"alias,omitempty"`
	Tag            []string `json:"tag,omitempty"`
	TagAnd         []string `json:"tag_and,omitempty"`
	TagNot         []string `json:"tag_not,omitempty"`
	Segment        []string `json:"segment,omitempty"`
	Platform       []string `json:"platform,omitempty"`
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
			return api.Errorf(http.StatusBadRequest, "invalid_field", `audience must be "all" or an object such as {"tag": ["vip"]}; got the string %q`, s)
		}
		*a = Audience{All: true}
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return api.Errorf(http.StatusBadRequest, "invalid_field", `audience must be "all" or an object such as {"tag": ["vip"]}`)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o audienceObject
	if err := dec.Decode(&o); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "audience.%s must be an array of strings", te.Field)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return api.Errorf(http.StatusBadRequest, "unknown_field", "audience.%s is not an audience kind; kinds are registration_id, alias, tag, tag_and, tag_not and segment",
				strings.Trim(field, `"`))
		}
		return api.Errorf(http.StatusBadRequest, "invalid_json", "audience: %v", err)
	}
	*a = Audience{RegistrationID: o.RegistrationID, Alias: o.Alias, Tag: o.Tag, TagAnd: o.TagAnd, TagNot: o.TagNot, Segment: o.Segment, Platform: o.Platform}
	return nil
}

// MarshalJSON writes "all" or the object; "all" on some platforms is the
// object with only platform.
func (a Audience) MarshalJSON() ([]byte, error) {
	if a.All && len(a.Platform) == 0 {
		return []byte(`"all"`), nil
	}
	return json.Marshal(audienceObject{RegistrationID: a.RegistrationID, Alias: a.Alias, Tag: a.Tag, TagAnd: a.TagAnd, TagNot: a.TagNot, Segment: a.Segment, Platform: a.Platform})
}

// validate checks an audience of a request against the limits and naming
// rules and returns its canonical form: lists sorted, without duplicates.
// The push's platforms are added to it by onPlatforms.
func (a Audience) Validate(maxRecipients int) (Audience, error) {
	if a.Platform != nil {
		return a, api.Errorf(http.StatusBadRequest, "unknown_field",
			`audience.platform is not an audience kind: give platform beside audience, at the top of the request, e.g. {"platform": ["ios"], "audience": {"tag": ["vip"]}, …}`)
	}
	if a.All {
		return a, nil
	}
	// Items are checked where the caller wrote them, so that errors name
	// their index.
	for i, rid := range a.RegistrationID {
		if !api.ValidID(rid) {
			return a, api.Errorf(http.StatusBadRequest, "invalid_field", "audience.registration_id[%d] must be 1 to 64 bytes of UTF-8", i)
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
				return a, api.Errorf(http.StatusBadRequest, "invalid_field", "audience.%s[%d]: %s", l.name, i, api.NameProblem(err))
			}
		}
	}
	for i, id := range a.Segment {
		if dataservice.CheckSegmentID(id) != nil {
			return a, api.Errorf(http.StatusBadRequest, "invalid_field", "audience.segment[%d] is not a segment id: ids are those POST /v1/segments returns", i)
		}
	}
	c := Audience{
		RegistrationID: api.Distinct(a.RegistrationID),
		Alias:          api.Distinct(a.Alias),
		Tag:            api.Distinct(a.Tag),
		TagAnd:         api.Distinct(a.TagAnd),
		TagNot:         api.Distinct(a.TagNot),
		Segment:        api.Distinct(a.Segment),
	}
	switch {
	case c.Empty():
		return c, api.Errorf(http.StatusBadRequest, "missing_field", `audience names no device: give "all" or at least one of registration_id, alias, tag, tag_and, tag_not, segment`)
	case len(c.RegistrationID) > maxRecipients:
		return c, api.Errorf(http.StatusBadRequest, "too_many_registration_ids",
			"audience.registration_id lists %d devices; at most %d per push — split it into several pushes or tag the devices", len(c.RegistrationID), maxRecipients)
	case len(c.Alias) > maxAudienceAlias:
		return c, api.Errorf(http.StatusBadRequest, "invalid_field", "audience.alias lists %d aliases; at most %d per push", len(c.Alias), maxAudienceAlias)
	case len(c.Segment) > 1:
		return c, api.Errorf(http.StatusBadRequest, "invalid_field", "audience.segment names %d segments; give one", len(c.Segment))
	}
	for _, l := range []struct {
		name  string
		items []string
	}{{"tag", c.Tag}, {"tag_and", c.TagAnd}, {"tag_not", c.TagNot}} {
		if len(l.items) > maxAudienceTags {
			return c, api.Errorf(http.StatusBadRequest, "invalid_field", "audience.%s lists %d tags; at most %d per push", l.name, len(l.items), maxAudienceTags)
		}
	}
	for _, tag := range c.TagNot {
		if slices.Contains(c.TagAnd, tag) {
			return c, api.Errorf(http.StatusBadRequest, "invalid_field", "tag %q is in both audience.tag_and and audience.tag_not: no device can match", tag)
		}
	}
	return c, nil
}

func (a Audience) Empty() bool {
	return !a.All && len(a.RegistrationID) == 0 && len(a.Alias) == 0 && len(a.Tag) == 0 && len(a.TagAnd) == 0 &&
		len(a.TagNot) == 0 && len(a.Segment) == 0 && len(a.Platform) == 0
}

// onlyRegistrationIDs reports an audience of listed devices alone, each of
// which is in it (no platform leaves any out).
func (a Audience) OnlyRegistrationIDs() bool {
	return a.ListedOnly() && len(a.Platform) == 0
}

// listedOnly reports an audience of listed devices, on some platforms or
// on any: the push is sent while the API call waits, without a task, to
// the listed devices on those platforms.
func (a Audience) ListedOnly() bool {
	return len(a.RegistrationID) > 0 && len(a.Alias) == 0 && len(a.Tag) == 0 && len(a.TagAnd) == 0 &&
		len(a.TagNot) == 0 && len(a.Segment) == 0
}

// onPlatforms returns the audience restricted to the devices on platforms
// (canonical, as parsePlatform returns them); nil keeps every platform.
// "all" on some platforms stops being "all", which is a broadcast the
// connectors fan out: they do not know the devices' platforms, so it is
// resolved device by device instead.
func (a Audience) OnPlatforms(platforms []string) Audience {
	if len(platforms) == 0 {
		return a
	}
	a.All, a.Platform = false, platforms
	return a
}

// platformAllows reports whether a device registered on platform p is on
// the audience's platforms.
func (a Audience) PlatformAllows(p string) bool {
	return len(a.Platform) == 0 || slices.Contains(a.Platform, devicePlatform(p))
}

// devicePlatform is the platform of a device registered on p: a device
// stored without one is "other", as registration makes it.
func devicePlatform(p string) string {
	if p == "" {
		return "other"
	}
	return p
}

// PlatformNames lists the platforms a device can register with
// (dataservice.IsPlatform), for messages that say what is allowed.
const PlatformNames = "android, ios, hmos, quickapp, web, desktop, other"

// platformCount is how many platforms a device can register with
// (PlatformNames lists those dataservice.IsPlatform accepts): a list of
// them all is no restriction.
var platformCount = len(strings.Split(PlatformNames, ", "))

// parsePlatform reads the platform field of a /v1 push or estimate: absent,
// null or "all" for every platform (nil), or a non-empty list of Herald's
// platforms, returned sorted and distinct (nil again if it names them
// all).
func ParsePlatform(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != "all" {
			return nil, api.Errorf(http.StatusBadRequest, "invalid_field", `platform must be "all" or a list of platforms such as ["android", "ios"]; got the string %s`, api.Truncate(string(raw), 40))
		}
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, api.Errorf(http.StatusBadRequest, "invalid_field", `platform must be "all" or an array of platform names such as ["android", "ios"]`)
	}
	if len(list) == 0 {
		return nil, api.Errorf(http.StatusBadRequest, "invalid_field", `platform lists no platform: give "all" (the default) or some of %s`, PlatformNames)
	}
	for i, p := range list {
		if !dataservice.IsPlatform(p) {
			return nil, api.Errorf(http.StatusBadRequest, "invalid_field", "platform[%d] must be one of %s; got %s", i, PlatformNames, api.Truncate(strconv.Quote(p), 40))
		}
	}
	list = api.Distinct(list)
	if len(list) == platformCount {
		return nil, nil
	}
	return list, nil
}
