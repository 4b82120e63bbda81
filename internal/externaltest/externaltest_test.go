package externaltest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/internal/externaltest"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

func TestMain(m *testing.M) { torchtest.Main(m) }

// report mirrors testdata/scorer's Report (a program in another module cannot share the type).
type report struct {
	LibTorch     string  `json:"libtorch"`
	Score        float64 `json:"score"`
	LGST         float64 `json:"lgst"`
	PatchHist    float64 `json:"patch_hist"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	AnomalyMap   string  `json:"anomaly_map_sha256"`
	Segmentation string  `json:"segmentation_sha256"`
}

func TestBuildEnvKeepsOnlyDocumentedVariables(t *testing.T) {
	got := externaltest.BuildEnv([]string{
		"PATH=/usr/bin", "LD_LIBRARY_PATH=/opt/x", "GOFLAGS=-tags=other", "CGO_LDFLAGS=-L/opt/lt/lib",
		"MAKEFLAGS=-j2", "GOCACHE=/c",
	})
	assert.Equal(t, []string{"GOFLAGS=-mod=mod", "PATH=/usr/bin", "CGO_LDFLAGS=-L/opt/lt/lib", "GOCACHE=/c"}, got)
	assert.Equal(t, []string{"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=/opt/x"},
		externaltest.RunEnv([]string{"LD_LIBRARY_PATH=/opt/x", "GOCACHE=/c"}))
}

// TestExternalModule builds and runs testdata/scorer as a module of its own in a temporary
// folder. It fails if the library needs a step before go build, an environment variable that
// README.md does not document, or anything from the checkout at run time.
func TestExternalModule(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command must be on PATH")
	checkout, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	gomod, err := os.ReadFile(filepath.Join(checkout, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(gomod), "module "+externaltest.ModulePath+"\n", "checkout root not found")

	// The module: go.mod, go.sum and the program (externaltest.NewModule), a model file and an
	// image.
	mod, err := externaltest.NewModule(t.TempDir(), "example.com/scorer", checkout, filepath.Join("testdata", "scorer", "main.go"))
	require.NoError(t, err)
	dir := mod.Dir
	write := func(name string, data []byte) {
		t.Helper()
		require.NoError(t, mod.WriteFile(name, data))
	}
	writeModel(t, filepath.Join(checkout, "testdata", "golden", "model_small.pth"), filepath.Join(dir, "model.csad"))
	img := testImage(96, 72, 7)
	var pngBuf bytes.Buffer
	require.NoError(t, png.Encode(&pngBuf, img))
	write("in.png", pngBuf.Bytes())

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute) // a cold C++ compile on a loaded 2-core machine
	defer cancel()
	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir, cmd.Env = dir, externaltest.BuildEnv(os.Environ())
		start := time.Now()
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s in %s:\n%s", strings.Join(args, " "), dir, out)
		t.Logf("go %s: %.1f s", strings.Join(args, " "), time.Since(start).Seconds())
	}
	goCmd("vet", ".")
	goCmd("build", "-o", "scorer", ".")
	bin := filepath.Join(dir, "scorer")

	checkELF(t, bin, checkout)
	lddOut, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	require.NoError(t, err, "ldd %s:\n%s", bin, lddOut)
	assert.NotContains(t, string(lddOut), checkout, "a library resolves into the checkout")
	assert.NotContains(t, string(lddOut), "not found", "a shared library is missing")

	run := exec.CommandContext(ctx, bin, "-model", "model.csad", "-image", "in.png")
	run.Dir, run.Env = dir, externaltest.RunEnv(os.Environ())
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	require.NoError(t, run.Run(), "%s failed:\n%s", bin, stderr.String())
	var got report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), "output: %s", stdout.String())

	// The same model and image scored in this process: equal bit for bit, because it is the
	// same shim on the same LibTorch with the same thread count.
	want := scoreHere(t, filepath.Join(dir, "model.csad"), img)
	assert.Equal(t, want, got)
	assert.Equal(t, 96, got.Width)
	assert.Equal(t, 72, got.Height)
	assert.False(t, math.IsNaN(got.Score) || math.IsInf(got.Score, 0), "score %v", got.Score)
	t.Logf("external program: score %v (LGST %v, patch histogram %v), LibTorch %s", got.Score, got.LGST, got.PatchHist, got.LibTorch)
}

// checkELF asserts that the binary links LibTorch's libraries, not a shim library, and has no
// run path into the checkout.
func checkELF(t *testing.T, bin, checkout string) {
	t.Helper()
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	joined := strings.Join(libs, " ")
	assert.Contains(t, joined, "libtorch_cpu.so", "LibTorch is not linked")
	assert.Contains(t, joined, "libc10.so")
	assert.NotContains(t, joined, "csadtorch", "the shim must be linked into the binary, not loaded")
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		paths, err := f.DynString(tag)
		require.NoError(t, err)
		for _, p := range paths {
			assert.NotContains(t, p, checkout, "%v points into the checkout", tag)
		}
	}
}

func writeModel(t *testing.T, checkpoint, out string) {
	t.Helper()
	net, err := csad.ImportUnified(checkpoint)
	require.NoError(t, err)
	defer net.Close()
	h, err := csad.NewHeader(net, "tray", csad.Provenance{Tool: "externaltest"})
	require.NoError(t, err)
	require.NoError(t, csad.SaveModel(out, net, h))
}

func scoreHere(t *testing.T, model string, img image.Image) report {
	t.Helper()
	m, err := csad.Load(model, csad.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	r, err := m.Score(context.Background(), img)
	require.NoError(t, err)
	return report{
		LibTorch: torch.Version(), Score: r.Score, LGST: r.LGST, PatchHist: r.PatchHist,
		Width: r.Width, Height: r.Height,
		AnomalyMap: digest(r.AnomalyMap), Segmentation: digestBytes(r.Segmentation),
	}
}

// testImage is a smooth gradient with seeded noise: textured enough that every branch of the
// model sees non-constant input.
func testImage(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(32))
			img.SetRGBA(x, y, color.RGBA{uint8(x*255/w) ^ n, uint8(y*255/h) + n, uint8((x+y)*3) + n, 255})
		}
	}
	return img
}

func digest(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return digestBytes(b)
}

func digestBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
