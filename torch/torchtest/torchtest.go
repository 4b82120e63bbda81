// Package torchtest has test helpers for packages that use torch: a TestMain that fails the run
// when native objects outlive the tests, and golden-file loading.
package torchtest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/csad-go/csad/torch"
)

// Main runs the tests, then fails the run if any tensor, scope or module is still alive or was
// left to the garbage collector. Build with -tags leakcheck to get the creating call stacks.
//
//	func TestMain(m *testing.M) { torchtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	// Give the collector a chance to run cleanups of unreachable tensors, so tensors leaked
	// without Close are reported as such rather than missed.
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if live := torch.Live(); live.Leaked() {
		fmt.Fprintf(os.Stderr, "native objects leaked by the tests: %s\n", torch.LeakReport())
		if !torch.LeakChecking {
			fmt.Fprintln(os.Stderr, "rerun with -tags leakcheck to see where they were created")
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Golden loads a safetensors golden file into tensors owned by s, keyed by name; metadata (the
// file's __metadata__) is returned as well. It fails the test on error.
func Golden(t testing.TB, s *torch.Scope, path string) (map[string]*torch.Tensor, map[string]string) {
	t.Helper()
	ts, meta, err := torch.LoadTensorsMeta(s, path)
	if err != nil {
		t.Fatalf("golden file %s: %v (regenerate with 'make golden')", path, err)
	}
	out := make(map[string]*torch.Tensor, len(ts))
	for _, n := range ts {
		out[n.Name] = n.Tensor
	}
	return out, meta
}

// ReadRSS is the process's resident set size in bytes, from /proc/self/statm (Linux only).
func ReadRSS() (int64, error) {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("torchtest: reading RSS: %w", err)
	}
	defer f.Close()
	var size, rss int64
	if _, err := fmt.Fscan(f, &size, &rss); err != nil {
		return 0, fmt.Errorf("torchtest: parsing /proc/self/statm: %w", err)
	}
	return rss * int64(os.Getpagesize()), nil
}

// ProcStatusBytes reads a "kB" line of /proc/self/status in bytes (Linux only): "VmHWM", the
// peak RSS, or "VmRSS".
func ProcStatusBytes(key string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("torchtest: reading /proc/self/status: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("torchtest: /proc/self/status line %q is not in kB", strings.TrimSpace(line))
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("torchtest: /proc/self/status line %q: %w", strings.TrimSpace(line), err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("torchtest: /proc/self/status has no %s line", key)
}

// RSS is ReadRSS for figures that are only printed: 0 where /proc is unavailable. Tests that
// assert on memory use ReadRSS, so that a missing figure fails instead of passing as 0.
func RSS() int64 {
	n, err := ReadRSS()
	if err != nil {
		return 0
	}
	return n
}

// SameTensorFiles fails the test unless the safetensors files a and b (model files, say) hold
// the same tensors, by name and bit for bit; it returns both files' metadata.
func SameTensorFiles(t testing.TB, a, b string) (metaA, metaB map[string]string) {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	ta, ma, err := torch.LoadTensorsMeta(s, a)
	if err != nil {
		t.Fatal(err)
	}
	tb, mb, err := torch.LoadTensorsMeta(s, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ta) != len(tb) {
		t.Fatalf("%s holds %d tensors, %s %d", a, len(ta), b, len(tb))
	}
	for i := range ta {
		x, err := ta[i].Tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		y, err := tb[i].Tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if ta[i].Name != tb[i].Name || string(x) != string(y) {
			t.Fatalf("tensor %s of %s differs from %s of %s", ta[i].Name, a, tb[i].Name, b)
		}
	}
	return ma, mb
}
