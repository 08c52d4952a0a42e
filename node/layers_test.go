package node_test

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The layering rule of the repository: which components each may import
// (docs/design.md, "Components"). The floor (protocol, cache, internal/…)
// imports no component; dataservice only the floor; actors the floor and
// dataservice; the connector also actors; the gateway also the connector
// (its cluster view calls connectors); only node (the composition root)
// and cmd import everything. Tests are not checked: an external test
// package may start a whole node (node/nodetest) to test its package over
// real sockets.
//
// Besides the table, the gateway's rooms (gateway/api, gateway/jpush, …)
// never import the gateway package itself: it assembles them.
//
// TestLayeringRuleCatchesForbiddenImports shows the rule failing: an
// actors package that imported the gateway, a gateway room that imported
// its parent, or a dataservice that imported node would each be reported.
var layers = []struct {
	component string   // a top-level directory, or internal/…
	may       []string // components it may import, beside its own subtree
}{
	{"protocol", nil},
	{"cache", nil},
	{"internal", []string{"internal"}},
	{"internal/fleet", []string{"internal", "protocol", "sdk"}},
	{"sdk", []string{"protocol", "internal"}},
	{"dataservice", []string{"cache", "internal"}},
	{"actors", []string{"dataservice", "protocol", "cache", "internal"}},
	{"connector", []string{"actors", "dataservice", "protocol", "cache", "internal"}},
	{"gateway", []string{"connector", "actors", "dataservice", "protocol", "cache", "internal"}},
	{"portal", []string{"internal"}}, // a client of the REST API: its own JSON types
	{"node", []string{"gateway", "connector", "actors", "dataservice", "protocol", "cache", "portal", "internal"}},
	{"cmd", []string{"node"}},
	{"e2e", []string{"*"}},
}

const module = "github.com/heraldpush/herald"

// within reports whether pkg is component or inside it.
func within(pkg, component string) bool {
	return pkg == component || strings.HasPrefix(pkg, component+"/")
}

// ruleOf returns the most specific layer pkg belongs to.
func ruleOf(pkg string) (component string, may []string, ok bool) {
	for _, l := range layers {
		if within(pkg, l.component) && len(l.component) > len(component) {
			component, may, ok = l.component, l.may, true
		}
	}
	return component, may, ok
}

// violations checks a graph of Herald packages (paths relative to the
// module) against the rule and returns what breaks it.
func violations(imports map[string][]string) []string {
	var out []string
	for _, pkg := range slices.Sorted(func(yield func(string) bool) {
		for p := range imports {
			if !yield(p) {
				return
			}
		}
	}) {
		component, may, ok := ruleOf(pkg)
		if !ok {
			out = append(out, pkg+": in no layer; add its component to the table in node/layers_test.go")
			continue
		}
		for _, imp := range imports[pkg] {
			switch {
			case strings.HasPrefix(pkg, "gateway/") && imp == "gateway":
				out = append(out, pkg+" imports gateway: the gateway assembles its rooms, which never import it")
			case within(imp, component), slices.Contains(may, "*"),
				slices.ContainsFunc(may, func(m string) bool { return within(imp, m) }):
			default:
				out = append(out, pkg+" imports "+imp+": "+component+" may import only "+strings.Join(append([]string{"itself"}, may...), ", "))
			}
		}
	}
	return out
}

// TestLayering checks every package of the module (tests excluded).
func TestLayering(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string][]string{}
	err = filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if dir != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, dir)
		rel = filepath.ToSlash(rel)
		if rel == "bench" {
			return filepath.SkipDir // a module of its own: the load generator may import anything
		}
		p, err := build.ImportDir(dir, 0)
		if err != nil {
			return nil // no Go files here, or only tests
		}
		var own []string
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
				own = append(own, rest)
			}
		}
		imports[rel] = own
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gateway", "gateway/jpush", "dataservice", "actors", "connector", "protocol", "node"} {
		if _, ok := imports[want]; !ok {
			t.Fatalf("package %s not found under %s: the walk is broken", want, root)
		}
	}
	for _, v := range violations(imports) {
		t.Error(v)
	}
}

// The rule fails on forbidden imports, in a graph built for the purpose.
func TestLayeringRuleCatchesForbiddenImports(t *testing.T) {
	for _, tc := range []struct {
		pkg, imp string
	}{
		{"actors", "gateway"},
		{"actors", "node"},
		{"connector", "gateway/cluster"},
		{"dataservice", "node"},
		{"dataservice/leveldb", "actors"},
		{"protocol", "internal/ids"},
		{"cache", "dataservice"},
		{"sdk", "connector"},
		{"gateway/jpush", "gateway"},
		{"gateway", "node"},
		{"cmd/herald", "gateway"},
		{"newcomponent", "protocol"}, // in no layer
	} {
		got := violations(map[string][]string{tc.pkg: {tc.imp}})
		if len(got) != 1 {
			t.Errorf("%s importing %s: violations %q, want one", tc.pkg, tc.imp, got)
		}
	}
	for _, ok := range []struct{ pkg, imp string }{
		{"gateway/jpush", "gateway/schedule"},
		{"gateway", "gateway/jpush"},
		{"gateway/cluster", "connector"},
		{"dataservice/leveldb", "dataservice"},
		{"node", "gateway"},
		{"e2e", "node/nodetest"},
	} {
		if got := violations(map[string][]string{ok.pkg: {ok.imp}}); len(got) != 0 {
			t.Errorf("%s importing %s: violations %q, want none", ok.pkg, ok.imp, got)
		}
	}
}
