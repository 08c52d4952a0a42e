package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/h2c"
)

// instance is one dataservice process.
type instance struct {
	url   string
	slots h2c.Slots // calls in flight
}

// caller makes calls to a set of dataservice instances.
type caller struct {
	instances []*instance
	http      *http.Client
	token     string
	next      atomic.Uint64
	closed    atomic.Bool
}

func newCaller(urls []string, token string, tr http.RoundTripper) (*caller, error) {
	if len(urls) == 0 {
		return nil, errors.New("remote: no dataservice URL")
	}
	if token == "" {
		return nil, errors.New("remote: a cluster token is required")
	}
	c := &caller{http: &http.Client{Transport: tr}, token: token}
	for _, u := range urls {
		u = strings.TrimSuffix(u, "/")
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("remote: dataservice URL %q must start with http:// or https://", u)
		}
		c.instances = append(c.instances, &instance{url: u, slots: h2c.NewSlots()})
	}
	return c, nil
}

// call posts req to path and decodes the answer into resp. Reads
// (idempotent) that fail to reach an instance are tried on the next one.
func (c *caller) call(ctx context.Context, path string, idempotent bool, req, resp any) error {
	if c.closed.Load() {
		return fmt.Errorf("remote: %s: %w", path, dataservice.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remote: %s: %w", path, err)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(req); err != nil {
		return fmt.Errorf("remote: %s: encoding the call: %w: %v", path, dataservice.ErrInvalid, err)
	}
	tries := 1
	if idempotent {
		tries = len(c.instances)
	}
	first := int(c.next.Add(1))
	var err error
	for i := range tries {
		in := c.instances[(first+i)%len(c.instances)]
		var reached bool
		reached, err = c.once(ctx, in, path, body.Bytes(), resp)
		if reached || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// once makes one call to one instance; reached says whether the instance
// answered (then err is its answer, not a transport failure).
func (c *caller) once(ctx context.Context, in *instance, path string, body []byte, resp any) (reached bool, err error) {
	if err := in.slots.Acquire(ctx); err != nil {
		return false, fmt.Errorf("remote: %s: %w", path, err)
	}
	defer in.slots.Release()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url+path, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("remote: %s: %w: %v", path, dataservice.ErrInvalid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("remote: %s at %s: %w", path, in.url, ctx.Err())
		}
		return false, fmt.Errorf("remote: %s at %s: %w: %v", path, in.url, dataservice.ErrUnavailable, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return false, fmt.Errorf("remote: %s at %s: %w: %v", path, in.url, dataservice.ErrUnavailable, err)
	}
	if res.StatusCode != http.StatusOK {
		var e errorBody
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return true, fmt.Errorf("remote: %s at %s: %w: HTTP %d: %s", path, in.url, dataservice.ErrUnavailable, res.StatusCode, bytes.TrimSpace(data))
		}
		if res.StatusCode == http.StatusUnauthorized {
			return true, fmt.Errorf("remote: %s at %s: %w: wrong cluster token", path, in.url, dataservice.ErrUnavailable)
		}
		return true, fmt.Errorf("remote: %s at %s: %w: %s", path, in.url, errorOf(e.Error.Code), e.Error.Message)
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return true, fmt.Errorf("remote: %s at %s: %w: decoding the answer: %v", path, in.url, dataservice.ErrUnavailable, err)
	}
	return true, nil
}

// close makes every later call fail with ErrClosed and releases the
// connections.
func (c *caller) close() {
	c.closed.Store(true)
	if ci, ok := c.http.Transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// readyPath is where a dataservice process says whether it is ready
// (its store takes writes); the process serves it without a token.
const readyPath = "/readyz"

// ready asks every instance whether it is ready and returns nil if one
// is, otherwise what each answered.
func (c *caller) ready(ctx context.Context) error {
	errs := make([]error, len(c.instances))
	for i, in := range c.instances {
		if errs[i] = c.readyOne(ctx, in); errs[i] == nil {
			return nil
		}
	}
	return fmt.Errorf("remote: no dataservice instance is ready: %w", errors.Join(errs...))
}

func (c *caller) readyOne(ctx context.Context, in *instance) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url+readyPath, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", in.url, err)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s unreachable: %w", in.url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s not ready: HTTP %d: %s", in.url, res.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
