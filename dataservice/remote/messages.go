package remote

import (
	"context"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Paths and request bodies of the domain endpoints: the writes and the
// uncached reads of dataservice.Client. Reads of cached kinds (apps,
// devices, sessions, messages) go through the store endpoints, so the
// client can cache records with their generations.
const domainPath = basePath + "data/"

type (
	appReq         struct{ App dataservice.App }
	keyOnlyReq     struct{ Key string }
	deviceReq      struct{ Device dataservice.Device }
	ridReq         struct{ RID string }
	ridsReq        struct{ RIDs []string }
	putSessionsReq struct {
		Sessions []dataservice.Session
		TTL      time.Duration
	}
	deleteSessionReq struct {
		RID        string
		Generation uint32
	}
	saveMessageReq struct {
		Message    *dataservice.Message
		Recipients []string
		New        bool `json:",omitempty"` // SaveNewMessage
	}
	idReq    struct{ ID uint64 }
	idsReq   struct{ IDs []uint64 }
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
	addCountersReq struct{ Deltas []dataservice.CounterDelta }
	configReq      struct {
		Name  string
		Value []byte
	}
)

// routeDomain serves the dataservice.Client methods.
func (s *Server) routeDomain() {
	d := s.data
	handle(s, domainPath+"create_app", func(ctx context.Context, q *appReq) (empty, error) {
		return empty{}, d.CreateApp(ctx, q.App)
	})
	handle(s, domainPath+"create_device", func(ctx context.Context, q *deviceReq) (empty, error) {
		return empty{}, d.CreateDevice(ctx, q.Device)
	})
	handle(s, domainPath+"put_sessions", func(ctx context.Context, q *putSessionsReq) ([]uint32, error) {
		return d.PutSessions(ctx, q.Sessions, q.TTL)
	})
	handle(s, domainPath+"delete_session", func(ctx context.Context, q *deleteSessionReq) (empty, error) {
		return empty{}, d.DeleteSession(ctx, q.RID, q.Generation)
	})
	handle(s, domainPath+"save_message", func(ctx context.Context, q *saveMessageReq) (empty, error) {
		if q.New {
			return empty{}, d.SaveNewMessage(ctx, q.Message, q.Recipients)
		}
		return empty{}, d.SaveMessage(ctx, q.Message, q.Recipients)
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
	handle(s, domainPath+"add_counters", func(ctx context.Context, q *addCountersReq) (empty, error) {
		return empty{}, d.AddCounters(ctx, q.Deltas)
	})
	handle(s, domainPath+"report", func(ctx context.Context, q *idReq) (dataservice.Report, error) {
		return d.Report(ctx, q.ID)
	})
	handle(s, domainPath+"ensure_config", func(ctx context.Context, q *configReq) ([]byte, error) {
		return d.EnsureConfig(ctx, q.Name, q.Value)
	})
}
