package connector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/h2c"
)

// The internal API of a connector, served to gateways behind the cluster
// token:
//
//	POST /internal/v1/deliver    {"message": Message, "registration_ids": [...]}  → {}
//	POST /internal/v1/broadcast  {"message": Message}                           → {"online": n}
//	POST /internal/v1/withdraw   {"id": "...", "expires": time}                 → {}
//	POST /internal/v1/online     {"app_key": "..."}                             → {"online": n}
//	GET  /healthz
const (
	deliverPath   = "/internal/v1/deliver"
	broadcastPath = "/internal/v1/broadcast"
	withdrawPath  = "/internal/v1/withdraw"
	onlinePath    = "/internal/v1/online"
)

type (
	deliverReq struct {
		Message *dataservice.Message `json:"message"`
		RIDs    []string             `json:"registration_ids"`
	}
	broadcastResp struct {
		Online int `json:"online"`
	}
	withdrawReq struct {
		ID      uint64    `json:"id,string"`
		Expires time.Time `json:"expires"`
	}
	onlineReq struct {
		AppKey string `json:"app_key"`
	}
)

// InternalHandler serves the connector's internal API; calls must carry
// "Authorization: Bearer <token>".
func (c *Connector) InternalHandler(token string) http.Handler {
	want := sha256.Sum256([]byte(token))
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+deliverPath, func(w http.ResponseWriter, r *http.Request) {
		var req deliverReq
		if !decodeInternal(w, r, &req) || req.Message == nil {
			internalError(w, http.StatusBadRequest, "invalid", `a delivery is {"message": {...}, "registration_ids": [...]}`)
			return
		}
		if err := c.Deliver(r.Context(), req.Message, req.RIDs); err != nil {
			internalError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		writeInternal(w, struct{}{})
	})
	mux.HandleFunc("POST "+broadcastPath, func(w http.ResponseWriter, r *http.Request) {
		var req deliverReq
		if !decodeInternal(w, r, &req) || req.Message == nil {
			internalError(w, http.StatusBadRequest, "invalid", `a broadcast is {"message": {...}}`)
			return
		}
		n, err := c.Broadcast(r.Context(), req.Message)
		if err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, dataservice.ErrInvalid) {
				status = http.StatusBadRequest
			}
			internalError(w, status, "unavailable", err.Error())
			return
		}
		writeInternal(w, broadcastResp{Online: n})
	})
	mux.HandleFunc("POST "+withdrawPath, func(w http.ResponseWriter, r *http.Request) {
		var req withdrawReq
		if !decodeInternal(w, r, &req) || req.ID == 0 {
			internalError(w, http.StatusBadRequest, "invalid", `a withdrawal is {"id": "<message id>", "expires": "<time>"}`)
			return
		}
		if err := c.Withdraw(r.Context(), req.ID, req.Expires); err != nil {
			internalError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		writeInternal(w, struct{}{})
	})
	mux.HandleFunc("POST "+onlinePath, func(w http.ResponseWriter, r *http.Request) {
		var req onlineReq
		if !decodeInternal(w, r, &req) || req.AppKey == "" {
			internalError(w, http.StatusBadRequest, "invalid", `an online count is {"app_key": "<app key>"}`)
			return
		}
		n, err := c.Online(r.Context(), req.AppKey)
		if err != nil {
			internalError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		writeInternal(w, broadcastResp{Online: n})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
			return
		}
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h := sha256.Sum256([]byte(got))
		if got == "" || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			internalError(w, http.StatusUnauthorized, "unauthorized", "internal calls need the cluster token")
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			internalError(w, http.StatusNotFound, "not_found", "no such endpoint: POST "+deliverPath+", "+broadcastPath+", "+withdrawPath+" or "+onlinePath)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func decodeInternal(w http.ResponseWriter, r *http.Request, v any) bool {
	return json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(v) == nil
}

func writeInternal(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Remote is a Client of a connector in another process, over HTTP/2.
type Remote struct {
	url   string
	token string
	http  *http.Client
	slots h2c.Slots
}

var _ Client = (*Remote)(nil)

// NewRemote returns a client of the connector whose internal API is at url.
// Clients of several connectors may share one transport.
func NewRemote(url, token string, tr http.RoundTripper) *Remote {
	return &Remote{url: strings.TrimSuffix(url, "/"), token: token, http: &http.Client{Transport: tr}, slots: h2c.NewSlots()}
}

// URL returns the base URL of the connector's internal API.
func (r *Remote) URL() string { return r.url }

// ErrUnreachable reports a connector that did not take a call.
var ErrUnreachable = errors.New("connector: unreachable")

// Deliver implements Client.
func (r *Remote) Deliver(ctx context.Context, m *dataservice.Message, rids []string) error {
	return r.call(ctx, deliverPath, deliverReq{Message: m, RIDs: rids}, nil)
}

// Broadcast implements Client.
func (r *Remote) Broadcast(ctx context.Context, m *dataservice.Message) (int, error) {
	var resp broadcastResp
	err := r.call(ctx, broadcastPath, deliverReq{Message: m}, &resp)
	return resp.Online, err
}

// Withdraw implements Client.
func (r *Remote) Withdraw(ctx context.Context, id uint64, expires time.Time) error {
	return r.call(ctx, withdrawPath, withdrawReq{ID: id, Expires: expires}, nil)
}

// Online implements Client.
func (r *Remote) Online(ctx context.Context, app string) (int, error) {
	var resp broadcastResp
	err := r.call(ctx, onlinePath, onlineReq{AppKey: app}, &resp)
	return resp.Online, err
}

func (r *Remote) call(ctx context.Context, path string, req, resp any) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // extras travel verbatim
	if err := enc.Encode(req); err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+path, &body)
	if err != nil {
		return err
	}
	hreq.Header.Set("Authorization", "Bearer "+r.token)
	hreq.Header.Set("Content-Type", "application/json")
	if err := r.slots.Acquire(ctx); err != nil {
		return err
	}
	defer r.slots.Release()
	res, err := r.http.Do(hreq)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, r.url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		return fmt.Errorf("%w: %s%s: HTTP %d: %s", ErrUnreachable, r.url, path, res.StatusCode, bytes.TrimSpace(msg))
	}
	if resp == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(resp); err != nil {
		return fmt.Errorf("%w: %s%s: decoding the answer: %v", ErrUnreachable, r.url, path, err)
	}
	return nil
}

func internalError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": code, "message": msg}})
}
