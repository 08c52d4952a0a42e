package schedule

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/lease"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/gateway/wallclock"
	"github.com/heraldpush/herald/internal/ids"
)

// Store is what the schedules read and write: the schedules, and what
// resolving their pushes' audiences reads (to refuse an audience naming
// what does not exist).
type Store interface {
	audience.Data
	dataservice.ScheduleStore
}

// Sender sends the push of a firing: it stores its message under id and
// creates its push task, both create-only, so that a firing sent again
// (after a crash, or by two gateways at once) sends nothing twice. The
// gateway implements it.
type Sender interface {
	SendFiring(ctx context.Context, app *dataservice.App, plan *push.Plan, id uint64) error
}

// Config configures a Service. Zero fields take the defaults.
type Config struct {
	// Scan is how often the gateway looks for due schedules: how late, at
	// most, a firing starts. Zero means 1s.
	Scan time.Duration
	// Grace is how late a schedule's firing may still be sent (after an
	// outage of every gateway); later ones are skipped and counted
	// missed. Zero means one hour.
	Grace time.Duration
	// Lease is how long a claimed firing stays this gateway's without
	// being sent; another gateway takes it over after. Zero means 30s.
	Lease time.Duration
	// MaxPerApp is the most schedules an app may have: Create fails with
	// 409 too_many_schedules beyond. Zero or less means no limit.
	MaxPerApp int
}

func (c Config) withDefaults() Config {
	if c.Scan <= 0 {
		c.Scan = time.Second
	}
	if c.Grace <= 0 {
		c.Grace = time.Hour
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	return c
}

// Deps are what a Service works with.
type Deps struct {
	Data Store
	// Limits check a schedule's push as POST /v1/push would.
	Limits push.Limits
	Sender Sender
	// IDs give each firing its message id.
	IDs *ids.Generator
	// Owner names this gateway run in the claims on firings.
	Owner lease.Owner
	// Log receives the firings' logs. Nil means slog.Default().
	Log *slog.Logger
}

// Service stores the apps' schedules, validated, for both API faces, and
// fires this gateway's share of the due ones. Its loop runs in its own
// goroutine (Start to Close); each due schedule is fired by one goroutine
// at a time. The CRUD methods are safe for concurrent use.
type Service struct {
	cfg    Config
	data   Store
	limits push.Limits
	sender Sender
	ids    *ids.Generator
	owner  lease.Owner
	log    *slog.Logger

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Service; Start starts its firing loop.
func New(cfg Config, deps Deps) *Service {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg.withDefaults(), data: deps.Data, limits: deps.Limits, sender: deps.Sender, ids: deps.IDs, owner: deps.Owner, log: deps.Log,
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Def is a schedule's definition, as an API face hands it to the
// core: what POST creates and PUT replaces.
type Def struct {
	Name    string
	Enabled bool
	Trigger Trigger
	// Push is a body of POST /v1/push (a face with another push shape
	// converts it, e.g. by marshalling a push.Request).
	Push json.RawMessage
	// Source, if not nil, is kept with the schedule and given back by
	// ReadDef: the /v3 face keeps JPush's push object there, to
	// show it as it was sent.
	Source json.RawMessage
}

// storedSpec is the Spec stored with a schedule.
type storedSpec struct {
	Trigger TriggerJSON     `json:"trigger"`
	Push    json.RawMessage `json:"push"`
	Source  json.RawMessage `json:"source,omitempty"`
}

// ReadDef returns the definition of a stored schedule.
func ReadDef(s dataservice.Schedule) (Def, error) {
	var spec storedSpec
	if err := json.Unmarshal(s.Spec, &spec); err != nil {
		return Def{}, fmt.Errorf("gateway: schedule %s of app %s has a corrupt spec: %w", s.ID, s.AppKey, err)
	}
	t, err := spec.Trigger.Trigger()
	if err != nil {
		return Def{}, fmt.Errorf("gateway: schedule %s of app %s has an invalid trigger: %w", s.ID, s.AppKey, err)
	}
	return Def{Name: s.Name, Enabled: s.Enabled, Trigger: t, Push: spec.Push, Source: spec.Source}, nil
}

// check validates a definition for app and returns its Spec and,
// if it is enabled, its first firing from now. An enabled schedule that
// would never fire is an error.
func (sc *Service) check(ctx context.Context, app *dataservice.App, def *Def, now time.Time) (json.RawMessage, *dataservice.ScheduleFiring, error) {
	if def.Name == "" {
		return nil, nil, api.Errorf(http.StatusBadRequest, "missing_field", "name is required: 1 to %d bytes of UTF-8 naming the schedule", dataservice.MaxScheduleNameLen)
	}
	if dataservice.CheckScheduleName(def.Name) != nil {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_field", "name must be 1 to %d bytes of UTF-8 without control characters (tabs, line breaks…); got %d bytes", dataservice.MaxScheduleNameLen, len(def.Name))
	}
	// The stored form is the canonical JSON; what it says is what fires.
	tj := def.Trigger.JSON()
	trig, err := tj.Trigger()
	if err != nil {
		return nil, nil, err // a face built an invalid Trigger
	}
	def.Trigger = trig
	req, err := push.Decode(def.Push)
	if err != nil {
		return nil, nil, api.Prefixed("push: ", err)
	}
	plan, err := sc.limits.Plan(req)
	if err != nil {
		return nil, nil, api.Prefixed("push: ", err)
	}
	if plan.CID != "" {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_field", "push: options.cid is not allowed in a schedule: each firing is sent exactly once already")
	}
	// Fail now, not at the first firing, if the audience names what does
	// not exist (a segment).
	if err := audience.NewResolver(sc.data, app.Key, plan.Audience, audience.LocalTime{}).Prepare(ctx); err != nil {
		return nil, nil, api.Prefixed("push: ", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, def.Push); err != nil {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_json", "push: %v", err)
	}
	// Kept verbatim: escaping '<', '>' and '&' would grow the push past
	// the payload limit it was checked against.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(storedSpec{Trigger: tj, Push: compact.Bytes(), Source: def.Source}); err != nil {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_json", "the schedule cannot be stored: %v", err)
	}
	spec := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(spec) > dataservice.MaxScheduleSpecLen {
		return nil, nil, api.Errorf(http.StatusRequestEntityTooLarge, "request_too_large", "the schedule takes %d bytes; at most %d are allowed", len(spec), dataservice.MaxScheduleSpecLen)
	}
	if !def.Enabled {
		return spec, nil, nil
	}
	f, ok := def.Trigger.First(now)
	if !ok {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_field", "the trigger never fires again: %s; give a time to come (or send \"enabled\": false)", def.Trigger.describeEnd(now))
	}
	return spec, storedFiring(f), nil
}

// storedFiring is f as the store keeps it.
func storedFiring(f Firing) *dataservice.ScheduleFiring {
	return &dataservice.ScheduleFiring{At: f.At, UTCOffset: f.UTCOffset}
}

// describeEnd says why a trigger has no firing from now.
func (t Trigger) describeEnd(now time.Time) string {
	switch {
	case t.Single != nil && t.DeviceLocal:
		return fmt.Sprintf("%s has passed in every time zone", t.Single.Time.Format(wallLayout))
	case t.Single != nil:
		return fmt.Sprintf("%s is in the past (now is %s there)", t.JSON().Single.Time, wallclock.Read(now, t.location()).Format(wallLayout))
	case t.Periodical.End.Before(wallclock.Read(now, t.location())):
		return fmt.Sprintf("its end %s has passed", t.Periodical.End.Format(wallLayout))
	}
	return "no day from start to end matches its points"
}

// newScheduleID returns a random UUID (version 4), the shape of JPush's
// schedule ids.
func newScheduleID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// scheduleIDAttempts bounds the ids tried for a new schedule; two random
// 122-bit ids never collide in practice.
const scheduleIDAttempts = 3

func errUnknownSchedule(id string) error {
	return api.Errorf(http.StatusNotFound, "unknown_schedule", "this app has no schedule with schedule_id %q; GET /v1/schedules lists them", id)
}

// Create validates def and stores it as a new schedule of app.
func (sc *Service) Create(ctx context.Context, app *dataservice.App, def Def) (dataservice.Schedule, error) {
	now := time.Now()
	spec, first, err := sc.check(ctx, app, &def, now)
	if err != nil {
		return dataservice.Schedule{}, err
	}
	s := dataservice.Schedule{AppKey: app.Key, Name: def.Name, Enabled: def.Enabled, Spec: spec, Next: first, AppLimit: max(0, sc.cfg.MaxPerApp)}
	for range scheduleIDAttempts {
		s.ID = newScheduleID()
		var created dataservice.Schedule
		if created, err = sc.data.CreateSchedule(ctx, s); err == nil {
			return created, nil
		}
		if errors.Is(err, dataservice.ErrLimit) {
			return dataservice.Schedule{}, api.Errorf(http.StatusConflict, "too_many_schedules", "this app has %d schedules, the most it may have; delete one before creating another", sc.cfg.MaxPerApp)
		}
		if !errors.Is(err, dataservice.ErrExists) {
			break
		}
	}
	return dataservice.Schedule{}, err
}

// Get returns a schedule of app, or the API's 404.
func (sc *Service) Get(ctx context.Context, app *dataservice.App, id string) (dataservice.Schedule, error) {
	if dataservice.CheckScheduleID(id) != nil {
		return dataservice.Schedule{}, errUnknownSchedule(id)
	}
	s, err := sc.data.Schedule(ctx, app.Key, id)
	if api.IsNotFound(err) || errors.Is(err, dataservice.ErrInvalid) {
		return s, errUnknownSchedule(id)
	}
	return s, err
}

// List returns up to limit schedules of app after the id after,
// and the after of the next page (nil on the last).
func (sc *Service) List(ctx context.Context, app *dataservice.App, after string, limit int) ([]dataservice.Schedule, *string, error) {
	ss, err := sc.data.Schedules(ctx, app.Key, after, limit+1)
	if err != nil {
		return nil, nil, err
	}
	if len(ss) <= limit {
		return ss, nil, nil
	}
	ss = ss[:limit]
	return ss, &ss[limit-1].ID, nil
}

// replaceAttempts bounds the rounds of a replacement racing with firings.
const replaceAttempts = 10

// Replace replaces the definition of a schedule of app; its past
// firings and created time stay. A firing under way completes; the
// firings after it follow the new definition.
func (sc *Service) Replace(ctx context.Context, app *dataservice.App, id string, def Def) (dataservice.Schedule, error) {
	if dataservice.CheckScheduleID(id) != nil {
		return dataservice.Schedule{}, errUnknownSchedule(id)
	}
	now := time.Now()
	spec, first, err := sc.check(ctx, app, &def, now)
	if err != nil {
		return dataservice.Schedule{}, err
	}
	for range replaceAttempts {
		cur, err := sc.Get(ctx, app, id)
		if err != nil {
			return dataservice.Schedule{}, err
		}
		next := cur
		next.Name, next.Enabled, next.Spec, next.Updated = def.Name, def.Enabled, spec, now
		if cur.Next == nil || cur.Next.MsgID == 0 {
			next.Next, next.Owner, next.LeaseUntil = first, "", time.Time{}
		}
		updated, err := sc.data.UpdateSchedule(ctx, next)
		switch {
		case err == nil:
			return updated, nil
		case api.IsNotFound(err):
			return dataservice.Schedule{}, errUnknownSchedule(id)
		case !errors.Is(err, dataservice.ErrGenerationMismatch):
			return dataservice.Schedule{}, err
		}
	}
	return dataservice.Schedule{}, api.Errorf(http.StatusConflict, "conflict", "schedule %s kept changing while it was replaced; retry", id)
}

// Delete deletes a schedule of app. A firing under way completes.
func (sc *Service) Delete(ctx context.Context, app *dataservice.App, id string) error {
	if dataservice.CheckScheduleID(id) != nil {
		return errUnknownSchedule(id)
	}
	existed, err := sc.data.DeleteSchedule(ctx, app.Key, id)
	if err != nil {
		return err
	}
	if !existed {
		return errUnknownSchedule(id)
	}
	return nil
}

// FormatOffset writes a UTC offset in seconds as "+05:30".
func FormatOffset(off *int) string {
	if off == nil {
		return ""
	}
	sign, o := '+', *off
	if o < 0 {
		sign, o = '-', -o
	}
	return fmt.Sprintf("%c%02d:%02d", sign, o/3600, o%3600/60)
}
