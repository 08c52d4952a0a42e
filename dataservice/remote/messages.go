package remote

import (
	"context"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var (
	_ dataservice.MessageStore = (*Client)(nil)
	_ dataservice.InboxStore   = (*Client)(nil)
)

// Request and answer bodies of the dataservice.MessageStore and
// InboxStore endpoints. Message bodies are read through the store
// endpoints, and cached; inboxes and idempotency keys are not: they change
// with every push and acknowledgement.
type (
	saveMessageReq struct {
		Message    *dataservice.Message
		Recipients []string
		New        bool `json:",omitempty"` // SaveNewMessage
	}
	reserveCIDReq struct {
		App, CID string
		ID       uint64
		TTL      time.Duration
	}
	reserveCIDResp struct {
		ID    uint64
		Bound bool
	}
	inboxReq struct {
		RID   string
		After uint64
		Limit int
	}
	removeInboxReq struct{ Copies []dataservice.InboxCopy }
	updateInboxReq struct {
		RID     string
		Entries []dataservice.InboxEntry
	}
	saveCopiesReq struct {
		Message *dataservice.Message
		RIDs    []string
	}
)

// routeMessages serves the dataservice.MessageStore and InboxStore
// methods.
func (s *Server) routeMessages() {
	d := s.data
	handle(s, domainPath+"save_message", func(ctx context.Context, q *saveMessageReq) (empty, error) {
		if q.New {
			return empty{}, d.SaveNewMessage(ctx, q.Message, q.Recipients)
		}
		return empty{}, d.SaveMessage(ctx, q.Message, q.Recipients)
	})
	handle(s, domainPath+"reserve_cid", func(ctx context.Context, q *reserveCIDReq) (reserveCIDResp, error) {
		id, bound, err := d.ReserveCID(ctx, q.App, q.CID, q.ID, q.TTL)
		return reserveCIDResp{ID: id, Bound: bound}, err
	})
	handleEach(s, domainPath+"inbox_each", func(ctx context.Context, q *inboxReq) ([]dataservice.InboxEntry, error) {
		return d.Inbox(ctx, q.RID, q.After, q.Limit)
	})
	handle(s, domainPath+"remove_inbox", func(ctx context.Context, q *removeInboxReq) ([]bool, error) {
		return d.RemoveInbox(ctx, q.Copies)
	})
	handle(s, domainPath+"update_inbox", func(ctx context.Context, q *updateInboxReq) (empty, error) {
		return empty{}, d.UpdateInbox(ctx, q.RID, q.Entries)
	})
	handle(s, domainPath+"save_copies", func(ctx context.Context, q *saveCopiesReq) (empty, error) {
		return empty{}, d.SaveCopies(ctx, q.Message, q.RIDs)
	})
}

// SaveMessage implements dataservice.MessageStore.
func (c *Client) SaveMessage(ctx context.Context, m *dataservice.Message, recipients []string) error {
	return c.saveMessage(ctx, saveMessageReq{Message: m, Recipients: recipients})
}

// SaveNewMessage implements dataservice.MessageStore.
func (c *Client) SaveNewMessage(ctx context.Context, m *dataservice.Message, recipients []string) error {
	return c.saveMessage(ctx, saveMessageReq{Message: m, Recipients: recipients, New: true})
}

func (c *Client) saveMessage(ctx context.Context, q saveMessageReq) error {
	if err := checkUTF8("save_message", []string{q.Message.CollapseID}); err != nil {
		return err
	}
	return c.write(ctx, "save_message", q, &empty{})
}

// Message implements dataservice.MessageStore.
func (c *Client) Message(ctx context.Context, id uint64) (dataservice.Message, error) {
	return c.reads.Message(ctx, id)
}

// Messages implements dataservice.MessageStore.
func (c *Client) Messages(ctx context.Context, ids []uint64) ([]dataservice.Message, error) {
	return c.reads.Messages(ctx, ids)
}

// ReserveCID implements dataservice.MessageStore.
func (c *Client) ReserveCID(ctx context.Context, app, cid string, id uint64, ttl time.Duration) (uint64, bool, error) {
	if err := checkUTF8("reserve_cid", []string{app, cid}); err != nil {
		return 0, false, err
	}
	var r reserveCIDResp
	if err := c.write(ctx, "reserve_cid", reserveCIDReq{App: app, CID: cid, ID: id, TTL: ttl}, &r); err != nil {
		return 0, false, err
	}
	return r.ID, r.Bound, nil
}

// Inbox implements dataservice.InboxStore.
func (c *Client) Inbox(ctx context.Context, rid string, after uint64, limit int) ([]dataservice.InboxEntry, error) {
	// Each connecting device reads its inbox; concurrent reads go out
	// together.
	return callEach(ctx, c.inboxReads, "inbox", inboxReq{RID: rid, After: after, Limit: limit})
}

// RemoveInbox implements dataservice.InboxStore.
func (c *Client) RemoveInbox(ctx context.Context, copies []dataservice.InboxCopy) ([]bool, error) {
	var existed []bool
	if err := c.write(ctx, "remove_inbox", removeInboxReq{Copies: copies}, &existed); err != nil {
		return nil, err
	}
	return existed, nil
}

// UpdateInbox implements dataservice.InboxStore.
func (c *Client) UpdateInbox(ctx context.Context, rid string, entries []dataservice.InboxEntry) error {
	return c.write(ctx, "update_inbox", updateInboxReq{RID: rid, Entries: entries}, &empty{})
}

// SaveCopies implements dataservice.InboxStore.
func (c *Client) SaveCopies(ctx context.Context, m *dataservice.Message, rids []string) error {
	if err := checkUTF8("save_copies", messageStrings(m), rids); err != nil {
		return err
	}
	return c.write(ctx, "save_copies", saveCopiesReq{Message: m, RIDs: rids}, &empty{})
}
