package dataservice

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"
)

// Retention and grace periods of stored delivery data.
const (
	// ReportRetention is how long a message body and its counters are kept
	// after the message expires, so reports can still be read.
	ReportRetention = 30 * 24 * time.Hour
	// AckGrace extends the life of inbox copies past the message's expiry so
	// that a copy sent just before expiry and acknowledged just after still
	// counts as delivered. Connectors never send a copy after its message
	// expired.
	AckGrace = time.Minute
)

// Service implements Client over a Store, in process.
type Service struct {
	store  Store
	now    func() time.Time
	recent recentApps  // the apps of recent messages, for their day totals
	days   pendingDays // day totals not yet written (reports_service.go)
}

var _ Client = (*Service)(nil)

// New returns a Service over store. The caller keeps ownership of store and
// closes it after the last call.
func New(store Store) *Service {
	return &Service{store: store, now: time.Now}
}

// Store returns the store behind s.
func (s *Service) Store() Store { return s.store }

// What follows is shared by several concerns: how ids appear in keys and
// values, the compare-and-set loops, and the checks of app keys and page
// sizes.

// messageKey is the fixed-width hexadecimal form of a message id, so that
// byte order of keys is numeric order of ids.
func messageKey(id uint64) string {
	var b [16]byte
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = hex[id&0xf]
		id >>= 4
	}
	return string(b[:])
}

// idKey is the 20-digit decimal form of an id.
func idKey(id uint64) string {
	var b [20]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + id%10)
		id /= 10
	}
	return string(b[:])
}

// parseIDKey parses what idKey made.
func parseIDKey(s string) (uint64, bool) {
	if len(s) != 20 {
		return 0, false
	}
	var id uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if id > (1<<64-1-d)/10 {
			return 0, false // overflow
		}
		id = id*10 + d
	}
	return id, true
}

// Message ids and times as values: 8 bytes big endian.
func encodeID(id uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id) }

func decodeID(v []byte) (uint64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// firstError returns the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// casAttempts bounds the rounds of a compare-and-set loop. Each failed
// round means another call on the same record succeeded, so only a record
// written by many callers at once comes near it.
const casAttempts = 100

// backoff waits a little, more after more failed rounds, so that callers
// contending for one record spread out.
func backoff(ctx context.Context, round int) error {
	if round > 1 {
		t := time.NewTimer(time.Duration(rand.Int64N(int64(min(round, 20)) * int64(50*time.Microsecond))))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err()
}

// checkAppKey validates an app key used as the group of index keys.
func checkAppKey(app string) error {
	switch {
	case app == "":
		return fmt.Errorf("%w: empty app key", ErrInvalid)
	case strings.IndexByte(app, GroupSeparator) >= 0:
		return fmt.Errorf("%w: app key %q contains '/'", ErrInvalid, app)
	}
	return CheckRecordKey(app)
}

// checkPage validates the limit of a paged listing.
func checkPage(limit int) error {
	if limit < 1 || limit > MaxPage {
		return fmt.Errorf("%w: limit %d outside 1..%d", ErrInvalid, limit, MaxPage)
	}
	return nil
}

// checkToken validates a name used as the member of a group key: 1 to max
// bytes of UTF-8 without '/' and without a rune bad reports.
func checkToken(what, s string, limit int, bad func(rune) bool) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > limit:
		return fmt.Errorf("%w: %s of %d bytes; at most %d are allowed", ErrInvalid, what, len(s), limit)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	case strings.IndexByte(s, GroupSeparator) >= 0:
		return fmt.Errorf("%w: %s %q contains '/'", ErrInvalid, what, s)
	case strings.IndexFunc(s, bad) >= 0:
		return fmt.Errorf("%w: %s %q contains a control or unprintable character", ErrInvalid, what, s)
	}
	return nil
}
