package sdk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Credentials identify a device to Herald. Store them where the app keeps
// its private data: whoever holds them can receive the device's messages.
type Credentials struct {
	AppKey         string `json:"app_key"`
	RegistrationID string `json:"registration_id"`
	// DeviceSecret is the secret the device proves it holds; the server
	// stores only keys derived from it.
	DeviceSecret string `json:"device_secret"`
}

// RegisterOptions qualify Register.
type RegisterOptions struct {
	// Platform is one of android, ios, hmos, quickapp, web, desktop,
	// other. Empty means other.
	Platform string
	// TimeZone is the device's IANA time zone, such as "Asia/Shanghai",
	// for pushes scheduled in each device's local time. Empty means
	// unknown.
	TimeZone string
	// RegistrationSecret is the app's registration secret, for an app
	// whose owner closed registration to the public (PUT
	// /v1/app/registration-secret); the gateway refuses registration
	// without it (APIError code invalid_registration_secret). Empty for
	// an app without one.
	RegistrationSecret string
	// HTTPClient makes the request. Nil means a client with a 10s timeout.
	HTTPClient *http.Client
}

// APIError is an error reported by the gateway's REST API.
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("herald: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Register registers a new device of the app appKey with the gateway at
// gateway (its base URL, such as http://127.0.0.1:8080).
func Register(ctx context.Context, gateway, appKey string, opts *RegisterOptions) (Credentials, error) {
	var o RegisterOptions
	if opts != nil {
		o = *opts
	}
	req := map[string]string{"app_key": appKey, "platform": o.Platform}
	if o.TimeZone != "" {
		req["timezone"] = o.TimeZone
	}
	if o.RegistrationSecret != "" {
		req["registration_secret"] = o.RegistrationSecret
	}
	body, _ := json.Marshal(req)
	var resp struct {
		RegistrationID string `json:"registration_id"`
		DeviceSecret   string `json:"device_secret"`
	}
	if err := call(ctx, httpClientOrDefault(o.HTTPClient), http.MethodPost, strings.TrimSuffix(gateway, "/")+"/v1/devices", body, &resp); err != nil {
		return Credentials{}, err
	}
	return Credentials{AppKey: appKey, RegistrationID: resp.RegistrationID, DeviceSecret: resp.DeviceSecret}, nil
}

var defaultHTTPClient = &http.Client{Timeout: 10 * time.Second}

func httpClientOrDefault(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return defaultHTTPClient
}

// Endpoints say where a device connects: connector addresses, best first,
// and the Noise public key they prove themselves with. Dispatch returns
// them; an app may keep them with the credentials and pass them in
// Config.Endpoints on its next start, saving a round trip (the client asks
// dispatch again when they stop working).
type Endpoints struct {
	Addresses []string `json:"addresses"`
	ServerKey []byte   `json:"server_key"`
}

// Dispatch asks the gateway at gateway where the device rid should
// connect. httpClient nil means a client with a 10s timeout.
func Dispatch(ctx context.Context, gateway, rid string, httpClient *http.Client) (Endpoints, error) {
	return dispatch(ctx, httpClientOrDefault(httpClient), gateway, rid, nil)
}

func dispatch(ctx context.Context, c *http.Client, gateway, rid string, failed []string) (Endpoints, error) {
	q := url.Values{"registration_id": {rid}}
	if len(failed) > 0 {
		q.Set("failed", strings.Join(failed, ","))
	}
	var d Endpoints
	if err := call(ctx, c, http.MethodGet, strings.TrimSuffix(gateway, "/")+"/v1/dispatch?"+q.Encode(), nil, &d); err != nil {
		return d, err
	}
	if len(d.Addresses) == 0 {
		return d, errors.New("herald: dispatch returned no connector address")
	}
	return d, nil
}

func call(ctx context.Context, c *http.Client, method, u string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error APIError `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			e.Error = APIError{Code: "http_error", Message: strings.TrimSpace(string(data))}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	return json.Unmarshal(data, out)
}

func decodeSecret(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("herald: device secret is not the 43-character text Register returned")
	}
	return b, nil
}
