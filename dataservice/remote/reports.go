package remote

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.ReportStore = (*Client)(nil)

// Request bodies of the dataservice.ReportStore endpoints. Nothing of
// what they read is cached: counters change with every delivery,
// receipts are written once and read seldom, listings change with every
// push.
type (
	addCountersReq     struct{ Deltas []dataservice.CounterDelta }
	recordReceiptsReq  struct{ Receipts []dataservice.Receipt }
	messageReceiptsReq struct {
		ID   uint64
		RIDs []string
	}
	appMessagesReq struct {
		App   string
		Query dataservice.MessageQuery
	}
	appDayReq struct {
		App string
		Day time.Time
	}
)

// routeReports serves the dataservice.ReportStore methods.
func (s *Server) routeReports() {
	d := s.data
	handle(s, domainPath+"add_counters", func(ctx context.Context, q *addCountersReq) (empty, error) {
		return empty{}, d.AddCounters(ctx, q.Deltas)
	})
	handle(s, domainPath+"report", func(ctx context.Context, q *idReq) (dataservice.Report, error) {
		return d.Report(ctx, q.ID)
	})
	handle(s, domainPath+"record_receipts", func(ctx context.Context, q *recordReceiptsReq) ([]bool, error) {
		return d.RecordReceipts(ctx, q.Receipts)
	})
	handle(s, domainPath+"message_receipts", func(ctx context.Context, q *messageReceiptsReq) ([]dataservice.DeviceReceipts, error) {
		return d.MessageReceipts(ctx, q.ID, q.RIDs)
	})
	handle(s, domainPath+"app_messages", func(ctx context.Context, q *appMessagesReq) (dataservice.MessagePage, error) {
		return d.AppMessages(ctx, q.App, q.Query)
	})
	handle(s, domainPath+"app_day", func(ctx context.Context, q *appDayReq) (dataservice.DayTotals, error) {
		return d.AppDay(ctx, q.App, q.Day)
	})
}

// AddCounters implements dataservice.ReportStore.
func (c *Client) AddCounters(ctx context.Context, deltas []dataservice.CounterDelta) error {
	return c.write(ctx, "add_counters", addCountersReq{Deltas: deltas}, &empty{})
}

// Report implements dataservice.ReportStore.
func (c *Client) Report(ctx context.Context, id uint64) (dataservice.Report, error) {
	var r dataservice.Report
	err := c.read(ctx, "report", idReq{ID: id}, &r)
	return r, err
}

// RecordReceipts implements dataservice.ReportStore. The receipts are checked
// here first: JSON would carry a registration id that is not UTF-8 as a
// valid one.
func (c *Client) RecordReceipts(ctx context.Context, receipts []dataservice.Receipt) ([]bool, error) {
	if len(receipts) == 0 {
		return []bool{}, nil
	}
	for i := range receipts {
		if err := dataservice.CheckReceipt(&receipts[i]); err != nil {
			return nil, fmt.Errorf("remote: record_receipts: %w", err)
		}
	}
	var out []bool
	if err := c.write(ctx, "record_receipts", recordReceiptsReq{Receipts: receipts}, &out); err != nil {
		return nil, err
	}
	if len(out) != len(receipts) {
		return nil, fmt.Errorf("remote: record_receipts: %w: %d results for %d receipts", dataservice.ErrUnavailable, len(out), len(receipts))
	}
	return out, nil
}

// MessageReceipts implements dataservice.ReportStore.
func (c *Client) MessageReceipts(ctx context.Context, id uint64, rids []string) ([]dataservice.DeviceReceipts, error) {
	if err := checkUTF8("message_receipts", rids); err != nil {
		return nil, err
	}
	var out []dataservice.DeviceReceipts
	if err := c.read(ctx, "message_receipts", messageReceiptsReq{ID: id, RIDs: rids}, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []dataservice.DeviceReceipts{}
	}
	return out, nil
}

// AppMessages implements dataservice.ReportStore.
func (c *Client) AppMessages(ctx context.Context, app string, q dataservice.MessageQuery) (dataservice.MessagePage, error) {
	var page dataservice.MessagePage
	if err := checkUTF8("app_messages", []string{app}); err != nil {
		return page, err
	}
	if err := c.read(ctx, "app_messages", appMessagesReq{App: app, Query: q}, &page); err != nil {
		return page, err
	}
	if page.Messages == nil {
		page.Messages = []dataservice.MessageSummary{}
	}
	return page, nil
}

// AppDay implements dataservice.ReportStore.
func (c *Client) AppDay(ctx context.Context, app string, day time.Time) (dataservice.DayTotals, error) {
	var t dataservice.DayTotals
	if err := checkUTF8("app_day", []string{app}); err != nil {
		return t, err
	}
	err := c.read(ctx, "app_day", appDayReq{App: app, Day: day}, &t)
	return t, err
}
