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

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/h2c"
)

// The internal API of a connector, served to gateways behind the cluster
// token:
//
//	POST /internal/v1/deliver  {"message": Message, "registration_ids": [...]}
//	GET  /healthz
const deliverPath = "/internal/v1/deliver"

type deliverReq struct {
	Message *dataservice.Message `json:"message"`
	RIDs    []string             `json:"registration_ids"`
}

// InternalHandler serves the connector's internal API; calls must carry
// "Authorization: Bearer <token>".
func (c *Connector) InternalHandler(token string) http.Handler {
	want := sha256.Sum256([]byte(token))
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
		if r.Method != http.MethodPost || r.URL.Path != deliverPath {
			internalError(w, http.StatusNotFound, "not_found", "no such endpoint: POST "+deliverPath)
			return
		}
		var req deliverReq
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&req); err != nil || req.Message == nil {
			internalError(w, http.StatusBadRequest, "invalid", `a delivery is {"message": {...}, "registration_ids": [...]}`)
			return
		}
		if err := c.Deliver(r.Context(), req.Message, req.RIDs); err != nil {
			internalError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}\n")
	})
}

func internalError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": code, "message": msg}})
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

// ErrUnreachable reports a connector that did not take a delivery.
var ErrUnreachable = errors.New("connector: unreachable")

// Deliver implements Client.
func (r *Remote) Deliver(ctx context.Context, m *dataservice.Message, rids []string) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // extras travel verbatim
	if err := enc.Encode(deliverReq{Message: m, RIDs: rids}); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+deliverPath, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	if err := r.slots.Acquire(ctx); err != nil {
		return err
	}
	defer r.slots.Release()
	res, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, r.url, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: HTTP %d", ErrUnreachable, r.url, res.StatusCode)
	}
	return nil
}
