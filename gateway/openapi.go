package gateway

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed" // openAPIDocument
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// openAPIDocument is the OpenAPI 3.1 description of the REST API, served
// at GET /v1/openapi.json. It is written by hand, indented for people;
// openapi_test.go keeps it true: every route of the table in New is in it
// with its method, path and auth (the /debug/pprof profiles excepted) and
// nothing else is, every $ref resolves, and real answers of the handlers
// validate against the schemas it gives them.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIBody is the document as served: compacted (half the size of
// the indented file), and gzipped for clients that accept it (a tenth of
// that). It is built on the first request.
type openAPIBody struct {
	plain, gzipped []byte
	etag, gzipETag string
}

var openAPIServed = sync.OnceValue(func() openAPIBody {
	var plain bytes.Buffer
	if err := json.Compact(&plain, openAPIDocument); err != nil {
		plain.Reset() // not reached: the tests parse the document
		plain.Write(openAPIDocument)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(plain.Bytes())                          // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	sum := sha256.Sum256(plain.Bytes())
	tag := hex.EncodeToString(sum[:12])
	return openAPIBody{plain: plain.Bytes(), gzipped: gz.Bytes(), etag: `"` + tag + `"`, gzipETag: `"` + tag + `-gzip"`}
})

// openAPI serves the document. http.ServeContent answers HEAD,
// If-None-Match (304) and ranges.
func (g *Gateway) openAPI(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	doc := openAPIServed()
	body, etag := doc.plain, doc.etag
	h := w.Header()
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = doc.gzipped, doc.gzipETag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	return nil
}

// acceptsGzip reports whether an Accept-Encoding header value accepts
// gzip: it names gzip with a q above 0, or, if it does not name gzip, *
// with a q above 0.
func acceptsGzip(header string) bool {
	gzipQ, anyQ := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		switch name = strings.TrimSpace(name); {
		case strings.EqualFold(name, "gzip"):
			gzipQ = q
		case name == "*":
			anyQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return anyQ > 0
}
