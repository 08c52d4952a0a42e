package dataservice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/metrics"
)

// The invalidation stream keeps the caches of other processes correct. A
// Source wraps the Store of a dataservice instance: after each write of a
// cached kind it publishes the key and new generation to every subscribed
// follower (a process that keeps a cache fed by the stream, such as a
// gateway or a connector through remote.CacheFollower) and waits until
// each one acknowledges that it dropped the key, so once a write returns,
// no cache anywhere serves the value it replaced.
//
// A follower that does not acknowledge within the lease is cut off; its
// stream ends, and the write waits out twice the lease, by which time the
// follower has stopped serving from its cache (it serves only while it
// hears from every source at least once per lease).

// Invalidation names one written record.
type Invalidation struct {
	Seq        uint64 // position in the source's stream, from 1, consecutive
	Kind       Kind
	Key        string
	Generation uint32 // the record's new generation; 0 for a deletion
}

// InvalidationConfig configures a Source. Zero fields take the defaults.
type InvalidationConfig struct {
	// Lease is how long a follower may serve cached values after it last
	// heard from the source. Zero means 500ms.
	Lease time.Duration
	// Heartbeat is how often the source tells idle followers it is alive.
	// Zero means Lease/5.
	Heartbeat time.Duration
	// Backlog bounds the invalidations queued for one follower; a follower that
	// falls this far behind is cut off. Zero means 65536.
	Backlog int
}

func (c InvalidationConfig) withDefaults() InvalidationConfig {
	if c.Lease <= 0 {
		c.Lease = 500 * time.Millisecond
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = c.Lease / 5
	}
	if c.Backlog <= 0 {
		c.Backlog = 1 << 16
	}
	return c
}

// CachedKinds are the record kinds processes cache: read on hot paths,
// written rarely. Writes of other kinds publish nothing.
var CachedKinds = map[Kind]bool{KindApp: true, KindDevice: true, KindSession: true, KindMessage: true, KindConfig: true}

// Source is a Store that publishes its writes of cached kinds to
// subscribed followers and waits for them. It is safe for concurrent use.
//
// A Put that creates its record publishes nothing: no follower can have
// cached a record that did not exist, since caches keep only records that
// exist (CachedStore never caches a miss). A record that had expired
// counts as absent; a follower whose clock lags the dataservice's may serve
// it for that lag, as it would without the write.
type Source struct {
	Store
	cfg InvalidationConfig
	id  string

	mu   sync.Mutex
	seq  uint64
	subs map[*Subscription]struct{}
}

// NewSource wraps store. The source's id is random, so followers notice a
// restart (a new stream with new sequence numbers).
func NewSource(store Store, cfg InvalidationConfig) *Source {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Source{Store: store, cfg: cfg.withDefaults(), id: hex.EncodeToString(b), subs: make(map[*Subscription]struct{})}
}

// ID identifies this run of the source.
func (s *Source) ID() string { return s.id }

// Config returns the source's configuration.
func (s *Source) Config() InvalidationConfig { return s.cfg }

// Subscription is one follower's stream of invalidations.
type Subscription struct {
	// C delivers batches of invalidations in order. It is closed when the
	// subscription is cut off (the follower must then drop its cache).
	C <-chan []Invalidation
	// Start is the sequence number the stream starts after.
	Start uint64

	src *Source
	c   chan []Invalidation

	mu       sync.Mutex
	acked    uint64
	dead     bool
	lastSent time.Time     // when a frame last went out: the follower's lease runs from there
	changed  chan struct{} // closed on every ack and on death
}

// Subscribe starts a follower's stream. The follower must drop everything it
// cached before, then acknowledge what it processes with Ack, and call
// Close when it goes away.
func (s *Source) Subscribe() *Subscription {
	c := make(chan []Invalidation, s.cfg.Backlog)
	s.mu.Lock()
	sub := &Subscription{C: c, c: c, src: s, Start: s.seq, acked: s.seq, lastSent: time.Now(), changed: make(chan struct{})}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

// EndSubscriptions ends every subscription: followers drop their caches
// and reconnect (to another instance, or to this one when it is back).
// Writes keep publishing to followers that subscribe later.
func (s *Source) EndSubscriptions() {
	s.mu.Lock()
	subs := make([]*Subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.Close()
	}
}

// Seq returns the source's latest sequence number, for heartbeats: a
// follower that has processed less than a heartbeat's seq missed something.
func (s *Source) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Ack records that the follower processed every invalidation up to seq.
func (sub *Subscription) Ack(seq uint64) {
	sub.mu.Lock()
	if seq > sub.acked && !sub.dead {
		sub.acked = seq
		close(sub.changed)
		sub.changed = make(chan struct{})
	}
	sub.mu.Unlock()
}

// Sent records that a frame (invalidations or heartbeat) reached the wire.
func (sub *Subscription) Sent(at time.Time) {
	sub.mu.Lock()
	sub.lastSent = at
	sub.mu.Unlock()
}

// Close ends the subscription (the follower went away or is cut off).
func (sub *Subscription) Close() {
	sub.src.mu.Lock()
	_, live := sub.src.subs[sub]
	delete(sub.src.subs, sub)
	if live {
		close(sub.c)
	}
	sub.src.mu.Unlock()
	sub.mu.Lock()
	if !sub.dead {
		sub.dead = true
		close(sub.changed)
	}
	sub.mu.Unlock()
}

// publish assigns sequence numbers to the written records and queues them
// for every follower; it returns the followers to wait for and the last seq.
func (s *Source) publish(inv []Invalidation) ([]*Subscription, uint64) {
	s.mu.Lock()
	for i := range inv {
		s.seq++
		inv[i].Seq = s.seq
	}
	last := s.seq
	subs := make([]*Subscription, 0, len(s.subs))
	var slow []*Subscription
	for sub := range s.subs {
		select {
		case sub.c <- inv:
			subs = append(subs, sub)
		default:
			slow = append(slow, sub) // its backlog is full
		}
	}
	s.mu.Unlock()
	for _, sub := range slow {
		sub.Close()
		subs = append(subs, sub) // still waited out: it may be serving
	}
	return subs, last
}

// await waits until every follower acknowledged seq, or was cut off and its
// lease has run out.
func (s *Source) await(ctx context.Context, subs []*Subscription, seq uint64) error {
	for _, sub := range subs {
		deadline := time.NewTimer(s.cfg.Lease)
		for {
			sub.mu.Lock()
			acked, dead, changed, lastSent := sub.acked >= seq, sub.dead, sub.changed, sub.lastSent
			sub.mu.Unlock()
			if acked {
				break
			}
			if dead {
				// The follower serves at most a lease past what it last
				// received; wait twice that past the last frame sent.
				if wait := time.Until(lastSent.Add(2 * s.cfg.Lease)); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						deadline.Stop()
						return fmt.Errorf("dataservice: waiting for caches to drop a written key: %w", ctx.Err())
					}
				}
				break
			}
			select {
			case <-changed:
			case <-deadline.C:
				sub.Close() // too slow: cut it off, then wait its lease out
				followersCut.Inc()
			case <-ctx.Done():
				deadline.Stop()
				return fmt.Errorf("dataservice: waiting for caches to drop a written key: %w", ctx.Err())
			}
		}
		deadline.Stop()
	}
	return nil
}

// invalidate publishes and waits, for the writes of cached kinds.
func (s *Source) invalidate(ctx context.Context, inv []Invalidation) error {
	if len(inv) == 0 {
		return nil
	}
	subs, seq := s.publish(inv)
	invalidationsPublished.Add(len(inv))
	if len(subs) == 0 {
		return nil
	}
	start := metrics.Now()
	err := s.await(ctx, subs, seq)
	invalidationSeconds.Since(start)
	return err
}

// Put implements Store. An unconditional Put of a cached kind first tries
// to create the record, which needs no invalidation; only if the record
// exists is it replaced, and the replacement invalidated. A device's
// first session is such a create: a storm of new devices into a cluster
// then waits for no cache. A Fresh write is a create by its caller's word.
func (s *Source) Put(ctx context.Context, kind Kind, key string, value []byte, opts WriteOptions) (uint32, error) {
	if !CachedKinds[kind] || opts.Fresh {
		return s.Store.Put(ctx, kind, key, value, opts)
	}
	if !opts.CreateOnly && opts.Generation == 0 {
		create := opts
		create.CreateOnly = true
		gen, err := s.Store.Put(ctx, kind, key, value, create)
		if !errors.Is(err, ErrExists) {
			return gen, err
		}
	}
	gen, err := s.Store.Put(ctx, kind, key, value, opts)
	if err == nil && !opts.CreateOnly {
		err = s.invalidate(ctx, []Invalidation{{Kind: kind, Key: key, Generation: gen}})
	}
	return gen, err
}

// PutMany implements Store. Keys of cached kinds are invalidated whether
// or not their write succeeded: a partial failure must not leave a follower
// serving what one of them replaced.
func (s *Source) PutMany(ctx context.Context, writes []Write) error {
	err := s.Store.PutMany(ctx, writes)
	var inv []Invalidation
	for _, w := range writes {
		if CachedKinds[w.Kind] && !w.Options.Fresh {
			inv = append(inv, Invalidation{Kind: w.Kind, Key: w.Key})
		}
	}
	return errors.Join(err, s.invalidate(ctx, inv))
}

// Delete implements Store.
func (s *Source) Delete(ctx context.Context, kind Kind, key string, generation uint32) (bool, error) {
	existed, err := s.Store.Delete(ctx, kind, key, generation)
	if err == nil && existed && CachedKinds[kind] {
		err = s.invalidate(ctx, []Invalidation{{Kind: kind, Key: key}})
	}
	return existed, err
}

// DeleteMany implements Store.
func (s *Source) DeleteMany(ctx context.Context, kind Kind, keys []string) ([]bool, error) {
	existed, err := s.Store.DeleteMany(ctx, kind, keys)
	if err == nil && CachedKinds[kind] {
		var inv []Invalidation
		for i, ok := range existed {
			if ok {
				inv = append(inv, Invalidation{Kind: kind, Key: keys[i]})
			}
		}
		err = s.invalidate(ctx, inv)
	}
	return existed, err
}
