package remote

import (
	"errors"
	"net/http"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Paths of the internal API. The store endpoints serve the Store methods;
// the domain endpoints one dataservice.Client method each: the writes and
// the uncached reads. Reads of cached kinds (apps, devices, sessions,
// messages, settings) go through the store endpoints, so the client can
// cache records with their generations.
const (
	basePath   = "/internal/v1/"
	storePath  = basePath + "store/"
	domainPath = basePath + "data/"
	// invalidationPath serves the invalidation stream. Its last element
	// is the stream's former name, "sentinel", kept on the wire so that
	// processes of two versions (a cluster being upgraded) still meet.
	invalidationPath = basePath + "sentinel"
	healthPath       = "/healthz"
)

// Request bodies shared by the domain endpoints of several concerns.
type (
	ridReq  struct{ RID string }
	ridsReq struct{ RIDs []string }
	idReq   struct{ ID uint64 }
	pageReq struct {
		App, Name, After string // Name: the tag of TagMembers, empty otherwise
		Limit            int
	}
)

// record is a dataservice.Record on the wire.
type record struct {
	Key        string `json:"key"`
	Value      []byte `json:"value,omitempty"`
	Generation uint32 `json:"generation,omitempty"`
	Expires    int64  `json:"expires,omitempty"` // unix nanoseconds, 0: never
}

func toRecord(r dataservice.Record) record {
	w := record{Key: r.Key, Value: r.Value, Generation: r.Generation}
	if !r.Expires.IsZero() {
		w.Expires = r.Expires.UnixNano()
	}
	return w
}

func (w record) record() dataservice.Record {
	r := dataservice.Record{Key: w.Key, Value: w.Value, Generation: w.Generation}
	if w.Expires != 0 {
		r.Expires = time.Unix(0, w.Expires)
	}
	if r.Value == nil && r.Generation != 0 {
		r.Value = []byte{} // an existing empty value, not a miss
	}
	return r
}

func toRecords(rs []dataservice.Record) []record {
	out := make([]record, len(rs))
	for i, r := range rs {
		out[i] = toRecord(r)
	}
	return out
}

func fromRecords(ws []record) []dataservice.Record {
	out := make([]dataservice.Record, len(ws))
	for i, w := range ws {
		out[i] = w.record()
	}
	return out
}

// Request bodies of the store endpoints.
type (
	keyReq struct {
		Kind       dataservice.Kind `json:"kind"`
		Key        string           `json:"key"`
		Generation uint32           `json:"generation,omitempty"`
	}
	keysReq struct {
		Kind dataservice.Kind `json:"kind"`
		Keys []string         `json:"keys"`
	}
	putReq struct {
		Kind    dataservice.Kind         `json:"kind"`
		Key     string                   `json:"key"`
		Value   []byte                   `json:"value"`
		Options dataservice.WriteOptions `json:"options"`
	}
	putManyReq struct {
		Writes []dataservice.Write `json:"writes"`
	}
	// putManyResp lists the writes that failed their own conditions; the
	// others were applied.
	putManyResp struct {
		Failed []writeFailure `json:"failed,omitempty"`
	}
	writeFailure struct {
		Index   int    `json:"index"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	scanReq struct {
		Kind   dataservice.Kind `json:"kind"`
		Prefix string           `json:"prefix"`
		After  string           `json:"after,omitempty"`
		Limit  int              `json:"limit"`
	}
	incrReq struct {
		Kind   dataservice.Kind    `json:"kind"`
		Key    string              `json:"key"`
		Deltas []dataservice.Delta `json:"deltas"`
		TTL    time.Duration       `json:"ttl,omitempty"`
	}
	listAppendReq struct {
		Kind    dataservice.Kind        `json:"kind"`
		Key     string                  `json:"key"`
		Items   [][]byte                `json:"items"`
		Options dataservice.ListOptions `json:"options"`
	}
	listRangeReq struct {
		Kind  dataservice.Kind `json:"kind"`
		Key   string           `json:"key"`
		Start int              `json:"start"`
		Count int              `json:"count"`
	}
)

// errorBody is the body of every failed call.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorCodes maps the sentinel errors of dataservice (ErrNotFound, ...) to
// wire codes and statuses, in both directions: the client returns the
// same error the server saw.
var errorCodes = []struct {
	err    error
	code   string
	status int
}{
	{dataservice.ErrNotFound, "not_found", http.StatusNotFound},
	{dataservice.ErrExists, "exists", http.StatusConflict},
	{dataservice.ErrGenerationMismatch, "generation_mismatch", http.StatusPreconditionFailed},
	{dataservice.ErrTooManyTags, "too_many_tags", http.StatusBadRequest}, // before ErrInvalid, which they wrap
	{dataservice.ErrAliasFull, "alias_full", http.StatusBadRequest},
	{dataservice.ErrLastOwner, "last_owner", http.StatusBadRequest},
	{dataservice.ErrMembersFull, "members_full", http.StatusBadRequest},
	{dataservice.ErrInvalid, "invalid", http.StatusBadRequest},
	{dataservice.ErrLimit, "limit", http.StatusConflict},
	{dataservice.ErrClosed, "closed", http.StatusServiceUnavailable},
	{dataservice.ErrUnavailable, "unavailable", http.StatusServiceUnavailable},
}

func codeOf(err error) (string, int) {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code, e.status
		}
	}
	return "internal", http.StatusInternalServerError
}

func errorOf(code string) error {
	for _, e := range errorCodes {
		if e.code == code {
			return e.err
		}
	}
	return dataservice.ErrUnavailable
}
