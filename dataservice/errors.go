package dataservice

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends and the domain layer wrap them with context;
// callers test with errors.Is. The gateway maps them to HTTP statuses in one
// table.
var (
	ErrNotFound           = errors.New("dataservice: not found")
	ErrExists             = errors.New("dataservice: already exists")
	ErrGenerationMismatch = errors.New("dataservice: generation mismatch")
	ErrInvalid            = errors.New("dataservice: invalid argument")
	ErrClosed             = errors.New("dataservice: store closed")
	ErrUnavailable        = errors.New("dataservice: unavailable")
	// ErrLimit refuses to create what an app has the most of it may
	// have (its schedules, its segments: quota.go).
	ErrLimit = errors.New("dataservice: limit per app reached")
)

// WriteErrors is the error of a PutMany in which some writes failed their
// own conditions (ErrExists, ErrGenerationMismatch) and every other write
// was applied. Errs has one entry per write, nil for those applied.
// errors.Is sees every failure's sentinel through it.
type WriteErrors struct {
	Errs []error
}

func (e *WriteErrors) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n == 1 {
		return first.Error()
	}
	return fmt.Sprintf("%v (and %d more writes failed)", first, n-1)
}

// Unwrap returns the failures.
func (e *WriteErrors) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// PerWrite splits the result of a PutMany of n writes: per-write failures
// (nil where the write was applied), or, when the call failed as a whole
// and which writes were applied is unknown, that error.
func PerWrite(err error, n int) ([]error, error) {
	errs := make([]error, n)
	if err == nil {
		return errs, nil
	}
	// Follow single wraps (and joins of one error) down to a *WriteErrors.
	for e := err; e != nil; {
		if we, ok := e.(*WriteErrors); ok && len(we.Errs) == n {
			copy(errs, we.Errs)
			return errs, nil
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			if l := u.Unwrap(); len(l) == 1 {
				e = l[0]
			} else {
				e = nil
			}
		default:
			e = nil
		}
	}
	return nil, err
}
