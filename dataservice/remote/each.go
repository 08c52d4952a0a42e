package remote

import (
	"context"
	"fmt"

	"github.com/heraldpush/herald/dataservice"
)

// Reads that every connecting device makes once (its inbox, its app's
// broadcasts) are served by routes that answer many queries in one call,
// so that the client can coalesce concurrent reads (see coalescer). Each
// query is answered on its own: one that fails does not fail the others
// of its call.

// eachResult is the answer to one query of such a call: its value, or the
// error it alone met.
type eachResult[V any] struct {
	Value   V      `json:"value,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// result returns the value, or the error with its sentinel error
// restored.
func (r eachResult[V]) result(op string) (V, error) {
	if r.Code != "" {
		var zero V
		return zero, fmt.Errorf("remote: %s: %s: %w", op, r.Message, errorOf(r.Code))
	}
	return r.Value, nil
}

// maxEach bounds the queries of one call.
const maxEach = 1000

// handleEach serves path: a JSON array of queries, answered in order with
// fn, each with its value or its error.
func handleEach[Q, V any](s *Server, path string, fn func(ctx context.Context, q *Q) (V, error)) {
	handle(s, path, func(ctx context.Context, qs *[]Q) ([]eachResult[V], error) {
		if len(*qs) > maxEach {
			return nil, fmt.Errorf("%w: %d queries in one call, at most %d", dataservice.ErrInvalid, len(*qs), maxEach)
		}
		out := make([]eachResult[V], len(*qs))
		for i := range *qs {
			v, err := fn(ctx, &(*qs)[i])
			if err != nil {
				code, _ := codeOf(err)
				out[i] = eachResult[V]{Code: code, Message: err.Error()}
				continue
			}
			out[i].Value = v
		}
		return out, nil
	})
}

// readEach returns a coalescer of the queries of op, answered by its
// "_each" route.
func readEach[Q, V any](c *Client, op string) *coalescer[Q, eachResult[V]] {
	return newCoalescer(maxCoalesced, func(ctx context.Context, qs []Q) ([]eachResult[V], error) {
		var out []eachResult[V]
		if err := c.read(ctx, op+"_each", qs, &out); err != nil {
			return nil, err
		}
		return out, nil
	})
}

// callEach makes one query through co and returns its own answer.
func callEach[Q, V any](ctx context.Context, co *coalescer[Q, eachResult[V]], op string, q Q) (V, error) {
	rs, err := co.call(ctx, []Q{q})
	if err != nil {
		var zero V
		return zero, err
	}
	return rs[0].result(op)
}
