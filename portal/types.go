package portal

import (
	"encoding/json"
	"time"
)

// The JSON the portal reads from and sends to the gateway. The portal is a
// client of the REST API and defines its own types rather than importing
// the gateway's: it sees the API as any other client does
// (gateway/openapi.json, docs/portal.md).

// Roles, from the least to the most: each can do what the one before it
// can.
const (
	roleViewer   = "viewer"
	roleMarketer = "marketer"
	roleOwner    = "owner"
)

// roleRank orders the roles; an unknown role ranks below viewer.
func roleRank(role string) int {
	switch role {
	case roleViewer:
		return 1
	case roleMarketer:
		return 2
	case roleOwner:
		return 3
	}
	return 0
}

// appRole is one app of a portal user and the user's role on it.
type appRole struct {
	AppKey string `json:"app_key"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

// me is GET /v1/portal/me, and the user of POST /v1/portal/sessions.
type me struct {
	Email string    `json:"email"`
	Apps  []appRole `json:"apps"`
}

// sessionCreated is the answer of POST /v1/portal/sessions.
type sessionCreated struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	User    me        `json:"user"`
}

// appSummary is GET /v1/app.
type appSummary struct {
	AppKey         string    `json:"app_key"`
	Name           string    `json:"name"`
	Created        time.Time `json:"created"`
	Devices        int64     `json:"devices"`
	Online         int64     `json:"online"`
	MessagesToday  int64     `json:"messages_today"`
	TargetedToday  int64     `json:"targeted_today"`
	DeliveredToday int64     `json:"delivered_today"`
}

// report holds a message's delivery counters.
type report struct {
	Targeted      int64 `json:"targeted"`
	Sent          int64 `json:"sent"`
	StoredOffline int64 `json:"stored_offline"`
	Delivered     int64 `json:"delivered"`
	Clicked       int64 `json:"clicked"`
	Expired       int64 `json:"expired"`
	Failed        int64 `json:"failed"`
	Replaced      int64 `json:"replaced"`
	Withdrawn     int64 `json:"withdrawn"`
}

// ended counts the copies that reached an end: every copy of a message
// with a time to live ends as exactly one of these.
func (r report) ended() int64 {
	return r.Delivered + r.Expired + r.Failed + r.Replaced + r.Withdrawn
}

// audienceSummary is a message's audience in the listing.
type audienceSummary struct {
	All             bool     `json:"all,omitempty"`
	RegistrationIDs int      `json:"registration_ids,omitempty"`
	Aliases         int      `json:"aliases,omitempty"`
	Tag             []string `json:"tag,omitempty"`
	TagAnd          []string `json:"tag_and,omitempty"`
	TagNot          []string `json:"tag_not,omitempty"`
	Segment         []string `json:"segment,omitempty"`
}

// messageItem is one message of GET /v1/messages.
type messageItem struct {
	MsgID      string          `json:"msg_id"`
	Created    time.Time       `json:"created"`
	Title      string          `json:"title,omitempty"`
	TimeToLive int64           `json:"time_to_live"`
	Broadcast  bool            `json:"broadcast"`
	Audience   audienceSummary `json:"audience"`
	State      string          `json:"state"`
	report
}

// Message states (the state of a message's task).
const (
	stateRunning   = "running"
	stateCanceling = "canceling"
	stateDone      = "done"
	stateCanceled  = "canceled"
	stateFailed    = "failed"
)

// messageList is GET /v1/messages.
type messageList struct {
	Messages []messageItem `json:"messages"`
	Next     string        `json:"next,omitempty"`
}

// deviceInfo is GET /v1/devices/{registration_id}.
type deviceInfo struct {
	RegistrationID string     `json:"registration_id"`
	Platform       string     `json:"platform"`
	Tags           []string   `json:"tags"`
	Alias          string     `json:"alias"`
	Online         bool       `json:"online"`
	Connector      string     `json:"connector"`
	LastSeen       *time.Time `json:"last_seen,omitempty"`
	Created        time.Time  `json:"created"`
}

// deviceStatus is GET /v1/messages/{msg_id}/devices/{registration_id}.
type deviceStatus struct {
	MsgID          string     `json:"msg_id"`
	RegistrationID string     `json:"registration_id"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	SentAt         *time.Time `json:"sent_at,omitempty"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	ClickedAt      *time.Time `json:"clicked_at,omitempty"`
	FailedAt       *time.Time `json:"failed_at,omitempty"`
}

// tagList is GET /v1/tags.
type tagList struct {
	Tags []string `json:"tags"`
	Next string   `json:"next,omitempty"`
}

// tagInfo is GET /v1/tags/{tag}.
type tagInfo struct {
	Tag     string   `json:"tag"`
	Count   int64    `json:"count"`
	Members []string `json:"members"`
	Next    string   `json:"next,omitempty"`
}

// aliasInfo is GET /v1/aliases/{alias}.
type aliasInfo struct {
	Alias           string   `json:"alias"`
	RegistrationIDs []string `json:"registration_ids"`
}

// segment is a saved audience (GET /v1/segments/{id}); its request body
// has the same fields without the id and times.
type segment struct {
	SegmentID        string    `json:"segment_id,omitempty"`
	Name             string    `json:"name"`
	Tags             []string  `json:"tags"`
	Platforms        []string  `json:"platforms"`
	ActiveWithinDays int       `json:"active_within_days"`
	Created          time.Time `json:"created,omitzero"`
	Updated          time.Time `json:"updated,omitzero"`
}

// segmentList is GET /v1/segments.
type segmentList struct {
	Segments []segment `json:"segments"`
	Next     string    `json:"next,omitempty"`
}

// estimate is POST /v1/audiences/estimate.
type estimate struct {
	Estimate int64 `json:"estimate"`
	Exact    bool  `json:"exact"`
}

// pushBody is the body of POST /v1/push and a schedule's push.
type pushBody struct {
	Platform any          `json:"platform,omitempty"` // "all" or a list
	Audience any          `json:"audience"`           // "all" or an object
	Message  pushMessage  `json:"message"`
	Options  *pushOptions `json:"options,omitempty"`
}

type pushMessage struct {
	Title   string          `json:"title,omitempty"`
	Content string          `json:"content"`
	Extras  json.RawMessage `json:"extras,omitempty"`
}

type pushOptions struct {
	TimeToLive      *int64 `json:"time_to_live,omitempty"`
	Rate            *int64 `json:"rate,omitempty"`
	BigPushDuration *int64 `json:"big_push_duration,omitempty"`
	Priority        string `json:"priority,omitempty"`
	CollapseID      string `json:"collapse_id,omitempty"`
}

// audienceObject is an audience other than "all": kinds that AND together.
type audienceObject struct {
	RegistrationID []string `json:"registration_id,omitempty"`
	Alias          []string `json:"alias,omitempty"`
	Tag            []string `json:"tag,omitempty"`
	TagAnd         []string `json:"tag_and,omitempty"`
	TagNot         []string `json:"tag_not,omitempty"`
	Segment        []string `json:"segment,omitempty"`
}

// pushAccepted is the answer of POST /v1/push.
type pushAccepted struct {
	MsgID string `json:"msg_id"`
}

// trigger is a schedule's trigger, in JPush's shape.
type trigger struct {
	Single     *singleTrigger     `json:"single,omitempty"`
	Periodical *periodicalTrigger `json:"periodical,omitempty"`
	TimeZone   string             `json:"time_zone,omitempty"`
	ZoneType   string             `json:"zone_type,omitempty"`
}

type singleTrigger struct {
	Time string `json:"time"`
}

type periodicalTrigger struct {
	Start     string   `json:"start"`
	End       string   `json:"end"`
	Time      string   `json:"time"`
	TimeUnit  string   `json:"time_unit"`
	Frequency int      `json:"frequency,omitempty"`
	Point     []string `json:"point,omitempty"`
}

// schedule is GET /v1/schedules/{id}; scheduleBody is what POST and PUT
// take.
type schedule struct {
	ScheduleID    string     `json:"schedule_id"`
	Name          string     `json:"name"`
	Enabled       bool       `json:"enabled"`
	Trigger       trigger    `json:"trigger"`
	Push          pushBody   `json:"push"`
	NextFire      *time.Time `json:"next_fire"`
	NextUTCOffset string     `json:"next_utc_offset,omitempty"`
	Firings       []firing   `json:"firings"`
	Missed        int64      `json:"missed"`
	Created       time.Time  `json:"created"`
	Updated       time.Time  `json:"updated"`
}

type scheduleBody struct {
	Name    string   `json:"name"`
	Enabled bool     `json:"enabled"`
	Trigger trigger  `json:"trigger"`
	Push    pushBody `json:"push"`
}

// firing is a past firing of a schedule.
type firing struct {
	Time      time.Time `json:"time"`
	UTCOffset string    `json:"utc_offset,omitempty"`
	MsgID     string    `json:"msg_id,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// scheduleList is GET /v1/schedules.
type scheduleList struct {
	Schedules []schedule `json:"schedules"`
	Next      string     `json:"next,omitempty"`
}

// webhook is GET and PUT /v1/webhook.
type webhook struct {
	URL     string    `json:"url"`
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// member is one portal user's role on the app.
type member struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

type memberList struct {
	Members []member `json:"members"`
}

// secretRotated is the answer of POST /v1/app/secret.
type secretRotated struct {
	AppKey       string `json:"app_key"`
	MasterSecret string `json:"master_secret"`
}

// auditEntry is one entry of GET /v1/audit.
type auditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Status flexText  `json:"status"`
}

// flexText is a JSON string or number read as text: an audit entry's
// status may be either.
type flexText string

func (f *flexText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexText(n.String())
	return nil
}

type auditList struct {
	Entries []auditEntry `json:"entries"`
	Next    string       `json:"next,omitempty"`
}
