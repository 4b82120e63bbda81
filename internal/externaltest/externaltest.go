package externaltest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/csad-go/csad/internal/atomicfile"
)

// ModulePath is the import path of the module under test.
const ModulePath = "github.com/csad-go/csad"

// GoMod returns the go.mod of a module named name that requires csad-go from the checkout at
// dir. The version is a placeholder: with a replace directive Go never resolves it.
func GoMod(name, dir string) string {
	return fmt.Sprintf("module %s\n\ngo 1.26\n\nrequire %s v0.0.0\n\nreplace %s => %s\n",
		name, ModulePath, ModulePath, dir)
}

// envPassed lists what a build may inherit: where Go keeps its caches and downloads (so the
// check reuses this machine's), the compilers, and the variables README.md documents for
// another LibTorch. Nothing else, so the check fails if the build silently depended on more.
var envPassed = []string{
	"PATH", "HOME", "TMPDIR",
	"GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOTOOLCHAIN",
	"CC", "CXX", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS",
}

// BuildEnv returns the environment for building the throwaway module: the variables of envPassed
// found in environ, plus GOFLAGS=-mod=mod so that go build records the dependencies of the
// replaced module in the new go.mod, as go get would.
func BuildEnv(environ []string) []string {
	env := []string{"GOFLAGS=-mod=mod"}
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if ok && slices.Contains(envPassed, k) {
			env = append(env, kv)
		}
	}
	return env
}

// RunEnv returns the environment for running the built program: PATH and, when set, the
// LD_LIBRARY_PATH that README.md allows for a LibTorch outside the loader's search path.
// A binary built against Debian's libtorch-dev needs neither.
func RunEnv(environ []string) []string {
	env := []string{"PATH=/usr/bin:/bin"}
	for _, kv := range environ {
		if strings.HasPrefix(kv, "LD_LIBRARY_PATH=") {
			env = append(env, kv)
		}
	}
	return env
}

// Module is a throwaway Go module outside the checkout, as a user's program would be.
type Module struct {
	Dir string // its folder
}

// NewModule makes a module named name in dir, a folder outside the checkout at checkout: its
// go.mod requires csad-go from the checkout (GoMod), the checkout's go.sum comes along (the same
// dependencies, so nothing is fetched) and main.go is a copy of program.
func NewModule(dir, name, checkout, program string) (*Module, error) {
	if rel, err := filepath.Rel(checkout, dir); err != nil || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("externaltest: the module folder %s must lie outside the checkout %s", dir, checkout)
	}
	m := &Module{Dir: dir}
	sum, err := os.ReadFile(filepath.Join(checkout, "go.sum"))
	if err != nil {
		return nil, fmt.Errorf("externaltest: %w", err)
	}
	prog, err := os.ReadFile(program)
	if err != nil {
		return nil, fmt.Errorf("externaltest: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"go.mod", []byte(GoMod(name, checkout))}, {"go.sum", sum}, {"main.go", prog}} {
		if err := m.WriteFile(f.name, f.data); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// WriteFile writes a file of the module (a model, an input image), atomically.
func (m *Module) WriteFile(name string, data []byte) error {
	if err := atomicfile.WriteFile(filepath.Join(m.Dir, name), data); err != nil {
		return fmt.Errorf("externaltest: %w", err)
	}
	return nil
}
