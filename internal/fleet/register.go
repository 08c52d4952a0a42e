package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/sdk"
)

// Registration says how Register registers devices.
type Registration struct {
	// Gateway is the REST API base URL.
	Gateway string
	// AppKey is the app the devices belong to; MasterSecret is its master
	// secret, needed only when Spec gives devices tags or an alias.
	AppKey, MasterSecret string
	// HTTP makes the calls. Nil means the SDK's default client.
	HTTP *http.Client
	// Platform is the devices' platform. Empty means "android".
	Platform string
	// Concurrency bounds the devices being registered at once. Zero means
	// 32.
	Concurrency int
	// Dispatch also asks dispatch where each device connects, as a real
	// device does once and then caches: connecting then measures the
	// handshake, authentication and session registration, not dispatch.
	Dispatch bool
	// Spec, if set, returns what the app backend says about device i,
	// sent with POST /v1/devices/{registration_id} after registering it.
	Spec func(i int) Spec
	// OnRegistered, if set, is called once device i is registered (and
	// dispatched and described, as asked). It must not block.
	OnRegistered func(i int)
}

// Spec is what the app backend says about one device. Both fields are
// optional.
type Spec struct {
	Tags  []string `json:"tags,omitempty"`
	Alias string   `json:"alias,omitempty"`
}

// defaultHTTP makes Register's calls when Registration.HTTP is nil.
var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// registerAttempts is how many times Register tries each call.
const registerAttempts = 3

// Register registers n devices as reg says, trying each call up to three
// times, and returns their credentials and, with reg.Dispatch, their
// endpoints (else nil), both by index. It stops at the first device that
// fails and returns its error.
func Register(ctx context.Context, reg Registration, n int) ([]sdk.Credentials, []sdk.Endpoints, error) {
	if reg.Platform == "" {
		reg.Platform = "android"
	}
	if reg.Concurrency <= 0 {
		reg.Concurrency = 32
	}
	creds := make([]sdk.Credentials, n)
	var ends []sdk.Endpoints
	if reg.Dispatch {
		ends = make([]sdk.Endpoints, n)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		errOnce  sync.Once
		firstErr error
	)
	parallel(ctx, 0, n, reg.Concurrency, func(i int) bool {
		err := retry(ctx, func() (err error) {
			creds[i], err = sdk.Register(ctx, reg.Gateway, reg.AppKey, &sdk.RegisterOptions{Platform: reg.Platform, HTTPClient: reg.HTTP})
			return err
		})
		if err == nil && reg.Dispatch {
			err = retry(ctx, func() (err error) {
				ends[i], err = sdk.Dispatch(ctx, reg.Gateway, creds[i].RegistrationID, reg.HTTP)
				return err
			})
		}
		if err == nil && reg.Spec != nil {
			if s := reg.Spec(i); len(s.Tags) > 0 || s.Alias != "" {
				err = retry(ctx, func() error { return reg.describe(ctx, creds[i].RegistrationID, s) })
			}
		}
		if err != nil {
			errOnce.Do(func() { firstErr = fmt.Errorf("device %d: %w", i, err) })
			cancel()
			return false
		}
		if reg.OnRegistered != nil {
			reg.OnRegistered(i)
		}
		return true
	})
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return creds, ends, nil
}

// retry calls call up to registerAttempts times while ctx lasts, until it
// succeeds, and returns its last error.
func retry(ctx context.Context, call func() error) error {
	var err error
	for range registerAttempts {
		if err = call(); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// describe sends the device's tags and alias to the gateway, as the app
// backend would.
func (reg *Registration) describe(ctx context.Context, rid string, s Spec) error {
	body := map[string]any{}
	if len(s.Tags) > 0 {
		body["tags"] = map[string][]string{"add": s.Tags}
	}
	if s.Alias != "" {
		body["alias"] = s.Alias
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	path := "/v1/devices/" + url.PathEscape(rid)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(reg.Gateway, "/")+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.SetBasicAuth(reg.AppKey, reg.MasterSecret)
	req.Header.Set("Content-Type", "application/json")
	c := reg.HTTP
	if c == nil {
		c = defaultHTTP
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: HTTP %d: %s", path, res.StatusCode, bytes.TrimSpace(answer))
	}
	return nil
}
