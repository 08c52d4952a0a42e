package clienttest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// portalTests are the cases of PortalStore.
var portalTests = []test{
	{"PortalUsers", portalUsers},
	{"PortalUserValidation", portalUserValidation},
	{"PortalRoles", portalRoles},
	{"PortalLastOwner", portalLastOwner},
	{"PortalLastOwnerRace", portalLastOwnerRace},
	{"PortalDeletedUserKeepsNoRole", portalDeletedUserKeepsNoRole},
	{"PortalSessions", portalSessions},
	{"LoginFailures", loginFailures},
	{"AuditLog", auditLog},
}

const testHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

func newUser(email string, apps map[string]dataservice.Role) dataservice.PortalUser {
	return dataservice.PortalUser{Email: email, PasswordHash: testHash, Apps: apps}
}

func wantRoles(t *testing.T, what string, got, want map[string]dataservice.Role) {
	t.Helper()
	if len(got) != len(want) || !maps.Equal(got, want) {
		t.Fatalf("%s: roles %v, want %v", what, got, want)
	}
}

func portalUsers(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	u, err := c.CreatePortalUser(ctx, newUser("Alice@Example.COM", map[string]dataservice.Role{"pa1": dataservice.RoleOwner, "pa2": dataservice.RoleViewer}))
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@example.com" || u.PasswordHash != testHash || u.Generation == 0 || u.Created.Before(before) || !u.Updated.Equal(u.Created) {
		t.Fatalf("CreatePortalUser = %+v", u)
	}
	wantRoles(t, "created user", u.Apps, map[string]dataservice.Role{"pa1": dataservice.RoleOwner, "pa2": dataservice.RoleViewer})
	_, err = c.CreatePortalUser(ctx, newUser("alice@example.com", nil))
	wantErr(t, err, dataservice.ErrExists, "creating a user twice, in another case")

	got, err := c.PortalUser(ctx, "ALICE@example.com")
	if err != nil || got.Email != u.Email || got.Generation != u.Generation || !got.Created.Equal(u.Created) {
		t.Fatalf("PortalUser = %+v, %v; want %+v", got, err, u)
	}
	wantRoles(t, "read user", got.Apps, u.Apps)
	_, err = c.PortalUser(ctx, "bob@example.com")
	wantErr(t, err, dataservice.ErrNotFound, "unknown user")

	// Update: compare-and-set of the password hash and SessionsSince;
	// roles stay.
	up := got
	up.PasswordHash, up.SessionsSince, up.Apps = testHash+"x", msTime(0), nil
	u2, err := c.UpdatePortalUser(ctx, up)
	if err != nil || u2.Generation == got.Generation || u2.PasswordHash != up.PasswordHash || !u2.SessionsSince.Equal(up.SessionsSince) || !u2.Created.Equal(u.Created) {
		t.Fatalf("UpdatePortalUser = %+v, %v", u2, err)
	}
	wantRoles(t, "updated user", u2.Apps, u.Apps)
	_, err = c.UpdatePortalUser(ctx, up) // the old generation
	wantErr(t, err, dataservice.ErrGenerationMismatch, "updating with a stale generation")
	up.Generation = 0
	_, err = c.UpdatePortalUser(ctx, up)
	wantErr(t, err, dataservice.ErrInvalid, "updating without a generation")
	missing := newUser("nobody@example.com", nil)
	missing.Generation = 1
	_, err = c.UpdatePortalUser(ctx, missing)
	wantErr(t, err, dataservice.ErrNotFound, "updating a user that does not exist")

	// Listing: every user, by email, paged, with roles.
	for _, e := range []string{"carol@example.com", "bob@example.com", "dave@example.com"} {
		if _, err := c.CreatePortalUser(ctx, newUser(e, map[string]dataservice.Role{"pa2": dataservice.RoleMarketer})); err != nil {
			t.Fatal(err)
		}
	}
	var emails []string
	after := ""
	for {
		page, err := c.PortalUsers(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			if p.Generation == 0 || p.PasswordHash == "" {
				t.Fatalf("listed user %+v", p)
			}
			if p.Email != "alice@example.com" {
				wantRoles(t, "listed "+p.Email, p.Apps, map[string]dataservice.Role{"pa2": dataservice.RoleMarketer})
			}
			emails = append(emails, p.Email)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].Email
	}
	if fmt.Sprint(emails) != "[alice@example.com bob@example.com carol@example.com dave@example.com]" {
		t.Fatalf("PortalUsers listed %v", emails)
	}

	existed, err := c.DeletePortalUser(ctx, "alice@example.com")
	if err != nil || !existed {
		t.Fatalf("DeletePortalUser = %v, %v", existed, err)
	}
	if existed, err := c.DeletePortalUser(ctx, "alice@example.com"); err != nil || existed {
		t.Fatalf("second DeletePortalUser = %v, %v", existed, err)
	}
	_, err = c.PortalUser(ctx, "alice@example.com")
	wantErr(t, err, dataservice.ErrNotFound, "user after delete")
	members, err := c.AppMembers(ctx, "pa1")
	if err != nil || len(members) != 0 {
		t.Fatalf("members of an app whose only member was deleted: %v, %v", members, err)
	}
}

func portalUserValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for name, u := range map[string]dataservice.PortalUser{
		"empty email":          newUser("", nil),
		"email without @":      newUser("alice.example.com", nil),
		"email with two @":     newUser("a@b@example.com", nil),
		"email without local":  newUser("@example.com", nil),
		"email without domain": newUser("alice@", nil),
		"email with a space":   newUser("al ice@example.com", nil),
		"email with /":         newUser("al/ice@example.com", nil),
		"email too long":       newUser(strings.Repeat("a", 250)+"@b.cd", nil),
		"email not UTF-8":      newUser("\xff@example.com", nil),
		"empty hash":           {Email: "v@example.com"},
		"hash with a space":    {Email: "v@example.com", PasswordHash: "a b"},
		"unknown role":         newUser("v@example.com", map[string]dataservice.Role{"pa1": "admin"}),
		"app with /":           newUser("v@example.com", map[string]dataservice.Role{"a/b": dataservice.RoleViewer}),
	} {
		_, err := c.CreatePortalUser(ctx, u)
		wantErr(t, err, dataservice.ErrInvalid, "creating a user with "+name)
	}
	if _, err := c.PortalUser(ctx, "v@example.com"); !errors.Is(err, dataservice.ErrNotFound) {
		t.Fatalf("a refused user was stored: %v", err)
	}
	if e, err := dataservice.NormalizeEmail(strings.Repeat("a", 240) + "@Example.COM"); err != nil || e != strings.Repeat("a", 240)+"@example.com" {
		t.Fatalf("NormalizeEmail of 252 bytes = %q, %v", e, err)
	}
	_, err := c.CreatePortalUser(ctx, newUser(strings.Repeat("a", 240)+"@Example.COM", nil))
	if err != nil {
		t.Fatalf("a user with an email of 252 bytes: %v", err)
	}
	for _, limit := range []int{0, dataservice.MaxPage + 1} {
		_, err = c.PortalUsers(ctx, "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("PortalUsers with limit %d", limit))
	}
	_, err = c.SetPortalRole(ctx, "pa1", "v@example.com", "root", false)
	wantErr(t, err, dataservice.ErrInvalid, "an unknown role")
	_, err = c.SetPortalRole(ctx, "", "v@example.com", dataservice.RoleViewer, false)
	wantErr(t, err, dataservice.ErrInvalid, "a role on an empty app")
	_, err = c.AppMembers(ctx, "a/b")
	wantErr(t, err, dataservice.ErrInvalid, "members of an app with /")
}

func portalRoles(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for _, e := range []string{"r1@example.com", "r2@example.com"} {
		if _, err := c.CreatePortalUser(ctx, newUser(e, nil)); err != nil {
			t.Fatal(err)
		}
	}
	set := func(app, email string, role dataservice.Role, wantPrev dataservice.Role) {
		t.Helper()
		prev, err := c.SetPortalRole(ctx, app, email, role, true)
		if err != nil || prev != wantPrev {
			t.Fatalf("SetPortalRole(%s, %s, %q) = %q, %v; want %q", app, email, role, prev, err, wantPrev)
		}
	}
	set("ra", "R1@example.com", dataservice.RoleOwner, "")
	set("ra", "r2@example.com", dataservice.RoleViewer, "")
	set("ra", "r2@example.com", dataservice.RoleMarketer, dataservice.RoleViewer)
	set("ra", "r2@example.com", dataservice.RoleMarketer, dataservice.RoleMarketer)
	set("rb", "r2@example.com", dataservice.RoleOwner, "")
	members, err := c.AppMembers(ctx, "ra")
	if err != nil || fmt.Sprint(members) != "[{r1@example.com owner} {r2@example.com marketer}]" {
		t.Fatalf("AppMembers = %v, %v", members, err)
	}
	u, err := c.PortalUser(ctx, "r2@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wantRoles(t, "r2", u.Apps, map[string]dataservice.Role{"ra": dataservice.RoleMarketer, "rb": dataservice.RoleOwner})

	set("ra", "r2@example.com", "", dataservice.RoleMarketer)
	set("ra", "r2@example.com", "", "")
	u, _ = c.PortalUser(ctx, "r2@example.com")
	wantRoles(t, "r2 after its role on ra was taken", u.Apps, map[string]dataservice.Role{"rb": dataservice.RoleOwner})
	set("ra", "r2@example.com", dataservice.RoleViewer, "") // given back
	u, _ = c.PortalUser(ctx, "r2@example.com")
	wantRoles(t, "r2 given a role again", u.Apps, map[string]dataservice.Role{"ra": dataservice.RoleViewer, "rb": dataservice.RoleOwner})

	_, err = c.SetPortalRole(ctx, "ra", "nobody@example.com", dataservice.RoleViewer, false)
	wantErr(t, err, dataservice.ErrNotFound, "a role for a user that does not exist")
	if prev, err := c.SetPortalRole(ctx, "ra", "nobody@example.com", "", true); err != nil || prev != "" {
		t.Fatalf("taking the role of a user that does not exist: %q, %v", prev, err)
	}
	if members, err := c.AppMembers(ctx, "rz"); err != nil || len(members) != 0 {
		t.Fatalf("members of an app without any: %v, %v", members, err)
	}

	// Roles and users both count: Role.Covers.
	for _, tc := range []struct {
		have, need dataservice.Role
		ok         bool
	}{
		{dataservice.RoleOwner, dataservice.RoleViewer, true},
		{dataservice.RoleMarketer, dataservice.RoleMarketer, true},
		{dataservice.RoleViewer, dataservice.RoleMarketer, false},
		{"", dataservice.RoleViewer, false},
		{"root", dataservice.RoleViewer, false},
	} {
		if got := tc.have.Covers(tc.need); got != tc.ok {
			t.Errorf("%q.Covers(%q) = %v", tc.have, tc.need, got)
		}
	}
}

func portalLastOwner(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for _, e := range []string{"o1@example.com", "o2@example.com"} {
		if _, err := c.CreatePortalUser(ctx, newUser(e, map[string]dataservice.Role{"oa": dataservice.RoleViewer})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SetPortalRole(ctx, "oa", "o1@example.com", dataservice.RoleOwner, true); err != nil {
		t.Fatal(err)
	}
	for _, role := range []dataservice.Role{"", dataservice.RoleMarketer, dataservice.RoleViewer} {
		_, err := c.SetPortalRole(ctx, "oa", "o1@example.com", role, true)
		wantErr(t, err, dataservice.ErrLastOwner, fmt.Sprintf("the last owner changed to %q", role))
		wantErr(t, err, dataservice.ErrInvalid, "ErrLastOwner")
	}
	if _, err := c.SetPortalRole(ctx, "oa", "o2@example.com", dataservice.RoleOwner, true); err != nil {
		t.Fatal(err)
	}
	if prev, err := c.SetPortalRole(ctx, "oa", "o1@example.com", dataservice.RoleViewer, true); err != nil || prev != dataservice.RoleOwner {
		t.Fatalf("lowering one of two owners: %q, %v", prev, err)
	}
	_, err := c.SetPortalRole(ctx, "oa", "o2@example.com", "", true)
	wantErr(t, err, dataservice.ErrLastOwner, "removing the last owner")
	// Without keepOwner (the admin's way) it goes.
	if prev, err := c.SetPortalRole(ctx, "oa", "o2@example.com", "", false); err != nil || prev != dataservice.RoleOwner {
		t.Fatalf("removing the last owner without keepOwner: %q, %v", prev, err)
	}
	// An app without an owner: nothing to keep.
	if _, err := c.SetPortalRole(ctx, "oa", "o1@example.com", "", true); err != nil {
		t.Fatalf("removing a viewer of an app without owners: %v", err)
	}
}

// portalLastOwnerRace has the two owners of an app lower each other at
// once, many times: an owner always remains.
func portalLastOwnerRace(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	a, b := "x1@example.com", "x2@example.com"
	for _, e := range []string{a, b} {
		if _, err := c.CreatePortalUser(ctx, newUser(e, nil)); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 10 {
		app := fmt.Sprint("race", round)
		for _, e := range []string{a, b} {
			if _, err := c.SetPortalRole(ctx, app, e, dataservice.RoleOwner, true); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for _, e := range []string{a, b} {
			wg.Go(func() {
				_, err := c.SetPortalRole(ctx, app, e, dataservice.RoleViewer, true)
				if err != nil && !errors.Is(err, dataservice.ErrLastOwner) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		members, err := c.AppMembers(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, m := range members {
			if m.Role == dataservice.RoleOwner {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("round %d: %d owners after both lowered each other: %v", round, owners, members)
		}
	}
}

// portalDeletedUserKeepsNoRole checks that a user made again with the
// email of a deleted one starts without its roles.
func portalDeletedUserKeepsNoRole(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	if _, err := c.CreatePortalUser(ctx, newUser("gone@example.com", map[string]dataservice.Role{"da": dataservice.RoleOwner})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeletePortalUser(ctx, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	u, err := c.CreatePortalUser(ctx, newUser("gone@example.com", nil))
	if err != nil {
		t.Fatal(err)
	}
	wantRoles(t, "a user made again", u.Apps, nil)
	if members, err := c.AppMembers(ctx, "da"); err != nil || len(members) != 0 {
		t.Fatalf("members after the owner was deleted and made again: %v, %v", members, err)
	}
}

func portalSessions(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	h := [32]byte{1, 2, 3}
	before := time.Now().Add(-time.Second)
	s, err := c.CreatePortalSession(ctx, dataservice.PortalSession{TokenHash: h, Email: "S@example.com", Expires: time.Now().Add(time.Hour)})
	if err != nil || s.Email != "s@example.com" || s.Created.Before(before) || s.TokenHash != h {
		t.Fatalf("CreatePortalSession = %+v, %v", s, err)
	}
	_, err = c.CreatePortalSession(ctx, dataservice.PortalSession{TokenHash: h, Email: "t@example.com", Expires: time.Now().Add(time.Hour)})
	wantErr(t, err, dataservice.ErrExists, "a session with a token hash taken")
	got, err := c.PortalSession(ctx, h)
	if err != nil || got.Email != s.Email || !got.Created.Equal(s.Created) || !got.Expires.Equal(s.Expires) {
		t.Fatalf("PortalSession = %+v, %v; want %+v", got, err, s)
	}
	_, err = c.PortalSession(ctx, [32]byte{9})
	wantErr(t, err, dataservice.ErrNotFound, "an unknown session")
	if existed, err := c.DeletePortalSession(ctx, h); err != nil || !existed {
		t.Fatalf("DeletePortalSession = %v, %v", existed, err)
	}
	_, err = c.PortalSession(ctx, h)
	wantErr(t, err, dataservice.ErrNotFound, "a deleted session")
	if existed, err := c.DeletePortalSession(ctx, h); err != nil || existed {
		t.Fatalf("second DeletePortalSession = %v, %v", existed, err)
	}

	// A session ends by itself.
	short := [32]byte{4}
	if _, err := c.CreatePortalSession(ctx, dataservice.PortalSession{TokenHash: short, Email: "s@example.com", Expires: time.Now().Add(1500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PortalSession(ctx, short); err != nil {
		t.Fatalf("a session before it expires: %v", err)
	}
	eventually(t, "the session expired", func() bool {
		_, err := c.PortalSession(ctx, short)
		return errors.Is(err, dataservice.ErrNotFound)
	})

	for name, ps := range map[string]dataservice.PortalSession{
		"past expiry": {TokenHash: [32]byte{5}, Email: "s@example.com", Expires: time.Now().Add(-time.Second)},
		"no expiry":   {TokenHash: [32]byte{5}, Email: "s@example.com"},
		"bad email":   {TokenHash: [32]byte{5}, Email: "nobody", Expires: time.Now().Add(time.Hour)},
	} {
		_, err := c.CreatePortalSession(ctx, ps)
		wantErr(t, err, dataservice.ErrInvalid, "a session with "+name)
	}
}

func loginFailures(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	const l = "account:f@example.com"
	if got, err := c.LoginFailures(ctx, l); err != nil || len(got) != 0 {
		t.Fatalf("failures of a fresh limiter: %v, %v", got, err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if err := c.AddLoginFailure(ctx, l, t0.Add(time.Duration(i)*time.Second), 2, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.LoginFailures(ctx, l)
	if err != nil || len(got) != 2 || !got[0].Equal(t0.Add(time.Second)) || !got[1].Equal(t0.Add(2*time.Second)) {
		t.Fatalf("LoginFailures = %v, %v; want the newest 2, oldest first", got, err)
	}
	if other, err := c.LoginFailures(ctx, "address:192.0.2.1"); err != nil || len(other) != 0 {
		t.Fatalf("another limiter: %v, %v", other, err)
	}
	if err := c.ClearLoginFailures(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, err := c.LoginFailures(ctx, l); err != nil || len(got) != 0 {
		t.Fatalf("failures after ClearLoginFailures: %v, %v", got, err)
	}
	// A long limiter name is kept under its hash.
	long := strings.Repeat("x", dataservice.MaxLimiterLen)
	if err := c.AddLoginFailure(ctx, long, t0, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := c.LoginFailures(ctx, long); err != nil || len(got) != 1 {
		t.Fatalf("failures of a long limiter: %v, %v", got, err)
	}
	wantErr(t, c.AddLoginFailure(ctx, "", t0, 5, time.Minute), dataservice.ErrInvalid, "an empty limiter")
	wantErr(t, c.AddLoginFailure(ctx, long+"x", t0, 5, time.Minute), dataservice.ErrInvalid, "a limiter too long")
	wantErr(t, c.AddLoginFailure(ctx, l, t0, 0, time.Minute), dataservice.ErrInvalid, "keeping no failure")
	wantErr(t, c.AddLoginFailure(ctx, l, t0, 5, 0), dataservice.ErrInvalid, "no window")
}

func auditLog(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	var added []dataservice.AuditEntry
	for i := range 5 {
		e, err := c.AddAuditEntry(ctx, dataservice.AuditEntry{App: "aa", Actor: "alice@example.com", Action: "POST /v1/push", Target: fmt.Sprint("msg_id=", i), Status: 200})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID == 0 || e.Time.IsZero() || (i > 0 && e.ID <= added[i-1].ID) {
			t.Fatalf("entry %d: %+v after %+v", i, e, added)
		}
		added = append(added, e)
	}
	if _, err := c.AddAuditEntry(ctx, dataservice.AuditEntry{App: "ab", Actor: "api", Action: "PUT /v1/webhook", Status: 200}); err != nil {
		t.Fatal(err)
	}
	var got []dataservice.AuditEntry
	before := uint64(0)
	for {
		page, err := c.AuditEntries(ctx, "aa", before, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(got) != 5 {
		t.Fatalf("AuditEntries listed %d entries, want 5: %+v", len(got), got)
	}
	for i, e := range got {
		want := added[4-i]
		if e.ID != want.ID || e.App != "aa" || !e.Time.Equal(want.Time) || e.Actor != want.Actor || e.Action != want.Action || e.Target != want.Target || e.Status != 200 {
			t.Fatalf("entry %d = %+v, want %+v (newest first)", i, e, want)
		}
	}
	if page, err := c.AuditEntries(ctx, "ab", 0, 10); err != nil || len(page) != 1 || page[0].Actor != "api" || page[0].Target != "" {
		t.Fatalf("the other app's log: %+v, %v", page, err)
	}
	if page, err := c.AuditEntries(ctx, "ac", 0, 10); err != nil || len(page) != 0 {
		t.Fatalf("an app without a log: %+v, %v", page, err)
	}
	for name, e := range map[string]dataservice.AuditEntry{
		"no app":           {Actor: "a", Action: "b"},
		"no actor":         {App: "aa", Action: "b"},
		"no action":        {App: "aa", Actor: "a"},
		"a long target":    {App: "aa", Actor: "a", Action: "b", Target: strings.Repeat("t", dataservice.MaxAuditTarget+1)},
		"a status of 1000": {App: "aa", Actor: "a", Action: "b", Status: 1000},
	} {
		_, err := c.AddAuditEntry(ctx, e)
		wantErr(t, err, dataservice.ErrInvalid, "an audit entry with "+name)
	}
	_, err := c.AuditEntries(ctx, "aa", 0, 0)
	wantErr(t, err, dataservice.ErrInvalid, "AuditEntries with limit 0")
}
