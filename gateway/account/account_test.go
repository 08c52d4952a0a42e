package account

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

func newAccounts(t *testing.T, cfg Config) (*Accounts, *dataservice.Service) {
	t.Helper()
	st, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	data := dataservice.New(st)
	return New(cfg, data), data
}

// TestParallelGuessesDoNotOutrunTheLimit sends a burst of wrong passwords
// for one account at once: no more of them are checked than the limit.
func TestParallelGuessesDoNotOutrunTheLimit(t *testing.T) {
	a, _ := newAccounts(t, Config{Hashes: 4})
	ctx := context.Background()
	if _, err := a.CreateUser(ctx, "zed@example.com", "the right password", nil); err != nil {
		t.Fatal(err)
	}
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		checked, limited int
	)
	for range 16 {
		wg.Go(func() {
			_, err := a.Login(ctx, "zed@example.com", "a wrong password", "192.0.2.1")
			var rl *RateLimitedError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrInvalidCredentials):
				checked++
			case errors.As(err, &rl):
				limited++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if checked != 5 || limited != 11 {
		t.Fatalf("%d guesses checked and %d refused, want 5 and 11", checked, limited)
	}
}

func TestLoginAuthenticateLogout(t *testing.T) {
	a, data := newAccounts(t, Config{})
	ctx := context.Background()
	if err := data.CreateApp(ctx, dataservice.App{Key: "app1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateUser(ctx, "Amy@Example.com", "the right password", map[string]dataservice.Role{"app1": dataservice.RoleMarketer}); err != nil {
		t.Fatal(err)
	}
	s, err := a.Login(ctx, "amy@example.COM", "the right password", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(ctx, s.Token)
	if err != nil || id.User.Email != "amy@example.com" || id.User.Apps["app1"] != dataservice.RoleMarketer {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}
	if err := a.Logout(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, s.Token); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after logout: %v", err)
	}
	if _, err := a.Login(ctx, "not an email", "the right password", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("a login with a malformed email: %v", err)
	}
}
