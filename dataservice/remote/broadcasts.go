package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.BroadcastStore = (*Client)(nil)

// Request bodies of the dataservice.BroadcastStore endpoints. None of what
// they read is cached: the broadcast lists change with every broadcast,
// and cursors are compare-and-set records that must be read fresh.
type (
	saveBroadcastReq struct {
		Message  *dataservice.Message
		Targeted int64
	}
	appBroadcastsReq struct {
		App   string
		After uint64
		Limit int
	}
	appIDReq struct {
		App string
		ID  uint64
	}
	cursorsReq struct{ Cursors []dataservice.BroadcastCursor }
)

// routeBroadcasts serves the dataservice.BroadcastStore methods.
func (s *Server) routeBroadcasts() {
	d := s.data
	handle(s, domainPath+"save_broadcast", func(ctx context.Context, q *saveBroadcastReq) (empty, error) {
		return empty{}, d.SaveBroadcast(ctx, q.Message, q.Targeted)
	})
	handleEach(s, domainPath+"app_broadcasts_each", func(ctx context.Context, q *appBroadcastsReq) ([]uint64, error) {
		return d.AppBroadcasts(ctx, q.App, q.After, q.Limit)
	})
	handle(s, domainPath+"remove_broadcast", func(ctx context.Context, q *appIDReq) (bool, error) {
		return d.RemoveBroadcast(ctx, q.App, q.ID)
	})
	handle(s, domainPath+"broadcast_cursors", func(ctx context.Context, q *ridsReq) ([]dataservice.BroadcastCursor, error) {
		return d.BroadcastCursors(ctx, q.RIDs)
	})
	handle(s, domainPath+"put_broadcast_cursors", func(ctx context.Context, q *cursorsReq) ([]bool, error) {
		return d.PutBroadcastCursors(ctx, q.Cursors)
	})
}

// SaveBroadcast implements dataservice.BroadcastStore.
func (c *Client) SaveBroadcast(ctx context.Context, m *dataservice.Message, targeted int64) error {
	if err := checkUTF8("save_broadcast", messageStrings(m)); err != nil {
		return err
	}
	return c.write(ctx, "save_broadcast", saveBroadcastReq{Message: m, Targeted: targeted}, &empty{})
}

// AppBroadcasts implements dataservice.BroadcastStore.
func (c *Client) AppBroadcasts(ctx context.Context, app string, after uint64, limit int) ([]uint64, error) {
	if err := checkUTF8("app_broadcasts", []string{app}); err != nil {
		return nil, err
	}
	// Each connecting device asks for the broadcasts it missed; concurrent
	// asks go out together.
	return callEach(ctx, c.broadcastReads, "app_broadcasts", appBroadcastsReq{App: app, After: after, Limit: limit})
}

// RemoveBroadcast implements dataservice.BroadcastStore.
func (c *Client) RemoveBroadcast(ctx context.Context, app string, id uint64) (bool, error) {
	if err := checkUTF8("remove_broadcast", []string{app}); err != nil {
		return false, err
	}
	var existed bool
	err := c.write(ctx, "remove_broadcast", appIDReq{App: app, ID: id}, &existed)
	return existed, err
}

// BroadcastCursors implements dataservice.BroadcastStore.
func (c *Client) BroadcastCursors(ctx context.Context, rids []string) ([]dataservice.BroadcastCursor, error) {
	if err := checkUTF8("broadcast_cursors", rids); err != nil {
		return nil, err
	}
	// Each connecting device asks for its own cursor; concurrent asks go
	// out together.
	return c.cursorReads.call(ctx, rids)
}

// readCursors is one broadcast_cursors call, for cursorReads.
func (c *Client) readCursors(ctx context.Context, rids []string) ([]dataservice.BroadcastCursor, error) {
	var out []dataservice.BroadcastCursor
	if err := c.read(ctx, "broadcast_cursors", ridsReq{RIDs: rids}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// PutBroadcastCursors implements dataservice.BroadcastStore.
func (c *Client) PutBroadcastCursors(ctx context.Context, cursors []dataservice.BroadcastCursor) ([]bool, error) {
	rids := make([]string, len(cursors))
	for i, cur := range cursors {
		rids[i] = cur.RegistrationID
	}
	if err := checkUTF8("put_broadcast_cursors", rids); err != nil {
		return nil, err
	}
	var out []bool
	if err := c.write(ctx, "put_broadcast_cursors", cursorsReq{Cursors: cursors}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
