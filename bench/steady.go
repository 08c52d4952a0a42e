package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
)

// Steady: every device sends an upstream message (sdk.Client.Send) in the
// seconds t with t mod period == device mod period (fleet.UpstreamPlan),
// so that the whole fleet sends devices/period messages every second with
// no coordination between the processes holding the devices. The app's
// webhook is a server of the bench's own; the latency of a message is from
// the device's Send to the webhook's receipt, and each (device, round)
// must arrive once.

// steadyShape returns the period and rounds of a Steady run of o: the
// period that makes devices/period closest to Rate, and the rounds that
// fill Duration.
func (o *Options) steadyShape() (period, rounds int) {
	period = max(1, int(float64(o.Devices)/float64(o.Rate)+0.5))
	rounds = max(1, int((o.Duration+time.Duration(period)*time.Second/2)/(time.Duration(period)*time.Second)))
	return period, rounds
}

// webhookSink is the app backend of a Steady run: it verifies each
// delivery's signature and counts the messages in the fleet.
type webhookSink struct {
	fleet *countedFleet
	// secret is the signing secret, known once the webhook is set: the
	// server may already be serving (a stray call is refused).
	secret atomic.Pointer[string]
	rounds int
	rids   map[string]int // registration id → global device index
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	// badSignatures counts deliveries whose signature did not verify;
	// deliveries and messages the calls taken and the messages in them.
	badSignatures, deliveries, messages atomic.Int64
}

// startWebhookSink listens on addr (host:port; port 0 picks one) and
// serves deliveries to f until close.
func startWebhookSink(addr string, f *countedFleet, rounds int) (*webhookSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for the webhook on %s: %w", addr, err)
	}
	s := &webhookSink{fleet: f, rounds: rounds, rids: make(map[string]int, f.size()), ln: ln, done: make(chan struct{})}
	for i, c := range f.creds {
		s.rids[c.RegistrationID] = i
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// url is the webhook URL to give the gateway.
func (s *webhookSink) url() string { return "http://" + s.ln.Addr().String() + "/herald" }

func (s *webhookSink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// webhookDelivery is the body of a webhook call (docs/webhooks.md).
type webhookDelivery struct {
	AppKey   string `json:"app_key"`
	Messages []struct {
		RegistrationID string `json:"registration_id"`
		ID             string `json:"id"`
		Data           []byte `json:"data"`
	} `json:"messages"`
}

// ServeHTTP takes one delivery: 204 once counted, 401 for a bad signature
// (the gateway then retries: a bench that counts it as a failure must
// not also lose it), 400 for a body that is not a delivery.
func (s *webhookSink) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now().UnixNano()
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	secret := s.secret.Load()
	if secret == nil || !verifySignature(*secret, req.Header.Get("X-Herald-Timestamp"), req.Header.Get("X-Herald-Signature"), body) {
		s.badSignatures.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var d webhookDelivery
	if err := json.Unmarshal(body, &d); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.deliveries.Add(1)
	s.messages.Add(int64(len(d.Messages)))
	f := s.fleet
	for _, m := range d.Messages {
		st, ok := fleet.ParseStamp(m.Data)
		dev, known := s.rids[m.RegistrationID]
		if !ok || !known || st.Device != dev || st.Seq >= s.rounds {
			f.webhookInvalid.Add(1)
			msg := fmt.Sprintf("webhook: message %s of %s with data %q", m.ID, m.RegistrationID, m.Data)
			f.firstWebhookInvalid.CompareAndSwap(nil, &msg)
			continue
		}
		f.record(fleet.Arrival{Device: dev, Seq: st.Seq, Sent: st.Sent, At: at})
	}
	w.WriteHeader(http.StatusNoContent)
}

// verifySignature checks X-Herald-Signature ("v1=" and the hex
// HMAC-SHA256 of the timestamp, a dot and the body) as an app backend
// does.
func verifySignature(secret, timestamp, signature string, body []byte) bool {
	if _, err := strconv.ParseInt(timestamp, 10, 64); err != nil {
		return false
	}
	got, ok := strings.CutPrefix(signature, "v1=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// steady is the Steady scenario: devices send upstream messages at Rate
// per second for Duration; the run's webhook receives them. It reports
// sent (Sends started), acked (acknowledged by the connector: stored),
// delivered (distinct messages at the webhook), lost (sent but never at
// the webhook within Timeout after the last send), duplicates (repeats at
// the webhook) and the latency from Send to the webhook.
func (r *run) steady(ctx context.Context) (Result, error) {
	start, err := r.start(ctx)
	if err != nil {
		return Result{}, err
	}
	period, rounds := r.opts.steadyShape()
	f, err := r.setup(ctx, rounds)
	if err != nil {
		return Result{}, err
	}
	defer f.held.Close()
	sink, err := startWebhookSink(r.opts.WebhookListen, f, rounds)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	defer sink.close()
	secret, err := r.api.setWebhook(ctx, sink.url())
	if err != nil {
		return Result{}, setupError("setting the app's webhook", err)
	}
	sink.secret.Store(&secret)
	failed, err := r.connect(ctx, f)
	if err != nil {
		return Result{}, err
	}

	r.setPhase("steady")
	// Two seconds ahead, so that every worker has the plan before its
	// first second.
	plan := fleet.UpstreamPlan{T0: time.Now().Unix() + 2, Period: period, Rounds: rounds}
	plan.GiveUp = time.Unix(plan.End(), 0).Add(r.opts.Timeout).UnixNano()
	// Its errors are reported as "upstream".
	f.held.Upstream(ctx, plan)
	if f.workers != nil {
		// The workers run the plan themselves; wait for its end.
		if err := sleep(ctx, time.Until(time.Unix(plan.End(), 0))); err != nil {
			return Result{}, err
		}
	}
	r.setPhase("deliver")
	var st fleetStats
	waitFor(ctx, time.Now().Add(r.opts.Timeout), 20*time.Millisecond, func() bool {
		f.held.Sync(ctx)
		st = f.stats()
		return st.UpSent > 0 && st.UpAcked+st.UpErrors >= st.UpSent && st.Received >= st.UpAcked
	})
	f.held.Sync(ctx)
	st = f.stats()
	var res Result
	res.Messages = rounds
	res.Rate = (r.opts.Devices + period - 1) / period
	res.Sent = st.UpSent
	res.Acked = st.UpAcked
	res.Delivered = st.Received
	res.Lost = max(0, st.UpSent-st.Received)
	res.HandlerDuplicates = st.HandlerDuplicates
	res.Duplicates = st.HandlerDuplicates
	res.P50Ms = millis(f.latency.quantile(0.50))
	res.P99Ms = millis(f.latency.quantile(0.99))
	res.MaxMs = millis(f.latency.maxValue())
	from := time.Unix(plan.T0, 0).UnixNano()
	res.PerSec = rate(st.Received, from, max(st.LastDelivery, time.Unix(plan.End(), 0).UnixNano()))
	res.PushesPerSec = rate(st.UpSent, from, time.Unix(plan.End(), 0).UnixNano())
	res.Errors = int64(failed) + st.UpErrors + st.Invalid + sink.badSignatures.Load()
	if st.Invalid > 0 {
		if m := f.firstInvalid(); m != "" {
			r.printf("herald-bench: %d webhook messages were not the bench's: the first: %s", st.Invalid, m)
		}
	}
	if n := sink.badSignatures.Load(); n > 0 {
		r.printf("herald-bench: %d webhook deliveries had a signature that did not verify", n)
	}
	if d := sink.deliveries.Load(); d > 0 {
		res.WebhookBatch = round3(float64(sink.messages.Load()) / float64(d))
	}
	r.finish(ctx, &res, start, st)
	return res, ctx.Err()
}

// errNoSecret means the gateway set the webhook without a signing secret.
var errNoSecret = errors.New("PUT /v1/webhook answered without a secret")

// setWebhook sets the run's app's webhook and returns its signing secret.
func (a *api) setWebhook(ctx context.Context, url string) (string, error) {
	body, _ := json.Marshal(map[string]string{"url": url})
	var out struct {
		Secret string `json:"secret"`
	}
	if err := a.do(ctx, http.MethodPut, "/v1/webhook", a.appAuth, body, &out); err != nil {
		return "", err
	}
	if out.Secret == "" {
		return "", errNoSecret
	}
	return out.Secret, nil
}
