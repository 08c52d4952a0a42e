package portal

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed web/static
var staticFS embed.FS

// assets are the embedded static files, each served under a name that
// carries a hash of its content ("portal.css" as
// "/portal/static/portal.3f2a1b9c0d4e.css"), so that browsers keep them for
// a year and a new build is fetched at once.
type assets struct {
	byURL  map[string]*asset // hashed URL path → asset
	byName map[string]*asset // name under web/static → asset
}

type asset struct {
	url         string // the hashed path pages link to
	contentType string
	etag        string
	plain       []byte
	gzipped     []byte // nil when compressing does not pay
}

// staticPrefix is where the assets are served.
const staticPrefix = "/portal/static/"

// loadAssets reads and compresses every embedded asset.
func loadAssets() (*assets, error) {
	a := &assets{byURL: map[string]*asset{}, byName: map[string]*asset{}}
	root, err := fs.Sub(staticFS, "web/static")
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(name)
		ctype := mime.TypeByExtension(ext)
		switch ext { // not every system's mime table knows these
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		if ctype == "" {
			return nil // VERSION, LICENSE, checksums: kept beside the code, not served
		}
		data, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:6])
		as := &asset{
			url:         staticPrefix + strings.TrimSuffix(name, ext) + "." + hash + ext,
			contentType: ctype,
			etag:        `"` + hash + `"`,
			plain:       data,
		}
		if z := gzipBytes(data); len(z) < len(data)*9/10 {
			as.gzipped = z
		}
		a.byURL[as.url] = as
		a.byName[name] = as
		return nil
	})
	return a, err
}

// url returns the hashed path of the asset name (under web/static).
func (a *assets) url(name string) (string, error) {
	as, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("portal: no asset %q", name)
	}
	return as.url, nil
}

// ServeHTTP serves an asset, gzipped when the browser accepts it.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	as, ok := a.byURL[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", as.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", as.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == as.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := as.plain
	if as.gzipped != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = as.gzipped
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// acceptsGzip reports whether the request's Accept-Encoding names gzip
// (without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func gzipBytes(data []byte) []byte {
	var buf bytes.Buffer
	z, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	z.Write(data)
	z.Close()
	return buf.Bytes()
}
