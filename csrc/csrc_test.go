package csrc_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch/torchtest"
)

func TestMain(m *testing.M) { torchtest.Main(m) }

// The headers are what package torch compiles as its cgo preamble, with a C compiler and no
// LibTorch flags: they must stay plain C.
func TestHeadersArePlainC(t *testing.T) {
	headers, err := filepath.Glob("*.h")
	require.NoError(t, err)
	require.Contains(t, headers, "tensor.h")
	for _, h := range headers {
		if h == "libtorch_required.h" {
			continue // C++ only: force-included into the .cpp files
		}
		out, err := exec.Command("gcc", "-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-x", "c", h).CombinedOutput()
		assert.NoError(t, err, "%s is not plain C:\n%s", h, out)
	}
}

// Without LibTorch's C++ API headers on the include path, the shim stops with a message that
// names the two fixes; with them it compiles.
func TestMissingLibTorchNamesTheFix(t *testing.T) {
	if _, err := os.Stat("/usr/include/torch/csrc/api/include/torch/torch.h"); err != nil {
		t.Skip("needs Debian's libtorch-dev: the passing half compiles against it")
	}
	gxx := func(args ...string) ([]byte, error) {
		args = append([]string{"-std=c++17", "-fsyntax-only", "-x", "c++"}, args...)
		return exec.Command("g++", append(args, "libtorch_required.h")...).CombinedOutput()
	}
	out, err := gxx()
	require.Error(t, err, "compiled without LibTorch's include path:\n%s", out)
	assert.Contains(t, string(out), "csad-go: LibTorch headers not found")
	assert.Contains(t, string(out), "libtorch-dev")
	assert.Contains(t, string(out), "CGO_CXXFLAGS/CGO_LDFLAGS")
	out, err = gxx("-isystem", "/usr/include/torch/csrc/api/include")
	assert.NoError(t, err, "%s", out)
}
