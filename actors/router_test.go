package actors_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// fakeConnector records what the router hands it.
type fakeConnector struct {
	id     string
	err    error // every call fails with it
	online int   // what Broadcast reports

	// hold, if set, is called at the start of every call and may block it.
	hold func(m *dataservice.Message)

	mu         sync.Mutex
	deliveries []delivery
	broadcasts []uint64
	withdrawn  []withdrawal
}

type delivery struct {
	id   uint64
	rids []string
}

type withdrawal struct {
	id      uint64
	expires time.Time
}

func (c *fakeConnector) Deliver(_ context.Context, m *dataservice.Message, rids []string) error {
	if c.hold != nil {
		c.hold(m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deliveries = append(c.deliveries, delivery{id: m.ID, rids: slices.Clone(rids)})
	return c.err
}

func (c *fakeConnector) Broadcast(_ context.Context, m *dataservice.Message) (int, error) {
	if c.hold != nil {
		c.hold(m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broadcasts = append(c.broadcasts, m.ID)
	if c.err != nil {
		return 0, c.err
	}
	return c.online, nil
}

func (c *fakeConnector) Online(context.Context, string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.online, c.err
}

func (c *fakeConnector) Withdraw(_ context.Context, id uint64, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.withdrawn = append(c.withdrawn, withdrawal{id: id, expires: expires})
	return c.err
}

// delivered returns the devices handed message id, sorted.
func (c *fakeConnector) delivered(id uint64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, d := range c.deliveries {
		if d.id == id {
			out = append(out, d.rids...)
		}
	}
	slices.Sort(out)
	return out
}

// order returns the messages delivered, in call order.
func (c *fakeConnector) order() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint64
	for _, d := range c.deliveries {
		out = append(out, d.id)
	}
	return out
}

// fakeRoutes is a cluster of fake connectors; "gone" connectors are named
// in sessions but are no members.
type fakeRoutes []*fakeConnector

func (r fakeRoutes) Connector(id string) (actors.Connector, bool) {
	for _, c := range r {
		if c.id == id {
			return c, true
		}
	}
	return nil, false
}

func (r fakeRoutes) Connectors() []actors.Connector {
	out := make([]actors.Connector, len(r))
	for i, c := range r {
		out[i] = c
	}
	return out
}

type routerHarness struct {
	t        *testing.T
	system   *actor.ActorSystem
	data     *dataservice.Service
	receipts *receipts
	router   *actor.PID
}

func newRouterHarness(t *testing.T, routes fakeRoutes, mod func(*actors.RouterConfig)) *routerHarness {
	t.Helper()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := &routerHarness{t: t, data: dataservice.New(store), receipts: &receipts{}, system: newSystem(t)}
	cfg := actors.RouterConfig{Data: h.data, Routes: routes, Receipts: h.receipts, Log: discardLog()}
	if mod != nil {
		mod(&cfg)
	}
	h.router = actors.SpawnRouter(h.system, cfg)
	return h
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newSystem starts an actor system that is shut down with the test.
func newSystem(t *testing.T) *actor.ActorSystem {
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return discardLog()
	})))
	t.Cleanup(system.Shutdown)
	return system
}

// connect records sessions of rids on connector id.
func (h *routerHarness) connect(id string, rids ...string) {
	h.t.Helper()
	ss := make([]dataservice.Session, len(rids))
	for i, rid := range rids {
		ss[i] = dataservice.Session{RegistrationID: rid, Connector: id, Since: time.Now()}
	}
	if _, err := h.data.PutSessions(context.Background(), ss, time.Hour); err != nil {
		h.t.Fatal(err)
	}
}

// request sends req to the router and returns a future of its answer.
func (h *routerHarness) request(req any) *actor.Future {
	return h.system.Root.RequestFuture(h.router, req, 10*time.Second)
}

func answer[T any](t *testing.T, f *actor.Future) T {
	t.Helper()
	res, err := f.Result()
	if err != nil {
		t.Fatal(err)
	}
	a, ok := res.(T)
	if !ok {
		t.Fatalf("answer %T %+v, want %T", res, res, *new(T))
	}
	return a
}

var errConnector = errors.New("connector unreachable")

func TestRouteCountsOnlineAndOfflineDevices(t *testing.T) {
	tests := []struct {
		name        string
		ttl         time.Duration
		replay      bool
		wantCounter dataservice.Counter // what offline devices count as; "" for nothing
	}{
		{"message with a TTL", time.Hour, false, dataservice.CounterStoredOffline},
		{"online-only message", 0, false, dataservice.CounterExpired},
		{"replayed page", time.Hour, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1 := &fakeConnector{id: "c1"}
			c2 := &fakeConnector{id: "c2"}
			bad := &fakeConnector{id: "bad", err: errConnector}
			h := newRouterHarness(t, fakeRoutes{c1, c2, bad}, nil)
			h.connect("c1", "d1", "d2")
			h.connect("c2", "d3")
			h.connect("bad", "d4", "d5")
			h.connect("gone", "d6") // a connector that left the cluster
			// d7 has no session: offline.
			m := &dataservice.Message{ID: 42, AppKey: testApp, TTL: tt.ttl, Created: time.Now()}
			r := answer[*actors.Routed](t, h.request(&actors.Route{Msg: m, RIDs: []string{"d1", "d2", "d3", "d4", "d5", "d6", "d7"}, Replay: tt.replay}))
			if r.Online != 3 || r.Offline != 4 {
				t.Fatalf("routed %d online, %d offline; want 3 and 4", r.Online, r.Offline)
			}
			if !errors.Is(r.Err, errConnector) {
				t.Fatalf("Err = %v, want the failing connector's", r.Err)
			}
			for c, want := range map[*fakeConnector][]string{c1: {"d1", "d2"}, c2: {"d3"}, bad: {"d4", "d5"}} {
				if got := c.delivered(m.ID); !slices.Equal(got, want) {
					t.Errorf("connector %s was handed %v, want %v", c.id, got, want)
				}
			}
			for _, c := range []dataservice.Counter{dataservice.CounterStoredOffline, dataservice.CounterExpired} {
				want := int64(0)
				if c == tt.wantCounter {
					want = 4
				}
				if got := h.receipts.get(m.ID, c); got != want {
					t.Errorf("%s counted %d, want %d", c, got, want)
				}
			}
		})
	}
}

// A page whose devices are all on one connector (a unicast, most often) is
// handed over on the job's own goroutine; it counts as a spread page does.
func TestRouteToOneConnector(t *testing.T) {
	tests := []struct {
		name                string
		connector           string
		wantOnline, wantOff int
		wantErr             error
		wantHanded          []string
	}{
		{"its connector takes them", "c1", 2, 0, nil, []string{"d1", "d2"}},
		{"its connector fails", "bad", 0, 2, errConnector, []string{"d1", "d2"}},
		{"its connector left the cluster", "gone", 0, 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1 := &fakeConnector{id: "c1"}
			bad := &fakeConnector{id: "bad", err: errConnector}
			h := newRouterHarness(t, fakeRoutes{c1, bad}, nil)
			h.connect(tt.connector, "d1", "d2")
			m := &dataservice.Message{ID: 7, AppKey: testApp, TTL: time.Hour, Created: time.Now()}
			r := answer[*actors.Routed](t, h.request(&actors.Route{Msg: m, RIDs: []string{"d1", "d2"}}))
			if r.Online != tt.wantOnline || r.Offline != tt.wantOff || !errors.Is(r.Err, tt.wantErr) {
				t.Fatalf("routed %d online, %d offline, err %v; want %d, %d, %v", r.Online, r.Offline, r.Err, tt.wantOnline, tt.wantOff, tt.wantErr)
			}
			handed := append(c1.delivered(m.ID), bad.delivered(m.ID)...)
			if !slices.Equal(handed, tt.wantHanded) {
				t.Errorf("connectors were handed %v, want %v", handed, tt.wantHanded)
			}
			if got := h.receipts.get(m.ID, dataservice.CounterStoredOffline); got != int64(tt.wantOff) {
				t.Errorf("stored_offline counted %d, want %d", got, tt.wantOff)
			}
		})
	}
}

func TestRouteWithoutSessionsCountsEveryDeviceOffline(t *testing.T) {
	c1 := &fakeConnector{id: "c1"}
	h := newRouterHarness(t, fakeRoutes{c1}, nil)
	m := &dataservice.Message{ID: 7, AppKey: testApp, TTL: time.Hour, Created: time.Now()}
	r := answer[*actors.Routed](t, h.request(&actors.Route{Msg: m, RIDs: []string{"a", "b"}}))
	if r.Online != 0 || r.Offline != 2 || r.Err != nil {
		t.Fatalf("routed %+v, want 2 offline and no error", r)
	}
	if got := c1.order(); len(got) != 0 {
		t.Fatalf("a connector was called for offline devices: %v", got)
	}
	if got := h.receipts.get(m.ID, dataservice.CounterStoredOffline); got != 2 {
		t.Fatalf("stored_offline %d, want 2", got)
	}
}

// gate blocks the calls of a connector for one message until opened.
type gate struct {
	id      uint64
	entered chan struct{}
	open    chan struct{}
}

func newGate(id uint64) *gate {
	return &gate{id: id, entered: make(chan struct{}, 1), open: make(chan struct{})}
}

func (g *gate) hold(m *dataservice.Message) {
	if m.ID != g.id {
		return
	}
	g.entered <- struct{}{}
	<-g.open
}

// wait returns once a call for the gate's message is held.
func (g *gate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the gated call never came")
	}
}

func TestHighPriorityRequestsAreServedFirst(t *testing.T) {
	g := newGate(1)
	c1 := &fakeConnector{id: "c1", hold: g.hold}
	h := newRouterHarness(t, fakeRoutes{c1}, func(c *actors.RouterConfig) { c.Parallel = 1 })
	h.connect("c1", "d1")
	route := func(id uint64, p dataservice.Priority) *actor.Future {
		m := &dataservice.Message{ID: id, AppKey: testApp, TTL: time.Hour, Created: time.Now(), Priority: p}
		return h.request(&actors.Route{Msg: m, RIDs: []string{"d1"}})
	}
	first := route(1, dataservice.PriorityNormal)
	g.wait(t) // the only job slot is taken: what follows queues
	queued := []*actor.Future{
		route(2, dataservice.PriorityNormal),
		route(3, dataservice.PriorityHigh),
		route(4, dataservice.PriorityNormal),
		route(5, dataservice.PriorityHigh),
	}
	withdrawn := h.request(&actors.Withdraw{ID: 6})
	close(g.open)
	for _, f := range append([]*actor.Future{first}, queued...) {
		if r := answer[*actors.Routed](t, f); r.Online != 1 || r.Err != nil {
			t.Fatalf("routed %+v", r)
		}
	}
	answer[*actors.Withdrawn](t, withdrawn)
	if got, want := c1.order(), []uint64{1, 3, 5, 2, 4}; !slices.Equal(got, want) {
		t.Fatalf("delivered in order %v, want %v: high priority first, then arrival", got, want)
	}
	c1.mu.Lock()
	defer c1.mu.Unlock()
	if len(c1.withdrawn) != 1 || c1.withdrawn[0].id != 6 {
		t.Fatalf("withdrawals %v", c1.withdrawn)
	}
}

func TestFullQueueAnswersBusy(t *testing.T) {
	g := newGate(1)
	c1 := &fakeConnector{id: "c1", hold: g.hold, online: 3}
	h := newRouterHarness(t, fakeRoutes{c1}, func(c *actors.RouterConfig) {
		c.Parallel = 1
		c.MaxQueue = 2
	})
	h.connect("c1", "d1", "d2")
	msg := func(id uint64, ttl time.Duration) *dataservice.Message {
		return &dataservice.Message{ID: id, AppKey: testApp, TTL: ttl, Created: time.Now(), Broadcast: id == 3}
	}
	running := h.request(&actors.Route{Msg: msg(1, time.Hour), RIDs: []string{"d1"}})
	g.wait(t)
	queued := []*actor.Future{
		h.request(&actors.Route{Msg: msg(2, time.Hour), RIDs: []string{"d1"}}),
		h.request(&actors.Fanout{Msg: msg(3, time.Hour)}),
	}
	// The queue is full: each kind of request is turned away at once,
	// while the running job still holds the only slot.
	busyRoute := answer[*actors.Routed](t, h.request(&actors.Route{Msg: msg(4, time.Hour), RIDs: []string{"d1", "d2"}}))
	if !errors.Is(busyRoute.Err, actors.ErrRouterBusy) || busyRoute.Online != 0 || busyRoute.Offline != 2 {
		t.Fatalf("route past the queue bound answered %+v, want both devices offline and ErrRouterBusy", busyRoute)
	}
	busyOnline := answer[*actors.Routed](t, h.request(&actors.Route{Msg: msg(5, 0), RIDs: []string{"d1"}}))
	if !errors.Is(busyOnline.Err, actors.ErrRouterBusy) {
		t.Fatalf("answered %+v", busyOnline)
	}
	if f := answer[*actors.FannedOut](t, h.request(&actors.Fanout{Msg: msg(6, time.Hour)})); !errors.Is(f.Err, actors.ErrRouterBusy) {
		t.Fatalf("fanout past the queue bound answered %+v", f)
	}
	if w := answer[*actors.Withdrawn](t, h.request(&actors.Withdraw{ID: 7})); !errors.Is(w.Err, actors.ErrRouterBusy) {
		t.Fatalf("withdraw past the queue bound answered %+v", w)
	}
	// The devices turned away wait in their inbox (or, online-only, are
	// lost): the report says so.
	if got := h.receipts.get(4, dataservice.CounterStoredOffline); got != 2 {
		t.Errorf("turned-away route counted %d stored_offline, want 2", got)
	}
	if got := h.receipts.get(5, dataservice.CounterExpired); got != 1 {
		t.Errorf("turned-away online-only route counted %d expired, want 1", got)
	}
	close(g.open)
	if r := answer[*actors.Routed](t, running); r.Online != 1 || r.Err != nil {
		t.Fatalf("running job answered %+v", r)
	}
	if r := answer[*actors.Routed](t, queued[0]); r.Online != 1 || r.Err != nil {
		t.Fatalf("queued route answered %+v", r)
	}
	if f := answer[*actors.FannedOut](t, queued[1]); f.Online != 3 || f.Err != nil {
		t.Fatalf("queued fanout answered %+v", f)
	}
	if got := c1.order(); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("delivered %v: a request turned away reached a connector", got)
	}
}

func TestFanoutSumsOnlineDevicesAndFailures(t *testing.T) {
	routes := fakeRoutes{
		{id: "c1", online: 5},
		{id: "c2", online: 7},
		{id: "c3", err: errConnector},
		{id: "c4", online: 0},
	}
	h := newRouterHarness(t, routes, nil)
	m := &dataservice.Message{ID: 9, AppKey: testApp, TTL: time.Hour, Created: time.Now(), Broadcast: true}
	f := answer[*actors.FannedOut](t, h.request(&actors.Fanout{Msg: m}))
	if f.Online != 12 || f.Failed != 1 || !errors.Is(f.Err, errConnector) {
		t.Fatalf("fanned out %+v, want 12 online, 1 failed, the connector's error", f)
	}
	for _, c := range routes {
		c.mu.Lock()
		if !slices.Equal(c.broadcasts, []uint64{9}) {
			t.Errorf("connector %s got broadcasts %v", c.id, c.broadcasts)
		}
		c.mu.Unlock()
	}
	// The router does not count a broadcast's offline devices: only the
	// task knows how many devices it was for.
	if got := h.receipts.get(9, dataservice.CounterStoredOffline); got != 0 {
		t.Fatalf("router counted %d stored_offline for a broadcast", got)
	}
}

func TestWithdrawReachesEveryConnector(t *testing.T) {
	routes := fakeRoutes{{id: "c1"}, {id: "c2", err: errConnector}, {id: "c3"}}
	h := newRouterHarness(t, routes, nil)
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	w := answer[*actors.Withdrawn](t, h.request(&actors.Withdraw{ID: 11, Expires: expires}))
	if !errors.Is(w.Err, errConnector) {
		t.Fatalf("Err = %v, want the failing connector's", w.Err)
	}
	for _, c := range routes {
		c.mu.Lock()
		if len(c.withdrawn) != 1 || c.withdrawn[0].id != 11 || !c.withdrawn[0].expires.Equal(expires) {
			t.Errorf("connector %s got withdrawals %v", c.id, c.withdrawn)
		}
		c.mu.Unlock()
	}
}

func TestParallelBoundsJobsRunning(t *testing.T) {
	const parallel, jobs = 3, 12
	var (
		mu            sync.Mutex
		running, peak int
	)
	release := make(chan struct{})
	entered := make(chan struct{}, jobs)
	c1 := &fakeConnector{id: "c1", hold: func(*dataservice.Message) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
	}}
	h := newRouterHarness(t, fakeRoutes{c1}, func(c *actors.RouterConfig) { c.Parallel = parallel })
	h.connect("c1", "d1")
	var futures []*actor.Future
	for i := range jobs {
		m := &dataservice.Message{ID: uint64(100 + i), AppKey: testApp, TTL: time.Hour, Created: time.Now()}
		futures = append(futures, h.request(&actors.Route{Msg: m, RIDs: []string{"d1"}}))
	}
	waitEntered := func() {
		t.Helper()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("a job never started")
		}
	}
	// Fill every slot, then free one at a time: each freed slot lets
	// exactly one more job start.
	for range parallel {
		waitEntered()
	}
	for range jobs - parallel {
		release <- struct{}{}
		waitEntered()
	}
	for range parallel {
		release <- struct{}{}
	}
	for _, f := range futures {
		answer[*actors.Routed](t, f)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak != parallel {
		t.Fatalf("%d jobs ran at once, Parallel is %d", peak, parallel)
	}
}
