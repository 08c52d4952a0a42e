package dataservice

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

var _ PortalStore = (*Service)(nil)

// Key and value layouts of the portal:
//
//	KindUser           u/<email>                 → userRecord (JSON)
//	KindPortalMembers  <app>                     → membersRecord (JSON)
//	KindPortalSession  <hex SHA-256 of token>    → sessionRecord (JSON), TTL until it expires
//	KindLoginFailure   <hex SHA-256 of limiter>  → list of 8-byte big-endian unix nanoseconds
//	KindAudit          <app>/<^id, 16 hex>       → auditRecord (JSON), TTL AuditRetention
//
// The user group's prefix is two bytes so that an email of MaxEmailLen
// bytes fits MaxKeyLen.
const portalUserGroup = "u/"

type userRecord struct {
	PasswordHash string `json:"password_hash"`
	// Apps lists, sorted, the apps the user may have a role on: every app
	// it was given one on since it was created (roles taken away are not
	// removed here, so that no race with a new role can hide it; see
	// addUserApp).
	Apps          []string  `json:"apps,omitempty"`
	SessionsSince time.Time `json:"sessions_since"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
}

type membersRecord struct {
	Members map[string]Role `json:"members"`
}

type sessionRecord struct {
	Email   string    `json:"email"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

type auditRecord struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Status int       `json:"status"`
}

func userKey(email string) string { return portalUserGroup + email }

func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func auditKey(app string, id uint64) string { return app + "/" + messageKey(^id) }

// readUser returns a user's record and generation, or ErrNotFound.
func (s *Service) readUser(ctx context.Context, email string) (userRecord, uint32, error) {
	r, err := s.store.Get(ctx, KindUser, userKey(email))
	if err != nil {
		return userRecord{}, 0, fmt.Errorf("portal user %s: %w", email, err)
	}
	rec, err := decodeUser(email, r.Value)
	return rec, r.Generation, err
}

func decodeUser(email string, v []byte) (userRecord, error) {
	var rec userRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("dataservice: corrupt portal user record %s: %w", email, err)
	}
	return rec, nil
}

// writeUser writes a user's record: create-only if gen is 0, else a
// compare-and-set.
func (s *Service) writeUser(ctx context.Context, email string, rec userRecord, gen uint32) (uint32, error) {
	v, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("dataservice: encode portal user %s: %w", email, err)
	}
	return s.store.Put(ctx, KindUser, userKey(email), v, WriteOptions{CreateOnly: gen == 0, Generation: gen})
}

// readMembers returns an app's members record and its generation; an app
// without one has no members and generation 0.
func (s *Service) readMembers(ctx context.Context, app string) (map[string]Role, uint32, error) {
	r, err := s.store.Get(ctx, KindPortalMembers, app)
	if errors.Is(err, ErrNotFound) {
		return map[string]Role{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("members of app %s: %w", app, err)
	}
	m, err := decodeMembers(app, r.Value)
	return m, r.Generation, err
}

func decodeMembers(app string, v []byte) (map[string]Role, error) {
	var rec membersRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("dataservice: corrupt members record of app %s: %w", app, err)
	}
	if rec.Members == nil {
		rec.Members = map[string]Role{}
	}
	return rec.Members, nil
}

// writeMembers writes an app's members record by compare-and-set against
// gen (0: create it), deleting it when no member is left.
func (s *Service) writeMembers(ctx context.Context, app string, members map[string]Role, gen uint32) error {
	if len(members) == 0 {
		if gen == 0 {
			return nil
		}
		_, err := s.store.Delete(ctx, KindPortalMembers, app, gen)
		return err
	}
	v, err := json.Marshal(membersRecord{Members: members})
	if err != nil {
		return fmt.Errorf("dataservice: encode members of app %s: %w", app, err)
	}
	_, err = s.store.Put(ctx, KindPortalMembers, app, v, WriteOptions{CreateOnly: gen == 0, Generation: gen})
	return err
}

// listing reports, per email, which of them are users whose record lists
// app: the users whose entry in app's members record counts.
func (s *Service) listing(ctx context.Context, app string, emails []string) ([]bool, error) {
	keys := make([]string, len(emails))
	for i, e := range emails {
		keys[i] = userKey(e)
	}
	recs, err := s.store.GetMany(ctx, KindUser, keys)
	if err != nil {
		return nil, fmt.Errorf("members of app %s: %w", app, err)
	}
	out := make([]bool, len(emails))
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		u, err := decodeUser(emails[i], r.Value)
		if err != nil {
			return nil, err
		}
		_, out[i] = slices.BinarySearch(u.Apps, app)
	}
	return out, nil
}

// rolesOf returns the roles of users (by email, with their records) on
// the apps their records list: one GetMany of those apps' members.
func (s *Service) rolesOf(ctx context.Context, emails []string, recs []userRecord) ([]map[string]Role, error) {
	var apps []string
	for _, r := range recs {
		apps = append(apps, r.Apps...)
	}
	slices.Sort(apps)
	apps = slices.Compact(apps)
	members := make(map[string]map[string]Role, len(apps))
	if len(apps) > 0 {
		got, err := s.store.GetMany(ctx, KindPortalMembers, apps)
		if err != nil {
			return nil, fmt.Errorf("roles of portal users: %w", err)
		}
		for i, r := range got {
			if !r.Exists() {
				continue
			}
			if members[apps[i]], err = decodeMembers(apps[i], r.Value); err != nil {
				return nil, err
			}
		}
	}
	out := make([]map[string]Role, len(recs))
	for i, r := range recs {
		out[i] = map[string]Role{}
		for _, app := range r.Apps {
			if role, ok := members[app][emails[i]]; ok {
				out[i][app] = role
			}
		}
	}
	return out, nil
}

func (s *Service) viewUser(ctx context.Context, email string, rec userRecord, gen uint32) (PortalUser, error) {
	roles, err := s.rolesOf(ctx, []string{email}, []userRecord{rec})
	if err != nil {
		return PortalUser{}, err
	}
	return PortalUser{Email: email, PasswordHash: rec.PasswordHash, Apps: roles[0], SessionsSince: rec.SessionsSince,
		Created: rec.Created, Updated: rec.Updated, Generation: gen}, nil
}

// CreatePortalUser implements PortalStore.
func (s *Service) CreatePortalUser(ctx context.Context, u PortalUser) (PortalUser, error) {
	email, err := NormalizeEmail(u.Email)
	if err != nil {
		return PortalUser{}, fmt.Errorf("create portal user: %w", err)
	}
	if err := checkPasswordHash(u.PasswordHash); err != nil {
		return PortalUser{}, fmt.Errorf("create portal user %s: %w", email, err)
	}
	if len(u.Apps) > MaxUserApps {
		return PortalUser{}, fmt.Errorf("create portal user %s: %w: roles on %d apps; at most %d are allowed", email, ErrInvalid, len(u.Apps), MaxUserApps)
	}
	apps := make([]string, 0, len(u.Apps))
	for app, role := range u.Apps {
		if err := checkAppKey(app); err != nil {
			return PortalUser{}, fmt.Errorf("create portal user %s: %w", email, err)
		}
		if !role.Valid() {
			return PortalUser{}, fmt.Errorf("create portal user %s: %w: role %q on app %s", email, ErrInvalid, role, app)
		}
		apps = append(apps, app)
	}
	slices.Sort(apps)
	now := milli(s.now())
	rec := userRecord{PasswordHash: u.PasswordHash, Apps: apps, SessionsSince: milli(u.SessionsSince), Created: now, Updated: now}
	if _, err := s.writeUser(ctx, email, rec, 0); err != nil {
		return PortalUser{}, fmt.Errorf("create portal user %s: %w", email, err)
	}
	for _, app := range apps {
		if _, err := s.setRole(ctx, app, email, u.Apps[app], false); err != nil {
			return PortalUser{}, fmt.Errorf("create portal user %s: %w", email, err)
		}
	}
	return s.PortalUser(ctx, email)
}

// PortalUser implements PortalStore.
func (s *Service) PortalUser(ctx context.Context, email string) (PortalUser, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return PortalUser{}, fmt.Errorf("portal user: %w", err)
	}
	rec, gen, err := s.readUser(ctx, email)
	if err != nil {
		return PortalUser{}, err
	}
	return s.viewUser(ctx, email, rec, gen)
}

// UpdatePortalUser implements PortalStore: a read (for what it keeps),
// then the compare-and-set.
func (s *Service) UpdatePortalUser(ctx context.Context, u PortalUser) (PortalUser, error) {
	email, err := NormalizeEmail(u.Email)
	if err != nil {
		return PortalUser{}, fmt.Errorf("update portal user: %w", err)
	}
	if err := checkPasswordHash(u.PasswordHash); err != nil {
		return PortalUser{}, fmt.Errorf("update portal user %s: %w", email, err)
	}
	if u.Generation == 0 {
		return PortalUser{}, fmt.Errorf("update portal user %s: %w: no generation (update a user read with PortalUser)", email, ErrInvalid)
	}
	rec, gen, err := s.readUser(ctx, email)
	if err != nil {
		return PortalUser{}, fmt.Errorf("update %w", err)
	}
	if gen != u.Generation {
		return PortalUser{}, fmt.Errorf("update portal user %s: %w", email, ErrGenerationMismatch)
	}
	rec.PasswordHash, rec.SessionsSince, rec.Updated = u.PasswordHash, milli(u.SessionsSince), milli(s.now())
	gen, err = s.writeUser(ctx, email, rec, gen)
	if err != nil {
		return PortalUser{}, fmt.Errorf("update portal user %s: %w", email, err)
	}
	return s.viewUser(ctx, email, rec, gen)
}

// DeletePortalUser implements PortalStore: the user's entries in the
// members of its apps go first, then its record.
func (s *Service) DeletePortalUser(ctx context.Context, email string) (bool, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return false, fmt.Errorf("delete portal user: %w", err)
	}
	rec, _, err := s.readUser(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete %w", err)
	}
	for _, app := range rec.Apps {
		if _, err := s.setRole(ctx, app, email, "", false); err != nil {
			return false, fmt.Errorf("delete portal user %s: %w", email, err)
		}
	}
	existed, err := s.store.Delete(ctx, KindUser, userKey(email), 0)
	if err != nil {
		return false, fmt.Errorf("delete portal user %s: %w", email, err)
	}
	return existed, nil
}

// PortalUsers implements PortalStore: one Scan of the users, one GetMany
// of their apps' members.
func (s *Service) PortalUsers(ctx context.Context, after string, limit int) ([]PortalUser, error) {
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("portal users: %w", err)
	}
	from := ""
	if after != "" {
		a, err := NormalizeEmail(after)
		if err != nil {
			return nil, fmt.Errorf("portal users after %q: %w", after, err)
		}
		from = userKey(a)
	}
	got, err := s.store.Scan(ctx, KindUser, portalUserGroup, from, limit)
	if err != nil {
		return nil, fmt.Errorf("portal users: %w", err)
	}
	emails := make([]string, len(got))
	recs := make([]userRecord, len(got))
	for i, r := range got {
		emails[i] = strings.TrimPrefix(r.Key, portalUserGroup)
		if recs[i], err = decodeUser(emails[i], r.Value); err != nil {
			return nil, err
		}
	}
	roles, err := s.rolesOf(ctx, emails, recs)
	if err != nil {
		return nil, err
	}
	out := make([]PortalUser, len(got))
	for i, rec := range recs {
		out[i] = PortalUser{Email: emails[i], PasswordHash: rec.PasswordHash, Apps: roles[i], SessionsSince: rec.SessionsSince,
			Created: rec.Created, Updated: rec.Updated, Generation: got[i].Generation}
	}
	return out, nil
}

// SetPortalRole implements PortalStore: the user's record lists the app
// first, then the app's members record changes by compare-and-set.
func (s *Service) SetPortalRole(ctx context.Context, app, email string, role Role, keepOwner bool) (Role, error) {
	if err := checkAppKey(app); err != nil {
		return "", fmt.Errorf("set portal role: %w", err)
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", fmt.Errorf("set portal role on app %s: %w", app, err)
	}
	if role != "" && !role.Valid() {
		return "", fmt.Errorf("set portal role of %s on app %s: %w: unknown role %q", email, app, ErrInvalid, role)
	}
	if role != "" {
		if err := s.addUserApp(ctx, email, app); err != nil {
			return "", fmt.Errorf("set portal role on app %s: %w", app, err)
		}
	}
	prev, err := s.setRole(ctx, app, email, role, keepOwner)
	if err != nil {
		return "", fmt.Errorf("set portal role of %s on app %s: %w", email, app, err)
	}
	return prev, nil
}

// setRole changes email's entry in app's members record, by
// compare-and-set, and returns the role it had.
func (s *Service) setRole(ctx context.Context, app, email string, role Role, keepOwner bool) (Role, error) {
	for round := 0; ; round++ {
		if round == casAttempts {
			return "", fmt.Errorf("%w: %d concurrent changes in a row; retry", ErrGenerationMismatch, casAttempts)
		}
		if err := backoff(ctx, round); err != nil {
			return "", err
		}
		members, gen, err := s.readMembers(ctx, app)
		if err != nil {
			return "", err
		}
		// Whose entries count: email's, and, if an owner may be leaving,
		// the owners'.
		check := []string{email}
		leaving := keepOwner && members[email] == RoleOwner && role != RoleOwner
		if leaving {
			for e, r := range members {
				if r == RoleOwner && e != email {
					check = append(check, e)
				}
			}
		}
		listed, err := s.listing(ctx, app, check)
		if err != nil {
			return "", err
		}
		var prev Role
		if listed[0] {
			prev = members[email]
		}
		if leaving && prev == RoleOwner && !slices.Contains(listed[1:], true) {
			return "", ErrLastOwner
		}
		if r, ok := members[email]; ok && r == role || !ok && role == "" {
			return prev, nil
		}
		if role == "" {
			delete(members, email)
		} else {
			if _, ok := members[email]; !ok && len(members) >= MaxAppMembers {
				return "", ErrMembersFull
			}
			members[email] = role
		}
		err = s.writeMembers(ctx, app, members, gen)
		if errors.Is(err, ErrGenerationMismatch) || errors.Is(err, ErrExists) {
			continue // another change of the app's members came first
		}
		return prev, err
	}
}

// addUserApp makes email's record list app (a compare-and-set of the
// record). The list only grows: taking a role away leaves the app listed,
// as a racing call giving the role back may have found it listed already.
// When the list is full, the apps on which the user has no role any more
// are dropped.
func (s *Service) addUserApp(ctx context.Context, email, app string) error {
	for round := 0; ; round++ {
		if round == casAttempts {
			return fmt.Errorf("portal user %s: %w: %d concurrent changes in a row; retry", email, ErrGenerationMismatch, casAttempts)
		}
		if err := backoff(ctx, round); err != nil {
			return err
		}
		rec, gen, err := s.readUser(ctx, email)
		if err != nil {
			return err
		}
		i, found := slices.BinarySearch(rec.Apps, app)
		if found {
			return nil
		}
		if len(rec.Apps) >= MaxUserApps {
			roles, err := s.rolesOf(ctx, []string{email}, []userRecord{rec})
			if err != nil {
				return err
			}
			rec.Apps = slices.DeleteFunc(rec.Apps, func(a string) bool { return roles[0][a] == "" })
			if len(rec.Apps) >= MaxUserApps {
				return fmt.Errorf("portal user %s: %w: roles on %d apps; at most %d are allowed", email, ErrInvalid, len(rec.Apps), MaxUserApps)
			}
			i, _ = slices.BinarySearch(rec.Apps, app)
		}
		rec.Apps = slices.Insert(rec.Apps, i, app)
		_, err = s.writeUser(ctx, email, rec, gen)
		if errors.Is(err, ErrGenerationMismatch) {
			continue // changed (or deleted: the next read says so)
		}
		return err
	}
}

// AppMembers implements PortalStore.
func (s *Service) AppMembers(ctx context.Context, app string) ([]Member, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("app members: %w", err)
	}
	members, _, err := s.readMembers(ctx, app)
	if err != nil {
		return nil, err
	}
	emails := make([]string, 0, len(members))
	for e := range members {
		emails = append(emails, e)
	}
	slices.Sort(emails)
	listed, err := s.listing(ctx, app, emails)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(emails))
	for i, e := range emails {
		if listed[i] {
			out = append(out, Member{Email: e, Role: members[e]})
		}
	}
	return out, nil
}

// CreatePortalSession implements PortalStore.
func (s *Service) CreatePortalSession(ctx context.Context, ps PortalSession) (PortalSession, error) {
	email, err := NormalizeEmail(ps.Email)
	if err != nil {
		return PortalSession{}, fmt.Errorf("create portal session: %w", err)
	}
	now := s.now()
	ttl := ps.Expires.Sub(now)
	if ttl <= 0 || ttl > MaxTTL {
		return PortalSession{}, fmt.Errorf("create portal session of %s: %w: expiry %v is not within (now, now+%v]", email, ErrInvalid, ps.Expires, MaxTTL)
	}
	ps.Email, ps.Created, ps.Expires = email, milli(now), milli(ps.Expires)
	v, err := json.Marshal(sessionRecord{Email: ps.Email, Created: ps.Created, Expires: ps.Expires})
	if err != nil {
		return PortalSession{}, fmt.Errorf("dataservice: encode portal session: %w", err)
	}
	if _, err := s.store.Put(ctx, KindPortalSession, hex.EncodeToString(ps.TokenHash[:]), v, WriteOptions{CreateOnly: true, TTL: ttl}); err != nil {
		return PortalSession{}, fmt.Errorf("create portal session of %s: %w", email, err)
	}
	return ps, nil
}

// PortalSession implements PortalStore.
func (s *Service) PortalSession(ctx context.Context, tokenHash [32]byte) (PortalSession, error) {
	r, err := s.store.Get(ctx, KindPortalSession, hex.EncodeToString(tokenHash[:]))
	if err != nil {
		return PortalSession{}, fmt.Errorf("portal session: %w", err)
	}
	var rec sessionRecord
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		return PortalSession{}, fmt.Errorf("dataservice: corrupt portal session record: %w", err)
	}
	if !rec.Expires.After(s.now()) {
		return PortalSession{}, fmt.Errorf("portal session: %w (expired)", ErrNotFound)
	}
	return PortalSession{TokenHash: tokenHash, Email: rec.Email, Created: rec.Created, Expires: rec.Expires}, nil
}

// DeletePortalSession implements PortalStore.
func (s *Service) DeletePortalSession(ctx context.Context, tokenHash [32]byte) (bool, error) {
	existed, err := s.store.Delete(ctx, KindPortalSession, hex.EncodeToString(tokenHash[:]), 0)
	if err != nil {
		return false, fmt.Errorf("delete portal session: %w", err)
	}
	return existed, nil
}

// AddLoginFailure implements PortalStore: one ListAppend, trimmed to
// keep.
func (s *Service) AddLoginFailure(ctx context.Context, limiter string, at time.Time, keep int, window time.Duration) error {
	switch {
	case checkLimiter(limiter) != nil:
		return fmt.Errorf("add login failure: %w", checkLimiter(limiter))
	case keep < 1 || keep > MaxLoginFailures:
		return fmt.Errorf("add login failure: %w: keep %d outside 1..%d", ErrInvalid, keep, MaxLoginFailures)
	case window <= 0 || window > MaxTTL:
		return fmt.Errorf("add login failure: %w: window %v outside (0, %v]", ErrInvalid, window, MaxTTL)
	}
	item := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
	if _, err := s.store.ListAppend(ctx, KindLoginFailure, hashKey(limiter), [][]byte{item}, ListOptions{MaxLen: keep, TTL: window}); err != nil {
		return fmt.Errorf("add login failure: %w", err)
	}
	return nil
}

// LoginFailures implements PortalStore.
func (s *Service) LoginFailures(ctx context.Context, limiter string) ([]time.Time, error) {
	if err := checkLimiter(limiter); err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	items, err := s.store.ListRange(ctx, KindLoginFailure, hashKey(limiter), -MaxLoginFailures, MaxLoginFailures)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	out := make([]time.Time, 0, len(items))
	for _, it := range items {
		if len(it) != 8 {
			return nil, fmt.Errorf("dataservice: corrupt login failure of %d bytes", len(it))
		}
		out = append(out, time.Unix(0, int64(binary.BigEndian.Uint64(it))))
	}
	return out, nil
}

// ClearLoginFailures implements PortalStore.
func (s *Service) ClearLoginFailures(ctx context.Context, limiter string) error {
	if err := checkLimiter(limiter); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	if _, err := s.store.Delete(ctx, KindLoginFailure, hashKey(limiter), 0); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

// auditIDAttempts bounds the draws of an audit entry's id: two entries of
// one app in the same microsecond draw again on a collision.
const auditIDAttempts = 10

// AddAuditEntry implements PortalStore: a create-only write under an id
// made of the time in microseconds and 12 random bits.
func (s *Service) AddAuditEntry(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if err := checkAuditEntry(&e); err != nil {
		return AuditEntry{}, fmt.Errorf("add audit entry: %w", err)
	}
	for range auditIDAttempts {
		now := s.now()
		e.ID = uint64(now.UnixMicro())<<12 | rand.Uint64N(1<<12)
		e.Time = time.UnixMicro(now.UnixMicro()).UTC()
		v, err := json.Marshal(auditRecord{Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Status: e.Status})
		if err != nil {
			return AuditEntry{}, fmt.Errorf("dataservice: encode audit entry: %w", err)
		}
		_, err = s.store.Put(ctx, KindAudit, auditKey(e.App, e.ID), v, WriteOptions{CreateOnly: true, TTL: AuditRetention})
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			return AuditEntry{}, fmt.Errorf("add audit entry of app %s: %w", e.App, err)
		}
		return e, nil
	}
	return AuditEntry{}, fmt.Errorf("add audit entry of app %s: %w: no free id in %d draws", e.App, ErrExists, auditIDAttempts)
}

// AuditEntries implements PortalStore: one Scan of the app's entries,
// whose keys hold inverted ids so that the newest come first.
func (s *Service) AuditEntries(ctx context.Context, app string, before uint64, limit int) ([]AuditEntry, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("audit entries of app %s: %w", app, err)
	}
	prefix, from := app+"/", ""
	if before != 0 {
		from = auditKey(app, before)
	}
	recs, err := s.store.Scan(ctx, KindAudit, prefix, from, limit)
	if err != nil {
		return nil, fmt.Errorf("audit entries of app %s: %w", app, err)
	}
	out := make([]AuditEntry, len(recs))
	for i, r := range recs {
		inv, err := hex.DecodeString(strings.TrimPrefix(r.Key, prefix))
		if err != nil || len(inv) != 8 {
			return nil, fmt.Errorf("dataservice: corrupt audit key %q", r.Key)
		}
		var v auditRecord
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return nil, fmt.Errorf("dataservice: corrupt audit entry %q: %w", r.Key, err)
		}
		out[i] = AuditEntry{ID: ^binary.BigEndian.Uint64(inv), App: app, Time: v.Time, Actor: v.Actor, Action: v.Action, Target: v.Target, Status: v.Status}
	}
	return out, nil
}
