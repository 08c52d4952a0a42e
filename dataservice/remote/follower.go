package remote

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/cache"
	"github.com/heraldpush/herald/dataservice"
)

// CacheFollower keeps one process's cache exact: it follows the
// invalidation stream of every dataservice instance, drops each key
// another process wrote, and acknowledges it, so writes elsewhere complete
// only once this cache forgot what they replaced.
//
// Serving reports whether the cache may be used: only while every stream is
// up and has been heard from within its lease. Whenever a stream starts or
// breaks, the whole cache is dropped: any instance may write any key, so a
// missed invalidation from one instance can make a value read through
// another stale.
type CacheFollower struct {
	cache   cache.Cache
	c       *caller
	log     *slog.Logger
	streams []*stream
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// stream is the follower's view of one instance. Its fields are written by
// the stream's goroutine and read by Serving.
type stream struct {
	in        *instance
	up        atomic.Bool
	heard     atomic.Int64 // unix nanoseconds of the last frame
	lease     atomic.Int64 // nanoseconds
	processed uint64       // owned by the goroutine
}

// newFollower starts streams to every instance of c.
func newFollower(c *caller, ch cache.Cache, log *slog.Logger) *CacheFollower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &CacheFollower{cache: ch, c: c, log: log, cancel: cancel}
	for _, in := range c.instances {
		s := &stream{in: in}
		f.streams = append(f.streams, s)
		f.wg.Go(func() { f.run(ctx, s) })
	}
	return f
}

// Serving reports whether every stream is up and within its lease.
func (f *CacheFollower) Serving() bool {
	now := time.Now().UnixNano()
	for _, s := range f.streams {
		if !s.up.Load() || now-s.heard.Load() > s.lease.Load() {
			return false
		}
	}
	return true
}

// Ready waits until the follower serves, or ctx is done.
func (f *CacheFollower) Ready(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !f.Serving() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Close stops the streams.
func (f *CacheFollower) Close() {
	f.cancel()
	f.wg.Wait()
}

// run keeps one stream up, reconnecting with backoff.
func (f *CacheFollower) run(ctx context.Context, s *stream) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := f.follow(ctx, s)
		s.up.Store(false)
		f.cache.Clear() // invalidations may have been missed
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 10*time.Second {
			backoff = 50 * time.Millisecond
		}
		f.log.Warn("cache invalidation stream broke; cache dropped, reconnecting", "dataservice", s.in.url, "err", err)
		select {
		case <-time.After(backoff + rand.N(backoff)):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// follow opens the stream and processes it until it breaks.
func (f *CacheFollower) follow(ctx context.Context, s *stream) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	acks, ackw := io.Pipe()
	defer ackw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.in.url+invalidationPath, acks)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.c.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := f.c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	// The transport notices a canceled context only between reads of the
	// request body (the acknowledgements), which blocks while we wait for
	// frames: end both ourselves when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		ackw.CloseWithError(ctx.Err())
		res.Body.Close()
	})
	defer stop()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("remote: invalidation stream at %s: HTTP %d", s.in.url, res.StatusCode)
	}
	fr := &frameReader{r: res.Body}
	typ, p, err := fr.next()
	if err != nil {
		return err
	}
	if typ != frameHello {
		return fmt.Errorf("%w: stream does not start with hello", errBadFrame)
	}
	hi, err := parseHello(p)
	if err != nil {
		return err
	}
	// Everything cached before this stream started may have been written
	// meanwhile: start empty, then serve.
	f.cache.Clear()
	s.processed = hi.Start
	s.lease.Store(int64(hi.Lease))
	s.heard.Store(time.Now().UnixNano())
	s.up.Store(true)
	var ack [8]byte
	for {
		typ, p, err := fr.next()
		if err != nil {
			return err
		}
		s.heard.Store(time.Now().UnixNano())
		switch typ {
		case frameInvalidations:
			var gap error
			err := parseInvalidations(p, func(seq uint64, gen uint32, kind dataservice.Kind, key string) {
				if seq != s.processed+1 && gap == nil {
					gap = fmt.Errorf("%w: invalidation %d after %d", errGap, seq, s.processed)
				}
				s.processed = seq
				f.cache.Invalidate(dataservice.CacheKey(kind, key), gen)
			})
			if err = errors.Join(err, gap); err != nil {
				return err
			}
			binary.BigEndian.PutUint64(ack[:], s.processed)
			if _, err := ackw.Write(ack[:]); err != nil {
				return err
			}
		case frameHeartbeat:
			if len(p) != 8 {
				return errBadFrame
			}
			if last := beUint64(p); last != s.processed {
				return fmt.Errorf("%w: heartbeat at %d, processed %d", errGap, last, s.processed)
			}
		default:
			return fmt.Errorf("%w: frame type %d", errBadFrame, typ)
		}
	}
}

var errGap = errors.New("remote: gap in the invalidation stream")
