package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiClient calls the gateway's REST API on behalf of one request: with the
// user's session token and, for app-scoped calls, the app.
type apiClient struct {
	base      string // the gateway's base URL, without a trailing slash
	transport http.RoundTripper
	timeout   time.Duration
	token     string // the session token; empty before login
	app       string // X-Herald-App; empty for calls about the user
	client    string // the browser's address, passed on (clientAddrKey)
}

// apiError is an error answer of the gateway: its status and its body
// {"error": {"code", "message"}}, or a failure to reach it (Status 502).
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter string // of a 429
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// asAPIError returns err as an *apiError; any other error becomes a 502
// saying the gateway could not be reached.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) {
		return &apiError{Status: 499, Code: "canceled", Message: "the request was canceled"}
	}
	return &apiError{Status: http.StatusBadGateway, Code: "gateway_unreachable",
		Message: "the portal could not reach the Herald gateway; try again in a moment"}
}

// isStatus reports whether err is an API error with one of the statuses.
func isStatus(err error, statuses ...int) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return false
	}
	for _, s := range statuses {
		if ae.Status == s {
			return true
		}
	}
	return false
}

// maxAnswer bounds what the portal reads of one answer of the gateway.
const maxAnswer = 8 << 20

// call sends method path?query with body (JSON-encoded unless nil) and
// decodes a 2xx answer into out (unless nil). Any other answer is an
// *apiError.
func (c *apiClient) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("portal: encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(withClientAddr(ctx, c.client), method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Session "+c.token)
	}
	if c.app != "" {
		req.Header.Set("X-Herald-App", c.app)
	}
	if c.client != "" {
		req.Header.Set("X-Forwarded-For", clientHost(c.client))
	}
	res, err := c.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		ae := &apiError{Status: res.StatusCode, RetryAfter: res.Header.Get("Retry-After")}
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			ae.Code, ae.Message = eb.Error.Code, eb.Error.Message
		} else {
			ae.Code, ae.Message = "http_"+strconv.Itoa(res.StatusCode), "the gateway answered "+res.Status
		}
		return ae
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("portal: reading the answer of %s %s: %w", method, path, err)
	}
	return nil
}

func (c *apiClient) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.call(ctx, http.MethodGet, path, query, nil, out)
}

// seg escapes one path segment (a tag, an alias, an email).
func seg(s string) string { return url.PathEscape(s) }

// trimBase returns a base URL without its trailing slashes.
func trimBase(u string) string { return strings.TrimRight(u, "/") }
