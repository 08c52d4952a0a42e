package remote

import (
	"context"
	"fmt"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.SettleStore = (*Client)(nil)

// Request bodies of the dataservice.SettleStore endpoints. Nothing is
// cached: a settlement changes delivery records and counters only.
type recoverSettlementsReq struct{ Writer, Run string }

// routeSettle serves the dataservice.SettleStore methods.
func (s *Server) routeSettle() {
	d := s.data
	handle(s, domainPath+"settle", func(ctx context.Context, q *dataservice.Settlement) (dataservice.SettleResult, error) {
		return d.Settle(ctx, *q)
	})
	handle(s, domainPath+"recover_settlements", func(ctx context.Context, q *recoverSettlementsReq) (int, error) {
		return d.RecoverSettlements(ctx, q.Writer, q.Run)
	})
}

// Settle implements dataservice.SettleStore. The settlement is checked
// here first: JSON would carry a registration id that is not UTF-8 as a
// valid one.
func (c *Client) Settle(ctx context.Context, st dataservice.Settlement) (dataservice.SettleResult, error) {
	if err := dataservice.CheckSettlement(&st); err != nil {
		return dataservice.SettleResult{}, fmt.Errorf("remote: settle: %w", err)
	}
	var out dataservice.SettleResult
	if err := c.write(ctx, "settle", st, &out); err != nil {
		return dataservice.SettleResult{}, err
	}
	if len(out.Ended) != len(st.Ends) {
		return dataservice.SettleResult{}, fmt.Errorf("remote: settle: %w: %d results for %d ends", dataservice.ErrUnavailable, len(out.Ended), len(st.Ends))
	}
	return out, nil
}

// RecoverSettlements implements dataservice.SettleStore.
func (c *Client) RecoverSettlements(ctx context.Context, writer, run string) (int, error) {
	var n int
	err := c.write(ctx, "recover_settlements", recoverSettlementsReq{Writer: writer, Run: run}, &n)
	return n, err
}
