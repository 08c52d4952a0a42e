package account

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

// Actors of audit entries that are not people.
const (
	// ActorAPI is an app's backend, authenticated with its master secret.
	ActorAPI = "api"
	// ActorAdmin is the holder of the admin token.
	ActorAdmin = "admin"
)

// Record appends e to its app's audit log, cutting fields down to what
// the log keeps.
func (a *Accounts) Record(ctx context.Context, e dataservice.AuditEntry) error {
	e.Actor = cut(e.Actor, dataservice.MaxAuditField)
	e.Action = cut(e.Action, dataservice.MaxAuditField)
	e.Target = cut(e.Target, dataservice.MaxAuditTarget)
	_, err := a.store.AddAuditEntry(ctx, e)
	return err
}

// Audit returns up to limit entries of app's audit log, newest first,
// older than the entry before (0: from the newest).
func (a *Accounts) Audit(ctx context.Context, app string, before uint64, limit int) ([]dataservice.AuditEntry, error) {
	return a.store.AuditEntries(ctx, app, before, limit)
}

// cut shortens s to at most n bytes, between characters.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
