package ortscore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/internal/externaltest"
	"github.com/csad-go/csad/ort"
	"github.com/csad-go/csad/ortscore"
)

// libTorchMarks are substrings that name LibTorch, its shim or package csad in a package path
// or a library name.
var libTorchMarks = []string{"libtorch", "libc10", "torch_cpu", "csadtorch"}

// TestNoLibTorchDependency lists the package's build dependencies with `go list -deps` and
// checks that none is the torch binding, the shim (csrc) or package csad, and that no
// dependency's cgo link flags name LibTorch. The same check on package csad must object, so
// that it is known to catch a dependency.
func TestNoLibTorchDependency(t *testing.T) {
	pkgs, bad := libTorchDeps(t, ".")
	assert.Empty(t, bad, "ortscore reaches LibTorch")
	// The list is the real one: it has the packages ortscore is built on.
	assert.Contains(t, pkgs, externaltest.ModulePath+"/ort")
	assert.Contains(t, pkgs, externaltest.ModulePath+"/csad/imageproc")
	assert.Contains(t, pkgs, "github.com/yalue/onnxruntime_go")

	_, bad = libTorchDeps(t, "../csad")
	assert.Contains(t, bad, externaltest.ModulePath+"/torch")
	assert.Contains(t, bad, externaltest.ModulePath+"/csrc")
	t.Logf("ortscore: %d dependencies, none of them LibTorch's; package csad: %d that are", len(pkgs), len(bad))
}

// libTorchDeps returns pkg's dependencies and those of them that are (or link) LibTorch.
func libTorchDeps(t *testing.T, pkg string) (pkgs, bad []string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command must be on PATH")
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-f", "{{.ImportPath}}\t{{join .CgoLDFLAGS \" \"}}", pkg)
	out, err := cmd.Output()
	require.NoError(t, err, "go list -deps %s", pkg)
	forbidden := []string{
		externaltest.ModulePath + "/torch", externaltest.ModulePath + "/csrc", externaltest.ModulePath + "/csad",
	}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		path, ldflags, _ := strings.Cut(strings.TrimSpace(line), "\t")
		pkgs = append(pkgs, path)
		flagged := false
		for _, m := range libTorchMarks {
			flagged = flagged || strings.Contains(ldflags, strings.TrimPrefix(m, "lib"))
		}
		for _, f := range forbidden {
			flagged = flagged || path == f || strings.HasPrefix(path, f+"/") && path != externaltest.ModulePath+"/csad/imageproc"
		}
		if flagged {
			bad = append(bad, path)
		}
	}
	return pkgs, bad
}

// scorerReport mirrors testdata/scorer's Report (a program in another module cannot share it).
type scorerReport struct {
	Category     string  `json:"category"`
	Score        float64 `json:"score"`
	LGST         float64 `json:"lgst"`
	PatchHist    float64 `json:"patch_hist"`
	Anomalous    bool    `json:"anomalous"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	Local        string  `json:"local_sha256"`
	Global       string  `json:"global_sha256"`
	AnomalyMap   string  `json:"anomaly_map_sha256"`
	Segmentation string  `json:"segmentation_sha256"`
}

// TestBinaryWithoutLibTorch builds testdata/scorer, a program importing only ortscore, as a
// module of its own outside the checkout (as a deployment would require csad-go), with the
// caller's CGO_LDFLAGS as they are. Neither the binary's ELF imports nor ldd may name LibTorch
// (nor ONNX Runtime, which is dlopen'ed). It then runs the binary with nothing but PATH and
// ORT_LIB, on the reduced golden model's export, and expects this process's ortscore result bit
// for bit.
func TestBinaryWithoutLibTorch(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command must be on PATH")
	checkout, err := filepath.Abs("..")
	require.NoError(t, err)
	mod, err := externaltest.NewModule(t.TempDir(), "example.com/ortscorer", checkout, filepath.Join("testdata", "scorer", "main.go"))
	require.NoError(t, err)
	dir := mod.Dir
	write := func(name string, data []byte) {
		t.Helper()
		require.NoError(t, mod.WriteFile(name, data))
	}
	onnxPath, _ := smallModel(t)
	graph, err := os.ReadFile(onnxPath)
	require.NoError(t, err)
	write("model.onnx", graph)
	var pngBuf bytes.Buffer
	require.NoError(t, png.Encode(&pngBuf, testImage(96, 72, 7)))
	write("in.png", pngBuf.Bytes())

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-o", "scorer", ".")
	build.Dir, build.Env = dir, externaltest.BuildEnv(os.Environ())
	start := time.Now()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build in %s:\n%s", dir, out)
	t.Logf("go build: %.1f s", time.Since(start).Seconds())
	bin := filepath.Join(dir, "scorer")

	f, err := elf.Open(bin)
	require.NoError(t, err)
	libs, err := f.ImportedLibraries()
	require.NoError(t, f.Close())
	require.NoError(t, err)
	for _, lib := range libs {
		for _, m := range append(libTorchMarks, "onnxruntime") {
			assert.NotContains(t, lib, m, "the binary imports %s", lib)
		}
	}
	ldd, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	require.NoError(t, err, "ldd %s:\n%s", bin, ldd)
	for _, m := range libTorchMarks {
		assert.NotContains(t, string(ldd), m, "ldd:\n%s", ldd)
	}
	assert.NotContains(t, string(ldd), "not found")
	t.Logf("the binary imports %v", libs)

	lib, err := filepath.Abs(ort.LibraryPath())
	require.NoError(t, err)
	run := exec.CommandContext(ctx, bin, "-model", "model.onnx", "-image", "in.png")
	run.Dir, run.Env = dir, []string{"PATH=/usr/bin:/bin", "ORT_LIB=" + lib}
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	require.NoError(t, run.Run(), "%s failed:\n%s", bin, stderr.String())
	var got scorerReport
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), "output: %s", stdout.String())

	s, err := ortscore.Load(onnxPath, ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	img, err := imageproc.Load(filepath.Join(dir, "in.png"))
	require.NoError(t, err)
	r, err := s.Score(ctx, img)
	require.NoError(t, err)
	assert.Equal(t, scorerReport{
		Category: "tray", Score: r.Score, LGST: r.LGST, PatchHist: r.PatchHist, Anomalous: r.Anomalous,
		Width: 96, Height: 72, Local: f32Digest(r.Local), Global: f32Digest(r.Global), AnomalyMap: f32Digest(r.AnomalyMap),
		Segmentation: bytesDigest(r.Segmentation),
	}, got)
	t.Logf("binary without LibTorch: score %v, equal to this process's", got.Score)
}

func bytesDigest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
