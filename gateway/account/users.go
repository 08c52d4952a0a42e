package account

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/heraldpush/herald/dataservice"
)

// RoleChange is one change of a user's role on an app.
type RoleChange struct {
	App      string
	From, To dataservice.Role // "" for no role
}

// checkEmail normalizes an email, or says what is wrong with it.
func checkEmail(email string) (string, error) {
	norm, err := dataservice.NormalizeEmail(email)
	if err != nil {
		return "", &FieldError{Field: "email", Message: fmt.Sprintf("an email has at most %d bytes, one @ with text on both sides, and no space or /", dataservice.MaxEmailLen)}
	}
	return norm, nil
}

// checkRoles checks that every app exists and every role is one.
func (a *Accounts) checkRoles(ctx context.Context, apps map[string]dataservice.Role) error {
	if len(apps) > dataservice.MaxUserApps {
		return &FieldError{Field: "apps", Message: fmt.Sprintf("a user has roles on at most %d apps", dataservice.MaxUserApps)}
	}
	for _, key := range slices.Sorted(maps.Keys(apps)) {
		if !apps[key].Valid() {
			return &FieldError{Field: "apps", Message: fmt.Sprintf("the role on %s must be owner, marketer or viewer; got %q", key, apps[key])}
		}
		if _, err := a.store.App(ctx, key); err != nil {
			if errors.Is(err, dataservice.ErrNotFound) || errors.Is(err, dataservice.ErrInvalid) {
				return &UnknownAppError{Key: key}
			}
			return err
		}
	}
	return nil
}

// newPasswordHash checks a password a user is given and hashes it.
func (a *Accounts) newPasswordHash(ctx context.Context, password string) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", &FieldError{Field: "password", Message: err.Error()}
	}
	return a.hasher.hash(ctx, password)
}

// CreateUser makes a portal user with a password and roles on apps.
// ErrUserExists if the email has one; *FieldError or *UnknownAppError if
// an argument is wrong.
func (a *Accounts) CreateUser(ctx context.Context, email, password string, apps map[string]dataservice.Role) (dataservice.PortalUser, error) {
	norm, err := checkEmail(email)
	if err != nil {
		return dataservice.PortalUser{}, err
	}
	if err := a.checkRoles(ctx, apps); err != nil {
		return dataservice.PortalUser{}, err
	}
	if err := CheckPassword(password); err != nil {
		return dataservice.PortalUser{}, &FieldError{Field: "password", Message: err.Error()}
	}
	if _, err := a.store.PortalUser(ctx, norm); err == nil {
		return dataservice.PortalUser{}, ErrUserExists // before hashing
	}
	hash, err := a.newPasswordHash(ctx, password)
	if err != nil {
		return dataservice.PortalUser{}, err
	}
	u, err := a.store.CreatePortalUser(ctx, dataservice.PortalUser{Email: norm, PasswordHash: hash, Apps: apps})
	if errors.Is(err, dataservice.ErrExists) {
		return dataservice.PortalUser{}, ErrUserExists
	}
	return u, err
}

// User returns a portal user, or dataservice.ErrNotFound.
func (a *Accounts) User(ctx context.Context, email string) (dataservice.PortalUser, error) {
	norm, err := checkEmail(email)
	if err != nil {
		return dataservice.PortalUser{}, fmt.Errorf("%w: %v", dataservice.ErrNotFound, err)
	}
	return a.store.PortalUser(ctx, norm)
}

// Users returns up to limit users after the email after, in order.
func (a *Accounts) Users(ctx context.Context, after string, limit int) ([]dataservice.PortalUser, error) {
	return a.store.PortalUsers(ctx, after, limit)
}

// updateAttempts bounds the rounds of a password change racing with other
// changes of the user.
const updateAttempts = 10

// ReplaceUser gives a user a new password, if password is not nil (its
// sessions end), and exactly the roles of apps, and returns the user and
// the roles it changed. dataservice.ErrNotFound if there is no such user.
func (a *Accounts) ReplaceUser(ctx context.Context, email string, password *string, apps map[string]dataservice.Role) (dataservice.PortalUser, []RoleChange, error) {
	u, err := a.User(ctx, email)
	if err != nil {
		return dataservice.PortalUser{}, nil, err
	}
	if err := a.checkRoles(ctx, apps); err != nil {
		return dataservice.PortalUser{}, nil, err
	}
	if password != nil {
		hash, err := a.newPasswordHash(ctx, *password)
		if err != nil {
			return dataservice.PortalUser{}, nil, err
		}
		for range updateAttempts {
			u.PasswordHash, u.SessionsSince = hash, a.now()
			var updated dataservice.PortalUser
			if updated, err = a.store.UpdatePortalUser(ctx, u); !errors.Is(err, dataservice.ErrGenerationMismatch) {
				u = updated
				break
			}
			if u, err = a.store.PortalUser(ctx, email); err != nil {
				break // deleted meanwhile
			}
			err = dataservice.ErrGenerationMismatch
		}
		if err != nil {
			return dataservice.PortalUser{}, nil, err
		}
	}
	var changes []RoleChange
	for _, app := range slices.Sorted(maps.Keys(apps)) {
		if u.Apps[app] != apps[app] {
			changes = append(changes, RoleChange{App: app, From: u.Apps[app], To: apps[app]})
		}
	}
	for _, app := range slices.Sorted(maps.Keys(u.Apps)) {
		if _, kept := apps[app]; !kept {
			changes = append(changes, RoleChange{App: app, From: u.Apps[app]})
		}
	}
	for _, c := range changes {
		if _, err := a.store.SetPortalRole(ctx, c.App, u.Email, c.To, false); err != nil {
			return dataservice.PortalUser{}, nil, err
		}
	}
	u, err = a.store.PortalUser(ctx, u.Email)
	return u, changes, err
}

// DeleteUser removes a portal user and its roles, and returns what it
// was; dataservice.ErrNotFound if there is no such user.
func (a *Accounts) DeleteUser(ctx context.Context, email string) (dataservice.PortalUser, error) {
	u, err := a.User(ctx, email)
	if err != nil {
		return dataservice.PortalUser{}, err
	}
	existed, err := a.store.DeletePortalUser(ctx, u.Email)
	if err == nil && !existed {
		err = fmt.Errorf("portal user %s: %w", u.Email, dataservice.ErrNotFound)
	}
	return u, err
}

// Members returns the users with a role on app.
func (a *Accounts) Members(ctx context.Context, app string) ([]dataservice.Member, error) {
	return a.store.AppMembers(ctx, app)
}

// SetMember gives the user email the role on app, making the user if
// there is none, with password (then required). It keeps the app an
// owner (dataservice.ErrLastOwner), and refuses a password for a user who
// exists (ErrUserExists): an app's owner does not choose the password of
// someone who may be a member of other apps. It returns the member, the
// role it had, and whether the user was made.
func (a *Accounts) SetMember(ctx context.Context, app, email string, role dataservice.Role, password *string) (m dataservice.Member, prev dataservice.Role, created bool, err error) {
	norm, err := checkEmail(email)
	if err != nil {
		return m, "", false, err
	}
	if !role.Valid() {
		return m, "", false, &FieldError{Field: "role", Message: fmt.Sprintf("role must be owner, marketer or viewer; got %q", role)}
	}
	m = dataservice.Member{Email: norm, Role: role}
	_, err = a.store.PortalUser(ctx, norm)
	switch {
	case errors.Is(err, dataservice.ErrNotFound):
		if password == nil {
			return m, "", false, &FieldError{Field: "password", Message: fmt.Sprintf("%s has no portal user yet: send a password (%d to %d bytes) to make one", norm, MinPasswordLen, MaxPasswordLen)}
		}
		hash, err := a.newPasswordHash(ctx, *password)
		if err != nil {
			return m, "", false, err
		}
		_, err = a.store.CreatePortalUser(ctx, dataservice.PortalUser{Email: norm, PasswordHash: hash, Apps: map[string]dataservice.Role{app: role}})
		if errors.Is(err, dataservice.ErrExists) {
			return m, "", false, ErrUserExists // made at the same time
		}
		return m, "", err == nil, err
	case err != nil:
		return m, "", false, err
	case password != nil:
		return m, "", false, ErrUserExists
	}
	prev, err = a.store.SetPortalRole(ctx, app, norm, role, true)
	return m, prev, false, err
}

// RemoveMember takes the role of email on app away, keeping the app an
// owner (dataservice.ErrLastOwner), and returns the role it had;
// ErrNotMember if it had none.
func (a *Accounts) RemoveMember(ctx context.Context, app, email string) (dataservice.Role, error) {
	norm, err := dataservice.NormalizeEmail(email)
	if err != nil {
		return "", ErrNotMember
	}
	prev, err := a.store.SetPortalRole(ctx, app, norm, "", true)
	if err == nil && prev == "" {
		err = ErrNotMember
	}
	return prev, err
}
