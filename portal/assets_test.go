package portal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The vendored uPlot is what web/static/vendor/uplot/SHA256SUMS records
// (written by `make portal`, which takes it from the npm tarball of
// VERSION with the integrity in INTEGRITY): a hand edit or a stale file
// fails here.
func TestVendoredUPlotMatchesChecksums(t *testing.T) {
	dir := "web/static/vendor/uplot/"
	sums, err := fs.ReadFile(staticFS, dir+"SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	version, err := fs.ReadFile(staticFS, dir+"VERSION")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		listed[name] = true
		data, err := fs.ReadFile(staticFS, dir+name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s does not match its recorded checksum: run make portal", name)
		}
	}
	for _, name := range []string{"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"} {
		if !listed[name] {
			t.Errorf("SHA256SUMS does not list %s", name)
		}
	}
	js, _ := fs.ReadFile(staticFS, dir+"uPlot.iife.min.js")
	if v := strings.TrimSpace(string(version)); !bytes.Contains(js[:200], []byte("(v"+v+")")) {
		t.Errorf("uPlot.iife.min.js is not version %s", v)
	}
	integrity, _ := fs.ReadFile(staticFS, dir+"INTEGRITY")
	if !strings.HasPrefix(string(integrity), "sha512-") {
		t.Errorf("INTEGRITY %q is not an npm integrity", integrity)
	}
}

// The portal's own files name no other site: everything is served from
// the portal itself.
func TestOwnAssetsReferNoOtherSite(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	files := 0
	for _, root := range []string{"web/static", "web/templates"} {
		fs.WalkDir(staticAndTemplates, root, func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(name, "/vendor/") {
				return err
			}
			data, _ := fs.ReadFile(staticAndTemplates, name)
			// An XML namespace names a vocabulary; nothing is fetched from it.
			data = bytes.ReplaceAll(data, []byte(`xmlns="http://www.w3.org/2000/svg"`), nil)
			files++
			for _, m := range external.FindAllString(string(data), -1) {
				t.Errorf("%s refers to %q", name, m)
			}
			return nil
		})
	}
	if files < 10 {
		t.Fatalf("checked %d files: the walk is broken", files)
	}
	// uPlot loads nothing either: no fetch, import, or URL in its code.
	js, _ := fs.ReadFile(staticFS, "web/static/vendor/uplot/uPlot.iife.min.js")
	body := js[bytes.IndexByte(js, '\n'):] // after its banner, which credits its home page
	if m := regexp.MustCompile(`https?://|fetch\(|import\(|XMLHttpRequest`).Find(body); m != nil {
		t.Errorf("uPlot's code has %q", m)
	}
}

// staticAndTemplates walks both embedded trees.
var staticAndTemplates = unionFS{staticFS, templatesFS}

type unionFS []fs.FS

func (u unionFS) Open(name string) (fs.File, error) {
	var err error
	for _, f := range u {
		var file fs.File
		if file, err = f.Open(name); err == nil {
			return file, nil
		}
	}
	return nil, err
}

func TestAssetsServing(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	_, page := b.get("/portal/login")
	m := regexp.MustCompile(`src="(/portal/static/portal\.([0-9a-f]{12})\.js)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no hashed script on the login page")
	}
	get := func(path string, header ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res
	}
	res := get(m[1], "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || res.Header.Get("ETag") != `"`+m[2]+`"` {
		t.Errorf("asset: %d %v", res.StatusCode, res.Header)
	}
	if res := get(m[1]); res.Header.Get("Content-Encoding") != "" {
		t.Error("gzipped for a client that did not ask")
	}
	if res := get(m[1], "Accept-Encoding", "gzip;q=0"); res.Header.Get("Content-Encoding") != "" {
		t.Error("gzipped for a client that refused it")
	}
	if res := get(m[1], "If-None-Match", `"`+m[2]+`"`); res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d", res.StatusCode)
	}
	for _, path := range []string{"/portal/static/portal.js", "/portal/static/portal.000000000000.js", "/portal/static/vendor/uplot/LICENSE"} {
		if res := get(path); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
	// The hash is of the content.
	data, _ := fs.ReadFile(staticFS, "web/static/portal.js")
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:6]) != m[2] {
		t.Error("the asset's name does not carry its hash")
	}
}

// composeBudget is the target: the compose page transfers at
// most 200 KB compressed, cold (the page and every file it loads).
const composeBudget = 200 << 10

func TestComposePageSize(t *testing.T) {
	e := newEnv(t)
	b := e.login(t, "marketer@example.com")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+appURL(appA, "compose"), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	raw.ReadFrom(res.Body)
	res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("the page is not compressed")
	}
	total := raw.Len()
	z, _ := gzip.NewReader(bytes.NewReader(raw.Bytes()))
	var page bytes.Buffer
	page.ReadFrom(z)
	parts := []string{"page " + itoa(raw.Len())}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/portal/static/[^"]+)"`).FindAllStringSubmatch(page.String(), -1) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+m[1], nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(res.Body)
		res.Body.Close()
		total += body.Len()
		parts = append(parts, m[1]+" "+itoa(body.Len()))
	}
	t.Logf("compose page, cold, compressed: %d bytes (%s)", total, strings.Join(parts, ", "))
	if total > composeBudget {
		t.Errorf("the compose page transfers %d bytes, over the %d budget", total, composeBudget)
	}
}

func itoa(n int) string { return formatCount(int64(n)) }
