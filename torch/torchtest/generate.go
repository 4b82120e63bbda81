package torchtest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/csad-go/csad/internal/atomicfile"
)

// GoldenDir runs the committed reference script testdata/<script> (with Debian's python3-torch)
// and returns the folder it wrote its golden files to. Goldens of computations whose last bits
// depend on the CPU (LibTorch picks convolution and matrix kernels by instruction set) are made
// on the machine under test rather than committed: a golden made on an AVX-512 machine is not
// bitwise what an AVX2 machine computes, in Python or in Go.
//
// The folder is cached per script version (its bytes, and those of the files it imports from
// testdata/), arguments and CPU, under the user cache folder, so the script runs once per
// machine; concurrent test binaries race harmlessly (the last complete folder wins).
// testdata is the path of the repository's testdata folder relative to the test's package.
func GoldenDir(t testing.TB, testdata, script string, args ...string) string {
	t.Helper()
	key := sha256.New()
	// Everything a script may read: the scripts and the Python reference, and the committed
	// inputs of the output-only goldens (the reference checkpoint, the end-to-end images).
	inputs := []string{filepath.Join(testdata, "..", "csad", "pyref", "csad_ref.py"), filepath.Join(testdata, "golden", "model_small.pth")}
	for _, pattern := range []string{"*.py", "e2e/*"} {
		m, err := filepath.Glob(filepath.Join(testdata, pattern))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, m...)
	}
	for _, f := range inputs {
		b, err := os.ReadFile(f)
		if err == nil {
			key.Write([]byte(filepath.Base(f)))
			key.Write(b)
		}
	}
	key.Write([]byte(strings.Join(args, "\x00")))
	key.Write([]byte(cpuSignature()))
	sum := hex.EncodeToString(key.Sum(nil))[:16]
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "csad-go", "golden", strings.TrimSuffix(script, ".py")+"-"+sum)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("/usr/bin/python3", append([]string{filepath.Join(testdata, script)}, args...)...)
	cmd.Env = append(os.Environ(), "CSAD_GOLDEN_OUT="+tmp, "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference script %s failed (it needs Debian's python3-torch and python3-torchvision: run 'make setup'): %v\n%s", script, err, out)
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, ".complete"), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another test binary finished first; its folder is as good as ours.
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cpuSignature identifies the instruction sets LibTorch may choose kernels by.
func cpuSignature() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	var model, flags string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			model = strings.TrimSpace(v)
		case "flags":
			flags = strings.TrimSpace(v)
		}
		if model != "" && flags != "" {
			break
		}
	}
	return runtime.GOARCH + "|" + model + "|" + flags
}
