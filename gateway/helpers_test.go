package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/connector"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/cluster"
	"github.com/heraldpush/herald/internal/ids"
)

// adminToken is the admin token of every test gateway.
const adminToken = "gateway-test-admin-token"

// Fixed figures the fake cluster answers dispatch requests with.
var (
	testAddresses = []string{"10.0.0.1:5222", "10.0.0.2:5222"}
	testHeartbeat = 25 * time.Second
	testServerKey = bytes.Repeat([]byte{0xA5}, 32)
)

// Connector ids the fake cluster knows.
const (
	connectorA = "conn-a"
	connectorB = "conn-b"
)

// env is a gateway served by an httptest server over a real dataservice on
// a real LevelDB store, with fake connectors and receipts that record what
// the gateway asked of them.
type env struct {
	gw       *gateway.Gateway
	srv      *httptest.Server
	data     *dataservice.Service
	store    *spyStore
	cluster  *fakeCluster
	receipts *fakeReceipts
}

// newEnv starts a gateway with cfg (AdminTokenHash is set to adminToken's)
// that stops when tb ends.
func newEnv(tb testing.TB, cfg gateway.Config) *env {
	tb.Helper()
	ldb, err := leveldb.Open(leveldb.Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("open leveldb: %v", err)
	}
	tb.Cleanup(func() {
		if err := ldb.Close(); err != nil && !errors.Is(err, dataservice.ErrClosed) {
			tb.Errorf("close leveldb: %v", err)
		}
	})
	gen, err := ids.NewGenerator(1)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{
		store:    &spyStore{Store: ldb},
		cluster:  newFakeCluster(connectorA, connectorB),
		receipts: &fakeReceipts{},
	}
	e.data = dataservice.New(e.store)
	cfg.AdminTokenHash = sha256.Sum256([]byte(adminToken))
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	stats := func() any { return map[string]any{"fake": map[string]int{"connections": 7}} }
	system := actor.NewActorSystem()
	e.gw = gateway.New(cfg, gateway.Deps{Data: e.data, Cluster: e.cluster, Receipts: e.receipts, IDs: gen, System: system, Stats: stats})
	tb.Cleanup(func() {
		e.gw.Close()
		system.Shutdown()
	})
	e.srv = httptest.NewServer(e.gw.Handler())
	tb.Cleanup(e.srv.Close)
	return e
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
	proto  int
}

// apiError is the error body every failure carries.
type apiError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// request is one call to the API. Auth is the Authorization header, if any.
type request struct {
	method, path string
	auth         string
	body         io.Reader
	header       map[string]string
}

// do sends req and reads the whole response.
func (e *env) do(tb testing.TB, req request) response {
	tb.Helper()
	return doWith(tb, e.srv.Client(), e.srv.URL, req)
}

func doWith(tb testing.TB, client *http.Client, base string, req request) response {
	tb.Helper()
	r, err := http.NewRequest(req.method, base+req.path, req.body)
	if err != nil {
		tb.Fatalf("new request %s %s: %v", req.method, req.path, err)
	}
	if req.auth != "" {
		r.Header.Set("Authorization", req.auth)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	resp, err := client.Do(r)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.method, req.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body, proto: resp.ProtoMajor}
}

// jsonBody returns v encoded as a request body; strings and byte slices are
// sent as they are.
func jsonBody(tb testing.TB, v any) io.Reader {
	tb.Helper()
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return strings.NewReader(v)
	case []byte:
		return bytes.NewReader(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.NewReader(b)
}

func bearer(token string) string { return "Bearer " + token }

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// decode unmarshals a JSON response body into v, failing on anything else.
func (r response) decode(tb testing.TB, v any) {
	tb.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("Content-Type = %q, want application/json; body %s", ct, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("body is not the expected JSON (%v): %s", err, r.body)
	}
}

// wantOK fails unless r has status and decodes into v (if not nil).
func (r response) wantOK(tb testing.TB, status int, v any) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if v != nil {
		r.decode(tb, v)
	}
}

// wantError fails unless r is a JSON error with status and code whose
// message contains every one of hints, and returns the message.
func (r response) wantError(tb testing.TB, status int, code string, hints ...string) string {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d (%s); body %s", r.status, status, code, r.body)
	}
	var e apiError
	r.decode(tb, &e)
	if e.Error == nil {
		tb.Fatalf("no error object in %s", r.body)
	}
	if e.Error.Code != code {
		tb.Fatalf("error code %q, want %q; message %q", e.Error.Code, code, e.Error.Message)
	}
	if len(e.Error.Message) < 10 {
		tb.Fatalf("error message %q does not say what to fix", e.Error.Message)
	}
	for _, h := range hints {
		if !strings.Contains(e.Error.Message, h) {
			tb.Errorf("error message %q does not mention %q", e.Error.Message, h)
		}
	}
	return e.Error.Message
}

// app is an app's credentials.
type app struct {
	Key    string `json:"app_key"`
	Secret string `json:"master_secret"`
	Name   string `json:"name"`
}

func (a app) auth() string { return basic(a.Key, a.Secret) }

// createApp creates an app through the API.
func (e *env) createApp(tb testing.TB) app {
	tb.Helper()
	var a app
	e.do(tb, request{method: "POST", path: "/v1/apps", auth: bearer(adminToken)}).wantOK(tb, http.StatusCreated, &a)
	return a
}

// device is a registered device.
type device struct {
	RID    string `json:"registration_id"`
	Secret string `json:"device_secret"`
}

// registerDevice registers a device of appKey through the API.
func (e *env) registerDevice(tb testing.TB, appKey string) device {
	tb.Helper()
	var d device
	e.do(tb, request{method: "POST", path: "/v1/devices", body: jsonBody(tb, map[string]string{"app_key": appKey, "platform": "android"})}).
		wantOK(tb, http.StatusCreated, &d)
	return d
}

// registerDevices registers n devices of appKey.
func (e *env) registerDevices(tb testing.TB, appKey string, n int) []string {
	tb.Helper()
	rids := make([]string, n)
	for i := range rids {
		rids[i] = e.registerDevice(tb, appKey).RID
	}
	return rids
}

// connect records a session routing rid to connector id.
func (e *env) connect(tb testing.TB, rid, connectorID string) {
	tb.Helper()
	if _, err := e.data.PutSessions(context.Background(), []dataservice.Session{{RegistrationID: rid, Connector: connectorID, Since: time.Now()}}, time.Hour); err != nil {
		tb.Fatalf("put session: %v", err)
	}
}

// push sends body to /v1/push as a.
func (e *env) push(tb testing.TB, a app, body any) response {
	tb.Helper()
	return e.do(tb, request{method: "POST", path: "/v1/push", auth: a.auth(), body: jsonBody(tb, body)})
}

// pushOK pushes and returns the message id.
func (e *env) pushOK(tb testing.TB, a app, body any) uint64 {
	tb.Helper()
	var out struct {
		MsgID string `json:"msg_id"`
	}
	e.push(tb, a, body).wantOK(tb, http.StatusOK, &out)
	id, err := ids.ParseMessageID(out.MsgID)
	if err != nil {
		tb.Fatalf("msg_id %q is not a decimal id: %v", out.MsgID, err)
	}
	return id
}

// pushBody builds a push request body.
func pushBody(rids []string, content string) map[string]any {
	return map[string]any{
		"audience": map[string]any{"registration_id": rids},
		"message":  map[string]any{"content": content},
	}
}

// message reads a stored message.
func (e *env) message(tb testing.TB, id uint64) dataservice.Message {
	tb.Helper()
	m, err := e.data.Message(context.Background(), id)
	if err != nil {
		tb.Fatalf("message %d: %v", id, err)
	}
	return m
}

// inboxHas reports whether rid has an inbox copy of message id.
func (e *env) inboxHas(tb testing.TB, rid string, id uint64) bool {
	tb.Helper()
	entries, err := e.data.Inbox(context.Background(), rid, 0, 1000)
	if err != nil {
		tb.Fatalf("inbox of %s: %v", rid, err)
	}
	return slices.ContainsFunc(entries, func(en dataservice.InboxEntry) bool { return en.MessageID == id })
}

// inboxLen returns how many copies wait in rid's inbox.
func (e *env) inboxLen(tb testing.TB, rid string) int {
	tb.Helper()
	entries, err := e.data.Inbox(context.Background(), rid, 0, 1000)
	if err != nil {
		tb.Fatalf("inbox of %s: %v", rid, err)
	}
	return len(entries)
}

// spyStore is a real store that counts the writes made through it, so tests
// can check that a rejected request changed nothing, and the reads, so
// they can check what a request looked at.
type spyStore struct {
	dataservice.Store
	mu     sync.Mutex
	writes map[dataservice.Kind]int
	reads  map[dataservice.Kind]int
}

func (s *spyStore) countRead(kind dataservice.Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reads == nil {
		s.reads = map[dataservice.Kind]int{}
	}
	s.reads[kind]++
}

// Reads returns the number of read calls so far, per kind.
func (s *spyStore) Reads() map[dataservice.Kind]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.reads)
}

func (s *spyStore) Get(ctx context.Context, kind dataservice.Kind, key string) (dataservice.Record, error) {
	s.countRead(kind)
	return s.Store.Get(ctx, kind, key)
}

func (s *spyStore) GetMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]dataservice.Record, error) {
	s.countRead(kind)
	return s.Store.GetMany(ctx, kind, keys)
}

func (s *spyStore) Scan(ctx context.Context, kind dataservice.Kind, prefix, after string, limit int) ([]dataservice.Record, error) {
	s.countRead(kind)
	return s.Store.Scan(ctx, kind, prefix, after, limit)
}

func (s *spyStore) ListRange(ctx context.Context, kind dataservice.Kind, key string, start, count int) ([][]byte, error) {
	s.countRead(kind)
	return s.Store.ListRange(ctx, kind, key, start, count)
}

func (s *spyStore) ListAppend(ctx context.Context, kind dataservice.Kind, key string, items [][]byte, opts dataservice.ListOptions) (int, error) {
	s.count(kind, 1)
	return s.Store.ListAppend(ctx, kind, key, items, opts)
}

func (s *spyStore) count(kind dataservice.Kind, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes == nil {
		s.writes = map[dataservice.Kind]int{}
	}
	s.writes[kind] += n
}

// Writes returns the number of records written so far, per kind.
func (s *spyStore) Writes() map[dataservice.Kind]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[dataservice.Kind]int, len(s.writes))
	for k, v := range s.writes {
		out[k] = v
	}
	return out
}

func (s *spyStore) Put(ctx context.Context, kind dataservice.Kind, key string, value []byte, opts dataservice.WriteOptions) (uint32, error) {
	s.count(kind, 1)
	return s.Store.Put(ctx, kind, key, value, opts)
}

func (s *spyStore) PutMany(ctx context.Context, writes []dataservice.Write) error {
	for _, w := range writes {
		s.count(w.Kind, 1)
	}
	return s.Store.PutMany(ctx, writes)
}

func (s *spyStore) Delete(ctx context.Context, kind dataservice.Kind, key string, generation uint32) (bool, error) {
	s.count(kind, 1)
	return s.Store.Delete(ctx, kind, key, generation)
}

func (s *spyStore) DeleteMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]bool, error) {
	s.count(kind, len(keys))
	return s.Store.DeleteMany(ctx, kind, keys)
}

func (s *spyStore) Incr(ctx context.Context, kind dataservice.Kind, key string, deltas []dataservice.Delta, ttl time.Duration) ([]int64, error) {
	s.count(kind, 1)
	return s.Store.Incr(ctx, kind, key, deltas, ttl)
}

// delivery is one Deliver call a fake connector received.
type delivery struct {
	connector string
	msg       dataservice.Message
	rids      []string
}

// fakeCluster knows a fixed set of connectors and answers every dispatch
// with testAddresses, testHeartbeat and testServerKey.
type fakeCluster struct {
	connectors map[string]*fakeConnector

	mu          sync.Mutex
	deliveries  []delivery
	dispatches  []dispatchCall
	withdrawals []uint64
	// addresses overrides testAddresses when set; empty means none.
	addresses *[]string
}

type dispatchCall struct {
	rid    string
	failed []string
}

func newFakeCluster(connectorIDs ...string) *fakeCluster {
	c := &fakeCluster{connectors: map[string]*fakeConnector{}}
	for _, id := range connectorIDs {
		c.connectors[id] = &fakeConnector{id: id, cluster: c}
	}
	return c
}

func (c *fakeCluster) Connector(id string) (connector.Client, bool) {
	fc, ok := c.connectors[id]
	if !ok {
		return nil, false
	}
	return fc, true
}

func (c *fakeCluster) Dispatch(rid string, failed []string) cluster.Dispatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dispatches = append(c.dispatches, dispatchCall{rid: rid, failed: slices.Clone(failed)})
	addrs := testAddresses
	if c.addresses != nil {
		addrs = *c.addresses
	}
	return cluster.Dispatch{Addresses: slices.Clone(addrs), Heartbeat: testHeartbeat, ServerKey: testServerKey}
}

// setAddresses makes Dispatch answer addrs from now on.
func (c *fakeCluster) setAddresses(addrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addresses = &addrs
}

func (c *fakeCluster) Deliveries() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.deliveries)
}

func (c *fakeCluster) Dispatches() []dispatchCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dispatches)
}

// Connectors implements cluster.Cluster, in id order.
func (c *fakeCluster) Connectors() []connector.Client {
	var out []connector.Client
	for _, id := range slices.Sorted(maps.Keys(c.connectors)) {
		out = append(out, c.connectors[id])
	}
	return out
}

func (c *fakeCluster) Withdrawals() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.withdrawals)
}

// fakeConnector records deliveries in its cluster and returns err.
type fakeConnector struct {
	id      string
	cluster *fakeCluster

	mu     sync.Mutex
	err    error
	online int // devices a broadcast finds here
}

func (f *fakeConnector) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Broadcast records a delivery without devices and reports online
// devices of its own.
func (f *fakeConnector) Broadcast(_ context.Context, m *dataservice.Message) (int, error) {
	f.cluster.mu.Lock()
	f.cluster.deliveries = append(f.cluster.deliveries, delivery{connector: f.id, msg: *m})
	f.cluster.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.online, f.err
}

// Online reports the online devices of its own, of every app.
func (f *fakeConnector) Online(context.Context, string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.online, f.err
}

// Withdraw records the withdrawal in its cluster.
func (f *fakeConnector) Withdraw(_ context.Context, id uint64, _ time.Time) error {
	f.cluster.mu.Lock()
	f.cluster.withdrawals = append(f.cluster.withdrawals, id)
	f.cluster.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeConnector) Deliver(_ context.Context, m *dataservice.Message, rids []string) error {
	f.cluster.mu.Lock()
	f.cluster.deliveries = append(f.cluster.deliveries, delivery{connector: f.id, msg: *m, rids: slices.Clone(rids)})
	f.cluster.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// receipt is one Receipts.Add call.
type receipt struct {
	msgID   uint64
	counter dataservice.Counter
	n       int64
}

type fakeReceipts struct {
	mu    sync.Mutex
	added []receipt
}

func (r *fakeReceipts) Add(messageID uint64, c dataservice.Counter, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.added = append(r.added, receipt{messageID, c, n})
}

func (r *fakeReceipts) Added() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.added)
}

// sums returns the receipts of message id summed per counter.
func (r *fakeReceipts) sums(id uint64) map[dataservice.Counter]int64 {
	out := map[dataservice.Counter]int64{}
	for _, a := range r.Added() {
		if a.msgID == id {
			out[a.counter] += a.n
		}
	}
	return out
}

// sideEffects is what the gateway has done so far outside its response.
type sideEffects struct {
	writes     map[dataservice.Kind]int
	deliveries int
	receipts   int
}

func (e *env) sideEffects() sideEffects {
	return sideEffects{writes: e.store.Writes(), deliveries: len(e.cluster.Deliveries()), receipts: len(e.receipts.Added())}
}

// wantNoChange fails if the gateway wrote, delivered or counted anything
// since before.
func (e *env) wantNoChange(tb testing.TB, before sideEffects) {
	tb.Helper()
	after := e.sideEffects()
	for kind, n := range after.writes {
		if n != before.writes[kind] {
			tb.Errorf("%d records of kind %v written; a rejected request must change nothing", n-before.writes[kind], kind)
		}
	}
	if after.deliveries != before.deliveries {
		tb.Errorf("%d deliveries to connectors; a rejected request must send nothing", after.deliveries-before.deliveries)
	}
	if after.receipts != before.receipts {
		tb.Errorf("%d receipts added; a rejected request must count nothing", after.receipts-before.receipts)
	}
}
