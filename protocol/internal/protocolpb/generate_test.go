package protocolpb

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// protocVersion is the protoc that generates protocol.pb.go: Debian's
// protobuf-compiler, which .ci/run installs. With another protoc on PATH
// the test skips, as the code it writes names another version.
const protocVersion = "3.21.12"

// TestGeneratedCodeIsCurrent runs this package's go:generate command with
// the output in a temporary directory and compares what it writes, byte for
// byte, with the committed code: it fails when docs/protocol.proto changed
// and `make proto` was not run. It skips unless protoc and protoc-gen-go are
// on PATH at the versions that made the committed code.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	committed, err := os.ReadFile("protocol.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	args := generateArgs(t)
	out := t.TempDir()
	root := "" // the directory --go_out names: the module's root
	for i, a := range args {
		if dir, ok := strings.CutPrefix(a, "--go_out="); ok {
			root, args[i] = dir, "--go_out="+out
		}
	}
	if root == "" {
		t.Fatal("the go:generate command has no --go_out")
	}

	// The committed code names the versions that made it: protoc-gen-go
	// must be the protobuf runtime in go.mod, protoc the pinned one.
	genVersion := moduleVersion(t, root, "google.golang.org/protobuf")
	for _, want := range []string{"// \tprotoc-gen-go " + genVersion + "\n", "// \tprotoc        v" + protocVersion + "\n"} {
		if !bytes.Contains(committed, []byte(want)) {
			t.Fatalf("protocol.pb.go lacks the line %q: regenerate it with `make proto` using protoc %s and protoc-gen-go %s", want, protocVersion, genVersion)
		}
	}

	for _, tool := range []string{"protoc", "protoc-gen-go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH, so whether protocol.pb.go matches docs/protocol.proto is not checked (.ci/run installs it)", tool)
		}
	}
	if v := toolVersion(t, "protoc"); v != "libprotoc "+protocVersion {
		t.Skipf("protocol.pb.go was generated with protoc %s, PATH has %q: not checked", protocVersion, v)
	}
	if v := toolVersion(t, "protoc-gen-go"); v != "protoc-gen-go "+genVersion {
		t.Skipf("protocol.pb.go was generated with protoc-gen-go %s, PATH has %q: not checked", genVersion, v)
	}

	cmd := exec.Command("protoc", args...)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc %s: %v\n%s", strings.Join(args, " "), err, output)
	}

	generated := 0
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		generated++
		rel, err := filepath.Rel(out, path)
		if err != nil {
			return err
		}
		fresh, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		old, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Errorf("protoc writes %s, which is not committed: run `make proto`", rel)
			return nil
		}
		if !bytes.Equal(old, fresh) {
			t.Errorf("%s is not what docs/protocol.proto generates: run `make proto`", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if committed, _ := filepath.Glob("*.pb.go"); len(committed) != generated {
		t.Errorf("this package has %d generated files (%v), protoc writes %d: remove the stale ones", len(committed), committed, generated)
	}
}

// generateArgs returns the arguments of the protoc command in doc.go's
// go:generate line.
func generateArgs(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "//go:generate protoc "); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatal("doc.go has no go:generate line running protoc")
	return nil
}

// moduleVersion returns the version of module path that go.mod, in root,
// requires.
func moduleVersion(t *testing.T, root, path string) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(mod)) {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(fields) >= 2 && fields[0] == path {
			return fields[1]
		}
	}
	t.Fatalf("go.mod does not require %s", path)
	return ""
}

// toolVersion returns what tool --version prints, e.g. "libprotoc 3.21.12".
func toolVersion(t *testing.T, tool string) string {
	t.Helper()
	out, err := exec.Command(tool, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", tool, err)
	}
	return strings.TrimSpace(string(out))
}
