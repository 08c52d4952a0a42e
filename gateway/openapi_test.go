package gateway_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/jpush"
	"github.com/heraldpush/herald/internal/ratelimit"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The tests of gateway/openapi.json, the hand-written OpenAPI 3.1
// description of the API: it is well formed, it describes exactly the
// routes of the gateway (TestOpenAPIDescribesEveryRoute), and what the
// handlers really answer matches it (TestOpenAPIMatchesTheHandlers for
// /v1, TestOpenAPIMatchesTheJPushFace for /v3). The document's schemas are
// JSON Schema 2020-12; github.com/santhosh-tekuri/jsonschema validates
// against them, and describe makes the check strict; the schemas may use
// only the keywords in schemaKeywords, so that nothing in them goes
// unchecked.

// openAPIFile is the document, relative to the package directory.
const openAPIFile = "openapi.json"

// openAPIDoc is the parsed document, and its schemas compiled.
type openAPIDoc struct {
	// root is the document as written. Numbers are json.Number.
	root map[string]any

	// mu guards the fields below: the compiler is not safe for concurrent
	// use.
	mu       sync.Mutex
	compiler *jsonschema.Compiler          // holds root as the resource openAPIFile
	compiled map[string]*jsonschema.Schema // by JSON pointer into the document
}

// openAPI loads the document once for all the tests; its schemas are
// compiled as they are first used, and kept.
var openAPI = sync.OnceValues(func() (*openAPIDoc, error) {
	b, err := os.ReadFile(openAPIFile)
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s is not JSON: %w", openAPIFile, err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a JSON object", openAPIFile)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's dialect builds on it
	c.AssertFormat()                     // date-time, which 2020-12 only annotates unless asked
	c.AssertContent()                    // contentEncoding: base64, likewise
	if err := c.AddResource(openAPIFile, root); err != nil {
		return nil, err
	}
	return &openAPIDoc{root: root, compiler: c, compiled: map[string]*jsonschema.Schema{}}, nil
})

func loadOpenAPI(tb testing.TB) *openAPIDoc {
	tb.Helper()
	d, err := openAPI()
	if err != nil {
		tb.Fatalf("load %s: %v", openAPIFile, err)
	}
	return d
}

// resolve follows a local reference ("#/components/schemas/Tag").
func (d *openAPIDoc) resolve(ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local (#/…)", ref)
	}
	var cur any = d.root
	if rest == "" {
		return cur, nil
	}
	if !strings.HasPrefix(rest, "/") {
		return nil, fmt.Errorf("$ref %q is not a JSON pointer", ref)
	}
	for _, tok := range strings.Split(rest[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("$ref %q does not resolve: no %q", ref, tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("$ref %q does not resolve: no index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("$ref %q does not resolve: %q is inside a scalar", ref, tok)
		}
	}
	return cur, nil
}

// deref follows v's $ref if it is a Reference Object.
func (d *openAPIDoc) deref(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not an object")
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return m, nil
	}
	target, err := d.resolve(ref)
	if err != nil {
		return nil, err
	}
	tm, ok := target.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not an object", ref)
	}
	return tm, nil
}

// follow returns the object at JSON pointer at, or the one its $ref names,
// and that object's JSON pointer.
func (d *openAPIDoc) follow(at string) (string, map[string]any, error) {
	v, err := d.resolve("#" + at)
	if err != nil {
		return "", nil, err
	}
	m, err := d.deref(v)
	if err != nil {
		return "", nil, err
	}
	if ref, ok := v.(map[string]any)["$ref"].(string); ok {
		at = strings.TrimPrefix(ref, "#")
	}
	return at, m, nil
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIOperation is one operation of the document.
type openAPIOperation struct {
	method, path string // "GET", "/v1/devices/{registration_id}"
	op, item     map[string]any
	at           string // JSON pointer of op: "/paths/~1v1~1devices~1{registration_id}/get"
}

func (o openAPIOperation) key() string { return o.method + " " + o.path }

// operations returns the document's operations by "METHOD path".
func (d *openAPIDoc) operations(tb testing.TB) map[string]openAPIOperation {
	tb.Helper()
	paths, ok := d.root["paths"].(map[string]any)
	if !ok {
		tb.Fatalf("%s has no paths object", openAPIFile)
	}
	out := map[string]openAPIOperation{}
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			tb.Fatalf("paths[%q] is not an object", path)
		}
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				o := openAPIOperation{method: strings.ToUpper(m), path: path, op: op, item: item, at: "/paths/" + pointerEscape(path) + "/" + m}
				out[o.key()] = o
			}
		}
	}
	return out
}

// params returns the operation's parameters, path-level ones overridden by
// operation-level ones of the same name and location, by "in name".
func (d *openAPIDoc) params(o openAPIOperation) (map[string]map[string]any, []string) {
	var problems []string
	out := map[string]map[string]any{}
	for _, level := range []map[string]any{o.item, o.op} {
		list, _ := level["parameters"].([]any)
		seen := map[string]bool{}
		for i, raw := range list {
			p, err := d.deref(raw)
			if err != nil {
				problems = append(problems, fmt.Sprintf("parameters[%d]: %v", i, err))
				continue
			}
			name, _ := p["name"].(string)
			in, _ := p["in"].(string)
			k := in + " " + name
			if name == "" || in == "" {
				problems = append(problems, fmt.Sprintf("parameters[%d] has no name or no in", i))
			}
			if seen[k] {
				problems = append(problems, fmt.Sprintf("parameter %s is declared twice", k))
			}
			seen[k] = true
			out[k] = p
		}
	}
	return out, problems
}

// requestSchema returns the JSON pointer of the application/json schema of
// o's request body.
func (d *openAPIDoc) requestSchema(o openAPIOperation) (string, bool) {
	if _, ok := o.op["requestBody"]; !ok {
		return "", false
	}
	at, m, err := d.follow(o.at + "/requestBody")
	if err != nil {
		return "", false
	}
	return jsonSchemaOf(at, m)
}

// response returns o's documented response for status (exact, then the
// range (4XX), then default): its key, JSON pointer and object.
func (d *openAPIDoc) response(o openAPIOperation, status int) (key, at string, resp map[string]any, ok bool) {
	resps, _ := o.op["responses"].(map[string]any)
	for _, k := range []string{strconv.Itoa(status), fmt.Sprintf("%dXX", status/100), "default"} {
		if _, ok := resps[k]; ok {
			at, m, err := d.follow(o.at + "/responses/" + k)
			return k, at, m, err == nil
		}
	}
	return "", "", nil, false
}

// jsonSchemaOf returns the JSON pointer of the schema of the
// application/json content of the request body or response m, at at.
func jsonSchemaOf(at string, m map[string]any) (string, bool) {
	content, _ := m["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	_, ok := media["schema"]
	return at + "/content/application~1json/schema", ok
}

// TestOpenAPIDocumentIsWellFormed checks the structure OpenAPI 3.1 asks
// for, and what this project asks on top: every operation named, tagged
// and secured by declared schemes; every $ref resolving; every component
// used; every path parameter declared; every example valid.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	d := loadOpenAPI(t)

	t.Run("version and info", func(t *testing.T) {
		if v, _ := d.root["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
			t.Errorf("openapi = %q, want 3.1.x", v)
		}
		info, _ := d.root["info"].(map[string]any)
		for _, f := range []string{"title", "version", "description"} {
			if s, _ := info[f].(string); s == "" {
				t.Errorf("info.%s is missing", f)
			}
		}
	})

	t.Run("every $ref resolves and every component is used", func(t *testing.T) {
		used := map[string]bool{}
		walkJSON(d.root, "", func(at string, v any) {
			m, ok := v.(map[string]any)
			if !ok {
				return
			}
			raw, ok := m["$ref"]
			if !ok {
				return
			}
			ref, ok := raw.(string)
			if !ok {
				t.Errorf("at %s: $ref is not a string", at)
				return
			}
			if _, err := d.resolve(ref); err != nil {
				t.Errorf("at %s: %v", at, err)
			}
			used[ref] = true
		})
		components, _ := d.root["components"].(map[string]any)
		for kind, v := range components {
			if kind == "securitySchemes" {
				continue // used by security requirements, checked below
			}
			group, _ := v.(map[string]any)
			for name := range group {
				if ref := "#/components/" + kind + "/" + name; !used[ref] {
					t.Errorf("%s is never used; remove it or refer to it", ref)
				}
			}
		}
	})

	ops := d.operations(t)
	if len(ops) == 0 {
		t.Fatal("the document has no operations")
	}
	components, _ := d.root["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	tags := map[string]bool{}
	topTags, _ := d.root["tags"].([]any)
	for _, raw := range topTags {
		tag, _ := raw.(map[string]any)
		name, _ := tag["name"].(string)
		tags[name] = true
	}

	t.Run("paths", func(t *testing.T) {
		paths, _ := d.root["paths"].(map[string]any)
		for path, raw := range paths {
			if !strings.HasPrefix(path, "/") {
				t.Errorf("path %q does not start with /", path)
			}
			item, _ := raw.(map[string]any)
			for k := range item {
				if !slices.Contains(httpMethods, k) && k != "parameters" && k != "summary" && k != "description" {
					t.Errorf("paths[%q] has %q: not a method, parameters, summary or description", path, k)
				}
			}
		}
	})

	t.Run("operations", func(t *testing.T) {
		ids := map[string]string{}
		for _, key := range sortedKeys(ops) {
			o := ops[key]
			id, _ := o.op["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", key)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s and %s share operationId %q", key, other, id)
			}
			ids[id] = key
			if s, _ := o.op["summary"].(string); s == "" {
				t.Errorf("%s has no summary", key)
			}
			opTags, _ := o.op["tags"].([]any)
			if len(opTags) == 0 {
				t.Errorf("%s has no tag", key)
			}
			for _, tag := range opTags {
				if name, _ := tag.(string); !tags[name] {
					t.Errorf("%s has tag %q, which the top-level tags do not declare", key, tag)
				}
			}
			sec, ok := o.op["security"].([]any)
			if !ok {
				t.Errorf(`%s has no security: say [] for none, [{"appKey": []}] or [{"adminToken": []}]`, key)
			}
			for _, req := range sec {
				for name := range req.(map[string]any) {
					if _, ok := schemes[name]; !ok {
						t.Errorf("%s is secured by %q, which components.securitySchemes does not declare", key, name)
					}
				}
			}
			resps, _ := o.op["responses"].(map[string]any)
			if len(resps) == 0 {
				t.Errorf("%s has no responses", key)
			}
			success := false
			for status, raw := range resps {
				if !regexp.MustCompile(`^([1-5](\d\d|XX)|default)$`).MatchString(status) {
					t.Errorf("%s: response key %q is not a status, a range or default", key, status)
				}
				success = success || strings.HasPrefix(status, "2")
				r, err := d.deref(raw)
				if err != nil {
					t.Errorf("%s: response %s: %v", key, status, err)
					continue
				}
				if s, _ := r["description"].(string); s == "" {
					t.Errorf("%s: response %s has no description", key, status)
				}
			}
			if !success {
				t.Errorf("%s documents no 2xx response", key)
			}
		}
	})

	t.Run("path parameters", func(t *testing.T) {
		for _, key := range sortedKeys(ops) {
			o := ops[key]
			params, problems := d.params(o)
			for _, p := range problems {
				t.Errorf("%s: %s", key, p)
			}
			inPath := map[string]bool{}
			for _, m := range pathVariable.FindAllStringSubmatch(o.path, -1) {
				inPath[m[1]] = true
				p, ok := params["path "+m[1]]
				switch {
				case !ok:
					t.Errorf("%s: path parameter {%s} is not declared (parameters with in: path)", key, m[1])
				case p["required"] != true:
					t.Errorf("%s: path parameter {%s} must say required: true", key, m[1])
				}
			}
			for k := range params {
				if name, ok := strings.CutPrefix(k, "path "); ok && !inPath[name] {
					t.Errorf("%s declares path parameter %q, which its path does not have", key, name)
				}
			}
		}
	})

	t.Run("schemas compile, use only known keywords, and their examples are valid", func(t *testing.T) {
		forEachSchemaRoot(d.root, "", func(at string, schema any, example any, hasExample bool) {
			if _, err := d.schema(at); err != nil {
				t.Errorf("the schema at %s does not compile: %v", at, err)
				return
			}
			if hasExample {
				if err := d.validate(at, example); err != nil {
					t.Errorf("the example at %s does not match its schema: %v", at, err)
				}
			}
			forEachSchema(schema, at, func(at string, s map[string]any) {
				for _, k := range sortedKeys(s) {
					if !schemaKeywords[k] {
						t.Errorf("%s: keyword %q is not in schemaKeywords of openapi_test.go; use another, or add it there (and to forEachSchema if it holds schemas)", at, k)
					}
				}
				// The validator passes over a format or an encoding it
				// does not know; the document must use none.
				_, hasFormat := s["format"]
				_, hasEncoding := s["contentEncoding"]
				if hasFormat || hasEncoding {
					compiled, err := d.schema(at)
					switch {
					case err != nil:
						t.Errorf("%s does not compile: %v", at, err)
					case hasFormat && compiled.Format == nil:
						t.Errorf("%s: the validator does not know format %q, and would not check it", at, s["format"])
					case hasEncoding && compiled.ContentEncoding == nil:
						t.Errorf("%s: the validator does not know contentEncoding %q, and would not check it", at, s["contentEncoding"])
					}
				}
				if ex, ok := s["example"]; ok {
					if err := d.validate(at, ex); err != nil {
						t.Errorf("the example at %s does not match its schema: %v", at, err)
					}
				}
			})
		})
	})
}

var pathVariable = regexp.MustCompile(`\{([^{}]+)\}`)

// walkJSON calls fn on v and everything inside it, with JSON pointers.
func walkJSON(v any, at string, fn func(at string, v any)) {
	fn(at, v)
	switch c := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(c) {
			walkJSON(c[k], at+"/"+pointerEscape(k), fn)
		}
	case []any:
		for i, e := range c {
			walkJSON(e, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// forEachSchemaRoot calls fn on every schema the document holds at the top
// of a schema tree (components.schemas entries and every "schema" member),
// with the example given beside it (in a media type or parameter) if any;
// examples inside schemas are reached by forEachSchema.
func forEachSchemaRoot(root map[string]any, at string, fn func(at string, schema, example any, hasExample bool)) {
	if comps, ok := root["components"].(map[string]any); ok {
		if schemas, ok := comps["schemas"].(map[string]any); ok {
			for _, name := range sortedKeys(schemas) {
				fn("/components/schemas/"+pointerEscape(name), schemas[name], nil, false)
			}
		}
	}
	walkJSON(root, at, func(at string, v any) {
		m, ok := v.(map[string]any)
		if !ok || strings.HasPrefix(at, "/components/schemas") {
			return
		}
		if s, ok := m["schema"]; ok {
			ex, hasEx := m["example"]
			fn(at+"/schema", s, ex, hasEx)
		}
	})
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// openAPIPath turns a ServeMux pattern into an OpenAPI path: {name...}
// becomes {name}, and P/{$} (P with a trailing slash, which the /v3 face
// answers as JPush's Python SDK sends it) is P: the document lists such a
// path once, and says so.
func openAPIPath(pattern string) string {
	if p, ok := strings.CutSuffix(pattern, "/{$}"); ok && p != "" {
		pattern = p
	}
	pattern = strings.ReplaceAll(pattern, "{$}", "")
	return regexp.MustCompile(`\{([^{}]+)\.\.\.\}`).ReplaceAllString(pattern, "{$1}")
}

// undocumentedPrefix is the one part of the route table the document
// leaves out, saying so in info.description: Go's profiles for operators.
const undocumentedPrefix = "/debug/pprof/"

// TestOpenAPIDescribesEveryRoute compares the operations of the document
// with the route table of a real gateway, both ways, and their security
// with the routes' authentication.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	d := loadOpenAPI(t)
	ops := d.operations(t)
	e := newEnv(t, gateway.Config{})

	wantSecurity := map[string]string{"none": "[]", "app": `[{"appKey":[]},{"session":[]}]`, "basic": `[{"appKey":[]}]`,
		"session": `[{"session":[]}]`, "admin": `[{"adminToken":[]}]`}
	routes := map[string]gateway.RouteForTest{} // by "METHOD path"
	for _, rt := range gateway.RoutesForTest(e.gw) {
		if strings.HasPrefix(rt.Pattern, undocumentedPrefix) {
			continue
		}
		key := rt.Method + " " + openAPIPath(rt.Pattern)
		if first, seen := routes[key]; seen {
			// A trailing-slash form of a route already checked.
			if first.Auth != rt.Auth {
				t.Errorf("%s: patterns %q and %q answer the same operation with different auth (%s, %s)", key, first.Pattern, rt.Pattern, first.Auth, rt.Auth)
			}
			continue
		}
		routes[key] = rt
		o, ok := ops[key]
		if !ok {
			t.Errorf("%s is a route of the gateway (pattern %q) but %s does not describe it: add the operation under paths[%q].%s",
				key, rt.Pattern, openAPIFile, openAPIPath(rt.Pattern), strings.ToLower(rt.Method))
			continue
		}
		want, known := wantSecurity[rt.Auth]
		if !known {
			t.Errorf("%s: route auth %q is new to this test; map it to a security scheme in wantSecurity", key, rt.Auth)
			continue
		}
		got, _ := json.Marshal(o.op["security"])
		if string(got) != want {
			t.Errorf("%s: the route's auth is %s, so its security must be %s; the document says %s", key, rt.Auth, want, got)
		}
		if rt.Auth == "app" {
			desc, _ := o.op["description"].(string)
			if note := "Role: `" + rt.Role + "`."; !strings.Contains(desc, note) {
				t.Errorf("%s: a portal user needs the %s role on the app; the operation's description must say %q", key, rt.Role, note)
			}
		}
	}
	for _, key := range sortedKeys(ops) {
		if _, ok := routes[key]; !ok {
			t.Errorf("%s is in %s but is not a route of the gateway: remove it from the document, or add the route", key, openAPIFile)
		}
	}
	info, _ := d.root["info"].(map[string]any)
	if desc, _ := info["description"].(string); !strings.Contains(desc, "/debug/pprof") {
		t.Errorf("info.description must say that %s* is left out", undocumentedPrefix)
	}
}

// TestOpenAPIServed fetches the document from the gateway, without
// authentication: compacted, gzipped for clients that accept it, with an
// ETag per encoding.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	file, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, file); err != nil {
		t.Fatal(err)
	}
	// The test client adds no Accept-Encoding of its own, and so leaves
	// the body as sent, when the request sets one.
	get := func(t *testing.T, header map[string]string) response {
		t.Helper()
		if header == nil {
			header = map[string]string{}
		}
		if _, ok := header["Accept-Encoding"]; !ok {
			header["Accept-Encoding"] = "identity"
		}
		return e.do(t, request{method: "GET", path: "/v1/openapi.json", header: header})
	}
	etags := map[string]string{} // by Content-Encoding
	for _, tc := range []struct {
		acceptEncoding string
		gzipped        bool
	}{
		{"identity", false},
		{"gzip", true},
		{"br, gzip;q=0.5", true},
		{"GZIP", true},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip;q=0, *", false},
		{"deflate, br", false},
	} {
		t.Run("Accept-Encoding "+tc.acceptEncoding, func(t *testing.T) {
			r := get(t, map[string]string{"Accept-Encoding": tc.acceptEncoding})
			if r.status != http.StatusOK {
				t.Fatalf("status %d; body %.200s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if v := r.header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("Vary = %q, want Accept-Encoding", v)
			}
			body, enc := r.body, r.header.Get("Content-Encoding")
			if tc.gzipped != (enc == "gzip") {
				t.Fatalf("Content-Encoding = %q; want gzip: %v", enc, tc.gzipped)
			}
			if tc.gzipped {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("not gzip: %v", err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("bad gzip: %v", err)
				}
			}
			if !bytes.Equal(body, compact.Bytes()) {
				t.Fatalf("served %d bytes that are not %s compacted (%d bytes)", len(body), openAPIFile, compact.Len())
			}
			etag := r.header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if prev, ok := etags[enc]; ok && prev != etag {
				t.Errorf("ETag %s, and %s before, for the same encoding", etag, prev)
			}
			etags[enc] = etag
		})
	}
	if len(etags) == 2 && etags[""] == etags["gzip"] {
		t.Errorf("both encodings have ETag %s; each needs its own", etags[""])
	}

	r := get(t, map[string]string{"If-None-Match": etags[""]})
	if r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("If-None-Match with the ETag: status %d, %d bytes; want 304 and no body", r.status, len(r.body))
	}
	r = get(t, map[string]string{"If-None-Match": etags["gzip"], "Accept-Encoding": "gzip"})
	if r.status != http.StatusNotModified {
		t.Errorf("If-None-Match with the gzip ETag: status %d, want 304", r.status)
	}
	r = get(t, map[string]string{"If-None-Match": etags["gzip"]})
	if r.status != http.StatusOK {
		t.Errorf("If-None-Match with the gzip ETag, not accepting gzip: status %d, want 200", r.status)
	}
	r = e.do(t, request{method: "HEAD", path: "/v1/openapi.json", header: map[string]string{"Accept-Encoding": "identity"}})
	if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("ETag") != etags[""] {
		t.Errorf("HEAD: status %d, %d bytes, ETag %q; want 200, no body, %s", r.status, len(r.body), r.header.Get("ETag"), etags[""])
	}
	e.do(t, request{method: "POST", path: "/v1/openapi.json"}).wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

// conformance calls the API and checks each exchange against the
// document: the request body against the documented request schema, the
// status against the documented responses, the body against that
// response's schema. Both checks are strict: an object member the
// document does not describe fails them.
type conformance struct {
	e   *env
	doc *openAPIDoc
	ops map[string]openAPIOperation
}

// exchange is one call: op is "METHOD /documented/{path}", path the one
// called (with its query). badRequest marks bodies sent to be rejected:
// they are not checked against the request schema.
type exchange struct {
	op, path, auth string
	body           any
	badRequest     bool
	header         map[string]string
	status         int
}

func (c *conformance) call(t *testing.T, x exchange) response {
	t.Helper()
	o, ok := c.ops[x.op]
	if !ok {
		t.Fatalf("%s is not in %s", x.op, openAPIFile)
	}
	method, _, _ := strings.Cut(x.op, " ")
	req := request{method: method, path: x.path, auth: x.auth, header: x.header}
	if x.body != nil {
		raw, err := json.Marshal(x.body)
		if s, ok := x.body.(string); ok {
			raw, err = []byte(s), nil
		}
		if err != nil {
			t.Fatal(err)
		}
		req.body = bytes.NewReader(raw)
		schema, documented := c.doc.requestSchema(o)
		switch {
		case !documented:
			t.Errorf("%s: sent a body, but the document gives the operation no JSON request body", x.op)
		case !x.badRequest:
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: the test's body is not JSON: %v", x.op, err)
			}
			if err := c.doc.validate(schema, v); err != nil {
				t.Errorf("%s: the request body %s does not match the document: %v", x.op, raw, err)
			}
		}
	}
	r := c.e.do(t, req)
	if r.status != x.status {
		t.Errorf("%s %s: status %d, want %d; body %.2000s", method, x.path, r.status, x.status, r.body)
	}
	key, at, resp, ok := c.doc.response(o, r.status)
	if !ok {
		t.Errorf("%s answered %d, which the document does not list among its responses (nor a range or default); body %s", x.op, r.status, r.body)
		return r
	}
	c.checkHeaders(t, x.op, r, at, resp)
	schema, hasBody := jsonSchemaOf(at, resp)
	if !hasBody {
		if len(r.body) != 0 {
			t.Errorf("%s → %d: the document gives response %s no content, but it had a body: %s", x.op, r.status, key, r.body)
		}
		return r
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s → %d: Content-Type %q, the document says application/json", x.op, r.status, ct)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
	if err != nil {
		t.Errorf("%s → %d: the body is not JSON (%v): %s", x.op, r.status, err, r.body)
		return r
	}
	if err := c.doc.validate(schema, v); err != nil {
		t.Errorf("%s → %d: the body does not match response %s of the document: %v\nbody: %.2000s", x.op, r.status, key, err, r.body)
	}
	return r
}

// checkHeaders checks the headers a documented response gives: sent (the
// test gateways run with the default configuration, under which every
// header the document lists is sent), and matching their schema
// (integers as JSON numbers).
func (c *conformance) checkHeaders(t *testing.T, op string, r response, at string, resp map[string]any) {
	t.Helper()
	headers, _ := resp["headers"].(map[string]any)
	for _, name := range sortedKeys(headers) {
		hat, _, err := c.doc.follow(at + "/headers/" + pointerEscape(name))
		if err != nil {
			t.Errorf("%s → %d: header %s: %v", op, r.status, name, err)
			continue
		}
		value := r.header.Get(name)
		if value == "" {
			t.Errorf("%s → %d: the document lists header %s for this response; the gateway did not send it", op, r.status, name)
			continue
		}
		var v any = value
		if _, err := strconv.ParseFloat(value, 64); err == nil {
			v = json.Number(value)
		}
		if err := c.doc.validate(hat+"/schema", v); err != nil {
			t.Errorf("%s → %d: header %s: %q does not match the document: %v", op, r.status, name, value, err)
		}
	}
}

// TestOpenAPIMatchesTheHandlers drives every /v1 operation, and errors of
// most, through a real gateway and checks each exchange against the
// document.
func TestOpenAPIMatchesTheHandlers(t *testing.T) {
	d := loadOpenAPI(t)
	e := newEnv(t, gateway.Config{})
	c := &conformance{e: e, doc: d, ops: d.operations(t)}
	admin := bearer(adminToken)

	c.call(t, exchange{op: "GET /healthz", path: "/healthz", status: 200})
	c.call(t, exchange{op: "GET /readyz", path: "/readyz", status: 200})
	c.call(t, exchange{op: "GET /v1/openapi.json", path: "/v1/openapi.json", status: 200})
	c.call(t, exchange{op: "GET /v1/admin/runtime", path: "/v1/admin/runtime", auth: admin, status: 200})
	c.call(t, exchange{op: "GET /v1/admin/runtime", path: "/v1/admin/runtime", auth: bearer("wrong"), status: 401})

	// Apps and devices.
	var a app
	c.call(t, exchange{op: "POST /v1/apps", path: "/v1/apps", auth: admin, body: map[string]any{"name": "shop"}, status: 201}).decode(t, &a)
	c.call(t, exchange{op: "POST /v1/apps", path: "/v1/apps", auth: admin, status: 201})
	c.call(t, exchange{op: "POST /v1/apps", path: "/v1/apps", auth: admin, body: map[string]any{"nmae": "typo"}, badRequest: true, status: 400})
	c.call(t, exchange{op: "POST /v1/apps", path: "/v1/apps", status: 401})
	var devs [3]device
	for i, p := range []map[string]any{
		{"app_key": a.Key, "platform": "android"},
		{"app_key": a.Key, "platform": "ios", "timezone": "Asia/Shanghai"},
		{"app_key": a.Key},
	} {
		c.call(t, exchange{op: "POST /v1/devices", path: "/v1/devices", body: p, status: 201}).decode(t, &devs[i])
	}
	rid := devs[0].RID
	c.call(t, exchange{op: "POST /v1/devices", path: "/v1/devices", body: map[string]any{"app_key": "000000000000000000000000"}, status: 400})
	c.call(t, exchange{op: "POST /v1/devices", path: "/v1/devices", body: map[string]any{"app_key": a.Key, "platform": "palm"}, badRequest: true, status: 400})
	{ // An app closed to the public, and limits.
		var closed app
		c.call(t, exchange{op: "POST /v1/apps", path: "/v1/apps", auth: admin, status: 201}).decode(t, &closed)
		const rs = "/v1/app/registration-secret"
		var set struct {
			Secret string `json:"registration_secret"`
		}
		c.call(t, exchange{op: "PUT " + rs, path: rs, auth: closed.auth(), status: 200}).decode(t, &set)
		c.call(t, exchange{op: "PUT " + rs, path: rs, status: 401})
		c.call(t, exchange{op: "POST /v1/devices", path: "/v1/devices", body: map[string]any{"app_key": closed.Key}, status: 403})
		c.call(t, exchange{op: "POST /v1/devices", path: "/v1/devices", body: map[string]any{"app_key": closed.Key, "registration_secret": set.Secret}, status: 201})
		c.call(t, exchange{op: "DELETE " + rs, path: rs, auth: closed.auth(), status: 204})
		limited := &conformance{e: newEnv(t, gateway.Config{Registrations: gateway.RegistrationLimits{PerApp: ratelimit.Rate{Limit: 1, Window: time.Hour}}}), doc: d, ops: c.ops}
		var one app
		limited.call(t, exchange{op: "POST /v1/apps", path: "/v1/apps", auth: admin, status: 201}).decode(t, &one)
		limited.call(t, exchange{op: "POST /v1/devices", path: "/v1/devices", body: map[string]any{"app_key": one.Key}, status: 201})
		limited.call(t, exchange{op: "POST /v1/devices", path: "/v1/devices", body: map[string]any{"app_key": one.Key}, status: 429})
	}

	c.call(t, exchange{op: "GET /v1/dispatch", path: "/v1/dispatch?registration_id=" + rid + "&failed=10.0.0.1:5222", status: 200})
	c.call(t, exchange{op: "GET /v1/dispatch", path: "/v1/dispatch", status: 400})
	c.call(t, exchange{op: "GET /v1/dispatch", path: "/v1/dispatch?registration_id=nobody", status: 404})
	e.cluster.setAddresses(nil)
	c.call(t, exchange{op: "GET /v1/dispatch", path: "/v1/dispatch?registration_id=" + rid, status: 503})
	e.cluster.setAddresses(testAddresses)

	const device = "GET /v1/devices/{registration_id}"
	c.call(t, exchange{op: device, path: "/v1/devices/" + rid, auth: a.auth(), status: 200})
	e.connect(t, rid, connectorA)
	c.call(t, exchange{op: device, path: "/v1/devices/" + rid, auth: a.auth(), status: 200})
	c.call(t, exchange{op: device, path: "/v1/devices/nobody", auth: a.auth(), status: 404})
	c.call(t, exchange{op: device, path: "/v1/devices/" + rid, status: 401})
	const update = "POST /v1/devices/{registration_id}"
	for i, dv := range devs {
		c.call(t, exchange{op: update, path: "/v1/devices/" + dv.RID, auth: a.auth(), status: 200,
			body: map[string]any{"tags": map[string]any{"add": []string{"vip", fmt.Sprintf("group-%d", i)}}, "alias": "alice"}})
	}
	c.call(t, exchange{op: update, path: "/v1/devices/" + rid, auth: a.auth(), body: map[string]any{"tags": map[string]any{"remove": []string{"group-0"}}, "alias": ""}, status: 200})
	c.call(t, exchange{op: update, path: "/v1/devices/" + rid, auth: a.auth(), body: map[string]any{}, badRequest: true, status: 400})
	c.call(t, exchange{op: update, path: "/v1/devices/nobody", auth: a.auth(), body: map[string]any{"alias": "bob"}, status: 404})

	// Tags and aliases.
	c.call(t, exchange{op: "GET /v1/tags", path: "/v1/tags?limit=1", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v1/tags", path: "/v1/tags?limit=0", auth: a.auth(), status: 400})
	c.call(t, exchange{op: "GET /v1/tags/{tag}", path: "/v1/tags/vip?limit=2", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v1/tags/{tag}", path: "/v1/tags/unused", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v1/aliases/{alias}", path: "/v1/aliases/alice", auth: a.auth(), status: 200})

	// Segments.
	var seg struct {
		ID string `json:"segment_id"`
	}
	c.call(t, exchange{op: "POST /v1/segments", path: "/v1/segments", auth: a.auth(), status: 201,
		body: map[string]any{"name": "VIPs on phones", "tags": []string{"vip"}, "platforms": []string{"ios", "android"}, "active_within_days": 7}}).decode(t, &seg)
	c.call(t, exchange{op: "POST /v1/segments", path: "/v1/segments", auth: a.auth(), body: map[string]any{"tags": []string{"vip"}}, badRequest: true, status: 400})
	c.call(t, exchange{op: "GET /v1/segments", path: "/v1/segments", auth: a.auth(), status: 200})
	const segment = "/v1/segments/{segment_id}"
	c.call(t, exchange{op: "GET " + segment, path: "/v1/segments/" + seg.ID, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "PUT " + segment, path: "/v1/segments/" + seg.ID, auth: a.auth(), body: map[string]any{"name": "everyone", "active_within_days": nil}, status: 200})
	c.call(t, exchange{op: "PUT " + segment, path: "/v1/segments/0123456789abcdef", auth: a.auth(), body: map[string]any{"name": "x"}, status: 404})

	// Push, audiences and reports.
	c.call(t, exchange{op: "POST /v1/audiences/estimate", path: "/v1/audiences/estimate", auth: a.auth(), body: map[string]any{"audience": map[string]any{"tag": []string{"vip"}, "tag_not": []string{"group-1"}}}, status: 200})
	c.call(t, exchange{op: "POST /v1/audiences/estimate", path: "/v1/audiences/estimate", auth: a.auth(), body: map[string]any{"audience": map[string]any{"segment": []string{"0123456789abcdef"}}}, status: 400})
	c.call(t, exchange{op: "POST /v1/push/validate", path: "/v1/push/validate", auth: a.auth(), body: map[string]any{"audience": "all", "message": map[string]any{"content": "hi"}}, status: 200})
	var pushed struct {
		MsgID string `json:"msg_id"`
	}
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a.auth(), status: 200, body: map[string]any{
		"audience": map[string]any{"registration_id": []string{rid, devs[1].RID}},
		"message":  map[string]any{"title": "Orders", "content": "Your order shipped", "extras": map[string]any{"order": 42}},
		"options":  map[string]any{"time_to_live": 3600, "priority": "high", "collapse_id": "orders", "cid": "order-42"},
	}}).decode(t, &pushed)
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a.auth(), status: 200, body: map[string]any{
		"audience": map[string]any{"segment": []string{seg.ID}}, "message": map[string]any{"content": "paced"}, "options": map[string]any{"rate": 100},
	}})
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a.auth(), status: 400, badRequest: true, body: map[string]any{
		"audience": "all", "message": map[string]any{"content": "x"}, "options": map[string]any{"rate": 1, "big_push_duration": 1},
	}})
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a.auth(), status: 400, body: pushBody([]string{"0123456789abcdef0123"}, "to nobody")})
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a.auth(), status: 413, badRequest: true, body: pushBody([]string{rid}, strings.Repeat("x", 5000))})
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a.auth(), status: 400, badRequest: true, body: `{"audience": "all"`})

	const report = "/v1/messages/{msg_id}"
	c.call(t, exchange{op: "GET " + report, path: "/v1/messages/" + pushed.MsgID, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET " + report, path: "/v1/messages/0", auth: a.auth(), status: 400})
	c.call(t, exchange{op: "GET " + report, path: "/v1/messages/12345", auth: a.auth(), status: 404})
	const onDevice = "GET /v1/messages/{msg_id}/devices/{registration_id}"
	c.call(t, exchange{op: onDevice, path: "/v1/messages/" + pushed.MsgID + "/devices/" + rid, auth: a.auth(), status: 200})
	c.call(t, exchange{op: onDevice, path: "/v1/messages/" + pushed.MsgID + "/devices/nobody", auth: a.auth(), status: 404})
	c.call(t, exchange{op: onDevice, path: "/v1/messages/12345/devices/" + rid, auth: a.auth(), status: 404})
	c.call(t, exchange{op: onDevice, path: "/v1/messages/x/devices/" + rid, auth: a.auth(), status: 400})
	c.call(t, exchange{op: "GET /v1/messages", path: "/v1/messages?limit=1", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v1/messages", path: "/v1/messages?broadcast=false&state=done&from=2026-01-01T00:00:00Z", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v1/messages", path: "/v1/messages?state=lost", auth: a.auth(), status: 400})
	c.call(t, exchange{op: "DELETE " + report, path: "/v1/messages/" + pushed.MsgID, auth: a.auth(), status: 202})
	c.call(t, exchange{op: "DELETE " + report, path: "/v1/messages/12345", auth: a.auth(), status: 404})

	c.call(t, exchange{op: "DELETE " + segment, path: "/v1/segments/" + seg.ID, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET " + segment, path: "/v1/segments/" + seg.ID, auth: a.auth(), status: 404})

	// Schedules: one that fires in a moment, to see a firing, and a
	// periodical one in each device's local time.
	const schedule = "/v1/schedules/{schedule_id}"
	var soon, weekly struct {
		ID string `json:"schedule_id"`
	}
	at := time.Now().UTC().Add(1500 * time.Millisecond).Format("2006-01-02 15:04:05")
	c.call(t, exchange{op: "POST /v1/schedules", path: "/v1/schedules", auth: a.auth(), status: 201, body: map[string]any{
		"name": "soon", "trigger": map[string]any{"single": map[string]any{"time": at}},
		"push": map[string]any{"audience": map[string]any{"registration_id": []string{rid}}, "message": map[string]any{"content": "scheduled"}},
	}}).decode(t, &soon)
	c.call(t, exchange{op: "POST /v1/schedules", path: "/v1/schedules", auth: a.auth(), status: 201, body: map[string]any{
		"name": "weekly", "trigger": map[string]any{
			"periodical": map[string]any{"start": "2026-01-01 00:00:00", "end": "2035-06-01 00:00:00", "time": "09:00", "time_unit": "week", "point": []string{"MON", "FRI"}},
			"zone_type":  "device", "time_zone": "Asia/Shanghai",
		},
		"push": map[string]any{"audience": map[string]any{"tag": []string{"vip"}}, "message": map[string]any{"content": "digest"}, "options": map[string]any{"time_to_live": 600}},
	}}).decode(t, &weekly)
	c.call(t, exchange{op: "POST /v1/schedules", path: "/v1/schedules", auth: a.auth(), status: 400, body: map[string]any{
		"name": "past", "trigger": map[string]any{"single": map[string]any{"time": "2001-01-01 00:00:00"}},
		"push": map[string]any{"audience": "all", "message": map[string]any{"content": "too late"}},
	}})
	c.call(t, exchange{op: "POST /v1/schedules", path: "/v1/schedules", auth: a.auth(), status: 400, badRequest: true, body: map[string]any{
		"name": "both", "trigger": map[string]any{"single": map[string]any{"time": at}, "periodical": map[string]any{}},
		"push": map[string]any{"audience": "all", "message": map[string]any{"content": "x"}},
	}})
	c.call(t, exchange{op: "GET /v1/schedules", path: "/v1/schedules?limit=1", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "PUT " + schedule, path: "/v1/schedules/" + weekly.ID, auth: a.auth(), status: 200, body: map[string]any{
		"name": "weekly, paused", "enabled": false, "trigger": map[string]any{"periodical": map[string]any{"start": "2026-01-01 00:00:00", "end": "2026-03-01 00:00:00", "time": "09:00:00", "time_unit": "month", "point": []string{"1", "15"}}},
		"push": map[string]any{"audience": "all", "message": map[string]any{"content": "digest"}},
	}})
	c.call(t, exchange{op: "GET " + schedule, path: "/v1/schedules/" + weekly.ID, auth: a.auth(), status: 200})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var v struct {
			Firings []json.RawMessage `json:"firings"`
		}
		c.call(t, exchange{op: "GET " + schedule, path: "/v1/schedules/" + soon.ID, auth: a.auth(), status: 200}).decode(t, &v)
		if len(v.Firings) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule %s did not fire within 20 s of its time", soon.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.call(t, exchange{op: "DELETE " + schedule, path: "/v1/schedules/" + weekly.ID, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET " + schedule, path: "/v1/schedules/" + weekly.ID, auth: a.auth(), status: 404})
	c.call(t, exchange{op: "DELETE " + schedule, path: "/v1/schedules/" + weekly.ID, auth: a.auth(), status: 404})
}

// TestOpenAPIMatchesTheJPushFace drives every /v3 operation, and errors of
// each part of the API, through a real gateway and checks each exchange
// against the document.
func TestOpenAPIMatchesTheJPushFace(t *testing.T) {
	d := loadOpenAPI(t)
	e := newEnv(t, gateway.Config{})
	c := &conformance{e: e, doc: d, ops: d.operations(t)}
	a := e.createApp(t)
	var rids [2]string
	for i, p := range []string{"android", "ios"} {
		var dv device
		e.do(t, request{method: "POST", path: "/v1/devices", body: jsonBody(t, map[string]string{"app_key": a.Key, "platform": p})}).wantOK(t, http.StatusCreated, &dv)
		rids[i] = dv.RID
	}
	r1, r2 := rids[0], rids[1]
	e.connect(t, r1, connectorA)

	// Devices, tags and aliases.
	const device = "/v3/devices/{registration_id}"
	c.call(t, exchange{op: "POST " + device, path: "/v3/devices/" + r1, auth: a.auth(), status: 200, body: map[string]any{"tags": map[string]any{"add": []string{"vip", "sz"}}, "alias": "u1"}})
	c.call(t, exchange{op: "POST " + device, path: "/v3/devices/" + r2 + "/", auth: a.auth(), status: 200, body: map[string]any{"tags": map[string]any{"add": []string{"bj"}}, "mobile": "ignored"}})
	c.call(t, exchange{op: "POST " + device, path: "/v3/devices/" + r2, auth: a.auth(), status: 200, body: map[string]any{"tags": ""}})
	c.call(t, exchange{op: "POST " + device, path: "/v3/devices/" + r2, auth: a.auth(), status: 400, badRequest: true, body: map[string]any{"tags": map[string]any{"add": []string{"a/b"}}}})
	c.call(t, exchange{op: "POST " + device, path: "/v3/devices/nobody", auth: a.auth(), status: 404, body: map[string]any{"alias": "u9"}})
	c.call(t, exchange{op: "GET " + device, path: "/v3/devices/" + r1, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET " + device, path: "/v3/devices/" + r2 + "/", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET " + device, path: "/v3/devices/nobody", auth: a.auth(), status: 404})
	c.call(t, exchange{op: "GET " + device, path: "/v3/devices/" + r1, status: 401})
	c.call(t, exchange{op: "GET " + device, path: "/v3/devices/" + r1, auth: basic(a.Key, "000000000000000000000000"), status: 401})
	c.call(t, exchange{op: "POST /v3/devices/status", path: "/v3/devices/status", auth: a.auth(), status: 200, body: map[string]any{"registration_ids": []string{r1, r2, "nobody"}}})
	c.call(t, exchange{op: "POST /v3/devices/status", path: "/v3/devices/status", auth: a.auth(), status: 400, badRequest: true, body: map[string]any{"registration_ids": []string{}}})
	c.call(t, exchange{op: "GET /v3/tags", path: "/v3/tags", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/tags", path: "/v3/tags/", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "POST /v3/tags/{tag}", path: "/v3/tags/vip", auth: a.auth(), status: 200, body: map[string]any{"registration_ids": map[string]any{"add": []string{r2}, "remove": []string{}}}})
	c.call(t, exchange{op: "POST /v3/tags/{tag}", path: "/v3/tags/vip", auth: a.auth(), status: 400, body: map[string]any{"registration_ids": map[string]any{"add": []string{"nobody"}}}})
	c.call(t, exchange{op: "GET /v3/tags/{tag}/registration_ids/{registration_id}", path: "/v3/tags/vip/registration_ids/" + r2, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/aliases/{alias}", path: "/v3/aliases/u1?platform=android,ios", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/aliases/{alias}", path: "/v3/aliases/u1?platform=palm", auth: a.auth(), status: 400})

	// Push and reports.
	var pushed struct {
		MsgID string `json:"msg_id"`
	}
	c.call(t, exchange{op: "POST /v3/push", path: "/v3/push", auth: a.auth(), status: 200, body: map[string]any{
		"platform": []string{"android", "ios"}, "audience": map[string]any{"registration_id": []string{r1, "nobody"}},
		"notification": map[string]any{"alert": "Hi", "ios": map[string]any{"alert": map[string]any{"title": "Shop", "body": "Hi there"}, "sound": "default"}, "android": map[string]any{"extras": map[string]any{"order": 42}}},
		"message":      map[string]any{"msg_content": "data", "content_type": "text"},
		"options":      map[string]any{"sendno": 7, "time_to_live": "3600", "apns_production": false, "apns_collapse_id": "orders"},
		"cid":          a.Key + "-cid-1",
	}}).decode(t, &pushed)
	c.call(t, exchange{op: "POST /v3/push", path: "/v3/push", auth: a.auth(), status: 200, body: map[string]any{
		"platform": "all", "audience": map[string]any{"tag": []string{"vip"}, "abtest": []string{}}, "message": map[string]any{"msg_content": "to the vips"},
		"options": map[string]any{"override_msg_id": pushed.MsgID},
	}})
	c.call(t, exchange{op: "POST /v3/push", path: "/v3/push", auth: a.auth(), status: 400, body: map[string]any{
		"platform": "all", "audience": map[string]any{"tag": []string{"nobody-has-it"}}, "notification": map[string]any{"alert": "Hi"},
	}})
	c.call(t, exchange{op: "POST /v3/push", path: "/v3/push", auth: a.auth(), status: 400, badRequest: true, body: map[string]any{
		"platform": "all", "audience": "all", "notification": map[string]any{"alert": "Hi"}, "extra": 1,
	}})
	c.call(t, exchange{op: "POST /v3/push", path: "/v3/push", status: 401, badRequest: true, body: map[string]any{}})
	c.call(t, exchange{op: "POST /v3/push/validate", path: "/v3/push/validate", auth: a.auth(), status: 200, body: map[string]any{
		"platform": "all", "audience": "all", "notification": map[string]any{"android": map[string]any{"alert": "Hi", "title": "Shop", "builder_id": 1}},
	}})
	c.call(t, exchange{op: "GET /v3/push/cid", path: "/v3/push/cid?count=3&type=push", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/push/cid", path: "/v3/push/cid?count=0", auth: a.auth(), status: 400})
	c.call(t, exchange{op: "GET /v3/push/validate", path: "/v3/push/validate?count=1", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/received", path: "/v3/received?msg_ids=" + pushed.MsgID + ",12345", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/received", path: "/v3/received", auth: a.auth(), status: 400})
	c.call(t, exchange{op: "GET /v3/received/detail", path: "/v3/received/detail?msg_ids=" + pushed.MsgID, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/received/detail", path: "/v3/received/detail?msg_ids=" + pushed.MsgID, status: 401})

	// Schedules, one of them made through /v1.
	const schedule = "/v3/schedules/{schedule_id}"
	var js, v1s struct {
		ID string `json:"schedule_id"`
	}
	c.call(t, exchange{op: "POST /v3/schedules", path: "/v3/schedules", auth: a.auth(), status: 200, body: map[string]any{
		"name": "morning", "trigger": map[string]any{"single": map[string]any{"time": "2030-01-01 09:00:00"}},
		"push": map[string]any{"platform": "all", "audience": map[string]any{"tag": []string{"vip"}}, "notification": map[string]any{"alert": "Good morning"}, "options": map[string]any{"time_to_live": 60}},
	}}).decode(t, &js)
	c.call(t, exchange{op: "POST /v1/schedules", path: "/v1/schedules", auth: a.auth(), status: 201, body: map[string]any{
		"name": "from v1", "trigger": map[string]any{"periodical": map[string]any{"start": "2026-01-01 00:00:00", "end": "2031-01-01 00:00:00", "time": "08:30", "time_unit": "day", "frequency": 2}},
		"push": map[string]any{"audience": "all", "message": map[string]any{"content": "every other day"}},
	}}).decode(t, &v1s)
	c.call(t, exchange{op: "POST /v3/schedules", path: "/v3/schedules/", auth: a.auth(), status: 400, body: map[string]any{
		"name": "no trigger", "push": map[string]any{"platform": "all", "audience": "all", "notification": map[string]any{"alert": "x"}},
	}})
	c.call(t, exchange{op: "GET /v3/schedules", path: "/v3/schedules?page=1", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v3/schedules", path: "/v3/schedules?page=0", auth: a.auth(), status: 400})
	c.call(t, exchange{op: "GET " + schedule, path: "/v3/schedules/" + js.ID, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET " + schedule, path: "/v3/schedules/" + v1s.ID + "/", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET " + schedule, path: "/v3/schedules/nope", auth: a.auth(), status: 404})
	c.call(t, exchange{op: "GET " + schedule, path: "/v3/schedules/" + js.ID, status: 401})
	c.call(t, exchange{op: "PUT " + schedule, path: "/v3/schedules/" + js.ID, auth: a.auth(), status: 200, body: map[string]any{"enabled": false, "name": "morning, paused"}})
	c.call(t, exchange{op: "GET " + schedule + "/msg_ids", path: "/v3/schedules/" + js.ID + "/msg_ids", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "DELETE " + schedule, path: "/v3/schedules/" + js.ID, auth: a.auth(), status: 200})
	c.call(t, exchange{op: "DELETE " + schedule, path: "/v3/schedules/" + js.ID, auth: a.auth(), status: 404})

	// Deletions last: they undo the state above.
	c.call(t, exchange{op: "DELETE /v3/tags/{tag}", path: "/v3/tags/vip?platform=android", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "DELETE /v3/tags/{tag}", path: "/v3/tags/vip/", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "DELETE /v3/aliases/{alias}", path: "/v3/aliases/u1", auth: a.auth(), status: 200})

	// Over the quota.
	limited := newEnv(t, gateway.Config{JPush: jpush.Config{RateLimits: jpush.RateLimits{Device: 1}}})
	lc := &conformance{e: limited, doc: d, ops: c.ops}
	la := limited.createApp(t)
	lc.call(t, exchange{op: "GET /v3/tags", path: "/v3/tags", auth: la.auth(), status: 200})
	lc.call(t, exchange{op: "GET /v3/tags", path: "/v3/tags", auth: la.auth(), status: 429})
}

// schemaKeywords are the keywords the document's schemas may use: those
// the validator asserts, and annotations. The validator passes over a
// keyword it does not know (a typo, or OpenAPI 3.0's nullable), and
// describe, which makes the checks strict, knows only the applicators
// here; so any other keyword is refused until this test is taught it.
var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true,
	"properties": true, "required": true, "additionalProperties": true, "minProperties": true, "maxProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minLength": true, "maxLength": true, "pattern": true, "format": true, "contentEncoding": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
	"allOf": true, "anyOf": true, "oneOf": true, "not": true,
	// Annotations. example is OpenAPI's; the tests check each against its
	// schema.
	"title": true, "description": true, "default": true, "example": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "$comment": true,
}

// forEachSchema calls fn on schema, at JSON pointer at, and on every schema
// inside it. Boolean schemas are passed over.
func forEachSchema(schema any, at string, fn func(at string, s map[string]any)) {
	s, ok := schema.(map[string]any)
	if !ok {
		return
	}
	fn(at, s)
	props, _ := s["properties"].(map[string]any)
	for _, name := range sortedKeys(props) {
		forEachSchema(props[name], at+"/properties/"+pointerEscape(name), fn)
	}
	for _, k := range []string{"additionalProperties", "items", "not"} {
		if sub, ok := s[k]; ok {
			forEachSchema(sub, at+"/"+k, fn)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[k].([]any)
		for i, sub := range list {
			forEachSchema(sub, fmt.Sprintf("%s/%s/%d", at, k, i), fn)
		}
	}
}

// schema returns the schema at JSON pointer at of the document, compiled.
func (d *openAPIDoc) schema(at string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.compiled[at]; ok {
		return s, nil
	}
	s, err := d.compiler.Compile(openAPIFile + "#" + (&url.URL{Fragment: at}).EscapedFragment())
	if err != nil {
		return nil, err
	}
	d.compiled[at] = s
	return s, nil
}

// validate checks v against the schema at JSON pointer at of the document,
// strictly: besides what the validator finds, a member of an object that
// no schema describes is an error (see describe).
func (d *openAPIDoc) validate(at string, v any) error {
	s, err := d.schema(at)
	if err != nil {
		return err
	}
	errs := []error{s.Validate(v)}
	for _, member := range d.undescribed(at, v) {
		errs = append(errs, fmt.Errorf("member %s is not described by the document", member))
	}
	return errors.Join(errs...)
}

// description is what the schemas that apply to a value say of the members
// in it, by JSON pointer into the value.
type description struct {
	described map[string]bool // members a schema describes
	free      []string        // places under which anything goes
}

func (w *description) isFree(at string) bool {
	return slices.ContainsFunc(w.free, func(f string) bool { return at == f || strings.HasPrefix(at, f+"/") })
}

// undescribed returns, by JSON pointer, the members of v that the schema at
// JSON pointer at does not describe.
func (d *openAPIDoc) undescribed(at string, v any) []string {
	w := &description{described: map[string]bool{}}
	d.describe(at, v, "", w)
	var out []string
	var walk func(v any, at string)
	walk = func(v any, at string) {
		if w.isFree(at) {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				p := at + "/" + pointerEscape(k)
				if !w.described[p] && !w.isFree(p) {
					out = append(out, p)
					continue
				}
				walk(x[k], p)
			}
		case []any:
			for i, e := range x {
				walk(e, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(v, "")
	return out
}

// describe records in w what the schema at JSON pointer sat says of the
// members of v (at JSON pointer at in the value) and of those below: the
// members it describes (by properties or an additionalProperties schema)
// and the places it leaves free (a schema that says nothing of members or
// items, additionalProperties: true). Every schema that applies counts:
// $ref, allOf, and the branches of anyOf and oneOf that v matches; not
// describes nothing.
//
// The document leaves its objects open to members added later (clients
// must ignore them), but the tests want every member the handlers send or
// take described. JSON Schema's own way, unevaluatedProperties: false,
// cannot say it: it sees the schemas applied in place at one object, not
// two "properties" that reach the same member from side by side, as in the
// error responses' {"$ref": Error, "properties": {"error": {"properties":
// {"code": …}}}}, where each "error" schema describes part of one object.
func (d *openAPIDoc) describe(sat string, v any, at string, w *description) {
	raw, err := d.resolve("#" + sat)
	if err != nil {
		return // the validator reports it
	}
	s, ok := raw.(map[string]any)
	if !ok {
		if raw == true {
			w.free = append(w.free, at)
		}
		return
	}
	if freeSchema(s) {
		w.free = append(w.free, at)
	}
	if ref, ok := s["$ref"].(string); ok {
		d.describe(strings.TrimPrefix(ref, "#"), v, at, w)
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[k].([]any)
		for i := range list {
			branch := fmt.Sprintf("%s/%s/%d", sat, k, i)
			if k == "allOf" || d.matches(branch, v) {
				d.describe(branch, v, at, w)
			}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, member := range x {
			p := at + "/" + pointerEscape(k)
			if _, ok := props[k]; ok {
				w.described[p] = true
				d.describe(sat+"/properties/"+pointerEscape(k), member, p, w)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if ap {
					w.free = append(w.free, p)
				}
			case map[string]any:
				w.described[p] = true
				d.describe(sat+"/additionalProperties", member, p, w)
			}
		}
	case []any:
		if _, ok := s["items"]; ok {
			for i, e := range x {
				d.describe(sat+"/items", e, at+"/"+strconv.Itoa(i), w)
			}
		}
	}
}

// matches reports whether v is valid against the schema at JSON pointer at.
func (d *openAPIDoc) matches(at string, v any) bool {
	s, err := d.schema(at)
	return err == nil && s.Validate(v) == nil
}

// structuralKeywords are those that describe an object's members or an
// array's items; a schema without any leaves them free.
var structuralKeywords = []string{"properties", "additionalProperties", "items", "$ref", "allOf", "anyOf", "oneOf"}

// freeSchema reports a schema that says nothing of the members or items of
// the objects and arrays it allows: {} or, say, {"type": "object"}. (A
// schema without a type, such as {"required": […]} in an anyOf, only adds
// to others.)
func freeSchema(s map[string]any) bool {
	if slices.ContainsFunc(structuralKeywords, func(k string) bool { _, ok := s[k]; return ok }) {
		return false
	}
	if len(s) == 0 {
		return true
	}
	switch t := s["type"].(type) {
	case string:
		return t == "object" || t == "array"
	case []any:
		return slices.Contains(t, any("object")) || slices.Contains(t, any("array"))
	}
	return false
}

// TestOpenAPIValidatorCatchesWrongValues shows that the checks of the
// tests above can fail: each value here is wrong in one way, and the
// validator must say so.
func TestOpenAPIValidatorCatchesWrongValues(t *testing.T) {
	d := loadOpenAPI(t)
	const (
		device       = "/components/schemas/Device"
		dispatch     = "/components/schemas/Dispatch"
		unauthorized = "/components/responses/AppUnauthorized/content/application~1json/schema"
		document     = "/components/schemas/OpenAPIDocument"
	)
	const validDevice = `{"registration_id": "fd93dd8a027467e86f21", "platform": "android", "tags": ["vip"],
		"alias": "", "online": false, "connector": "", "created": "2026-11-21T09:30:00.123Z"`
	for _, tc := range []struct {
		name, schema, value string
		want                string // in the error; "" for a valid value
	}{
		{"valid", device, validDevice + `}`, ""},
		{"required member missing", device, `{"registration_id": "fd93dd8a027467e86f21"}`, "missing properties"},
		{"wrong type", device, strings.Replace(validDevice, `"online": false`, `"online": "no"`, 1) + `}`, "got string, want boolean"},
		{"not in an enum", device, strings.Replace(validDevice, `"android"`, `"palm"`, 1) + `}`, "at '/platform': value must be one of"},
		{"not a date-time", device, strings.Replace(validDevice, "2026-11-21T09:30:00.123Z", "yesterday", 1) + `}`, "date-time"},
		{"undescribed member", device, validDevice + `, "colour": "blue"}`, "member /colour is not described"},
		{"not base64", dispatch, `{"addresses": ["127.0.0.1:7100"], "heartbeat": 30, "server_key": "not base64!"}`, "base64"},
		{"answer with a $ref and a refinement", unauthorized, `{"error": {"code": "unauthorized", "message": "send Basic credentials"}}`, ""},
		{"undescribed member of a refined object", unauthorized, `{"error": {"code": "unauthorized", "message": "m", "hint": 1}}`, "member /error/hint is not described"},
		{"refinement broken", unauthorized, `{"error": {"code": "forbidden", "message": "m"}}`, "unauthorized"},
		{"anything goes under a free object", document, `{"openapi": "3.1.0", "info": {"x": {"y": 1}}, "paths": {}, "more": []}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.value))
			if err != nil {
				t.Fatalf("the test's value is not JSON: %v", err)
			}
			err = d.validate(tc.schema, v)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid, but the validator says: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("the validator let it pass; want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("the error does not say %q: %v", tc.want, err)
			}
		})
	}
}
