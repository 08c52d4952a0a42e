package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/dataservice"
)

// maxBody bounds request bodies: a PutMany of 1000 records of 1 KiB fits.
const maxBody = 32 << 20

// ServerConfig configures a Server.
type ServerConfig struct {
	// Token is the cluster token every call must carry as
	// "Authorization: Bearer <token>". Required.
	Token string
	// Log receives the server's logs. Nil means slog.Default().
	Log *slog.Logger
}

// Server serves a dataservice over HTTP/2: its store, its domain
// operations, and, if it has a Source, its invalidation stream.
type Server struct {
	token  [32]byte
	store  dataservice.Store
	data   dataservice.Client
	source *dataservice.Source
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewServer serves store and data. If source is not nil it must be the
// store (or what store wraps), so that every write through the server is
// published to the caches of other processes.
func NewServer(cfg ServerConfig, store dataservice.Store, data dataservice.Client, source *dataservice.Source) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("remote: a cluster token is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{token: sha256.Sum256([]byte(cfg.Token)), store: store, data: data, source: source, log: cfg.Log, mux: http.NewServeMux()}
	s.routeStore()
	s.routeApps()
	s.routeDevices()
	s.routeSessions()
	s.routeMessages()
	s.routeBroadcasts()
	s.routeReports()
	s.routeSettle()
	s.routeTasks()
	s.routeSchedules()
	s.routeSegments()
	s.routeUpstream()
	s.routeWebhooks()
	s.routeCluster()
	s.routePortal()
	if source != nil {
		s.mux.HandleFunc("POST "+invalidationPath, s.streamInvalidations)
	}
	return s, nil
}

// Handler returns the HTTP handler. /healthz needs no token; everything
// else does.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == healthPath {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
			return
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h := sha256.Sum256([]byte(token))
		if token == "" || subtle.ConstantTimeCompare(h[:], s.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald cluster"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "internal calls need Authorization: Bearer <cluster token> (HERALD_CLUSTER_TOKEN)")
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// handle registers an endpoint that decodes a JSON request of type Req,
// calls fn and encodes its result.
func handle[Req, Resp any](s *Server, path string, fn func(ctx context.Context, req *Req) (Resp, error)) {
	s.mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
		var req Req
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "malformed request: "+err.Error())
			return
		}
		resp, err := fn(r.Context(), &req)
		if err != nil {
			code, status := codeOf(err)
			if status >= 500 {
				s.log.Error("dataservice call failed", "path", path, "err", err)
			}
			writeError(w, status, code, err.Error())
			return
		}
		writeJSON(w, resp)
	})
}

// empty is the result of calls that return nothing.
type empty struct{}

func (s *Server) routeStore() {
	st := s.store
	handle(s, storePath+"getmany", func(ctx context.Context, q *keysReq) ([]record, error) {
		rs, err := st.GetMany(ctx, q.Kind, q.Keys)
		return toRecords(rs), err
	})
	handle(s, storePath+"put", func(ctx context.Context, q *putReq) (uint32, error) {
		return st.Put(ctx, q.Kind, q.Key, nonNil(q.Value), q.Options)
	})
	handle(s, storePath+"putmany", func(ctx context.Context, q *putManyReq) (putManyResp, error) {
		for i := range q.Writes {
			q.Writes[i].Value = nonNil(q.Writes[i].Value)
		}
		errs, err := dataservice.PerWrite(st.PutMany(ctx, q.Writes), len(q.Writes))
		if err != nil {
			return putManyResp{}, err
		}
		var resp putManyResp
		for i, e := range errs {
			if e != nil {
				code, _ := codeOf(e)
				resp.Failed = append(resp.Failed, writeFailure{Index: i, Code: code, Message: e.Error()})
			}
		}
		return resp, nil
	})
	handle(s, storePath+"delete", func(ctx context.Context, q *keyReq) (bool, error) {
		return st.Delete(ctx, q.Kind, q.Key, q.Generation)
	})
	handle(s, storePath+"deletemany", func(ctx context.Context, q *keysReq) ([]bool, error) {
		return st.DeleteMany(ctx, q.Kind, q.Keys)
	})
	handle(s, storePath+"scan", func(ctx context.Context, q *scanReq) ([]record, error) {
		rs, err := st.Scan(ctx, q.Kind, q.Prefix, q.After, q.Limit)
		return toRecords(rs), err
	})
	handle(s, storePath+"incr", func(ctx context.Context, q *incrReq) ([]int64, error) {
		return st.Incr(ctx, q.Kind, q.Key, q.Deltas, q.TTL)
	})
	handle(s, storePath+"counters", func(ctx context.Context, q *keyReq) (map[string]int64, error) {
		return st.Counters(ctx, q.Kind, q.Key)
	})
	handle(s, storePath+"listappend", func(ctx context.Context, q *listAppendReq) (int, error) {
		return st.ListAppend(ctx, q.Kind, q.Key, q.Items, q.Options)
	})
	handle(s, storePath+"listrange", func(ctx context.Context, q *listRangeReq) ([][]byte, error) {
		return st.ListRange(ctx, q.Kind, q.Key, q.Start, q.Count)
	})
}

// nonNil keeps an empty value empty: JSON decodes "" and an absent field
// alike, and the store must see a value, not none.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // values travel verbatim (extras may hold '<' and '&')
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", fmt.Sprintf("encoding the answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(b)
}
