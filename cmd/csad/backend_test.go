package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/tiffmap"
)

// relTo is |a−b| relative to max(|a|, 1), the tolerance the ONNX Runtime backend is held to.
func relTo(a, b float64) float64 {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d / max(1, a, -a)
}

// The onnxruntime backend, from the .csad file and from an exported .onnx file, each also as fast
// mode's graph, scores as the torch backend does within 1e-4 relative, writes maps within 1e-4
// of its maps, and csad eval prints the same AUROC table on all of them.
func TestBackendsAgree(t *testing.T) {
	model, cat := fixture(t)
	test := filepath.Join(cat, "test")
	onnxFile := filepath.Join(t.TempDir(), "small.onnx")
	_, stderr, code := runMain(t, "export", "-model", model, "-maps", "-out", onnxFile)
	require.Equal(t, 0, code, stderr)
	fastFile := filepath.Join(t.TempDir(), "small-fast.onnx")
	out, stderr, code := runMain(t, "export", "-model", model, "-maps", "-fast", "-out", fastFile)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "fp32, fast graph")

	score := func(backendModel, backend string, more ...string) ([]scoreLine, string) {
		maps := filepath.Join(t.TempDir(), "maps")
		args := append([]string{"score", "-model", backendModel, "-backend", backend, "-json", "-maps", maps}, more...)
		out, stderr, code := runMain(t, append(args, test)...)
		require.Equal(t, 0, code, "%s: %s", backend, stderr)
		return jsonLines(t, out), maps
	}
	want, wantMaps := score(model, "torch")
	for _, c := range []struct {
		model, backend string
		more           []string
	}{{model, "onnxruntime", nil}, {onnxFile, "onnxruntime", nil}, {model, "onnxruntime", []string{"-fast"}}, {fastFile, "onnxruntime", nil}} {
		got, maps := score(c.model, c.backend, c.more...)
		require.Len(t, got, len(want))
		for i := range want {
			assert.Equal(t, want[i].Path, got[i].Path)
			assert.LessOrEqual(t, relTo(got[i].Score, want[i].Score), 1e-4, "%s score", want[i].Path)
			assert.LessOrEqual(t, relTo(got[i].LGST, want[i].LGST), 1e-4, "%s lgst", want[i].Path)
			assert.LessOrEqual(t, relTo(got[i].PatchHist, want[i].PatchHist), 1e-4, "%s patch_hist", want[i].Path)
		}
		for _, rel := range tiffs(t, wantMaps) {
			a, err := tiffmap.ReadFile(filepath.Join(wantMaps, rel))
			require.NoError(t, err)
			b, err := tiffmap.ReadFile(filepath.Join(maps, rel))
			require.NoError(t, err)
			require.Equal(t, len(a.Pix), len(b.Pix))
			worst := 0.0
			for j := range a.Pix {
				worst = max(worst, relTo(float64(b.Pix[j]), float64(a.Pix[j])))
			}
			assert.LessOrEqual(t, worst, 1e-4, "%s (%s)", rel, c.model)
		}
	}

	table := func(backend string, more ...string) string {
		args := append([]string{"eval", "-model", model, "-backend", backend, "-data", filepath.Dir(cat),
			"-category", filepath.Base(cat), "-out", t.TempDir()}, more...)
		out, stderr, code := runMain(t, args...)
		require.Equal(t, 0, code, "%s: %s", backend, stderr)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return strings.Join(lines[len(lines)-3:], "\n")
	}
	exact := table("torch")
	assert.Equal(t, exact, table("onnxruntime"))
	assert.Equal(t, exact, table("onnxruntime", "-fast"))
}

func TestBackendFlags(t *testing.T) {
	model, cat := fixture(t)
	img := filepath.Join(cat, "test", "good", "000.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-backend", "ort"}, "unknown backend"},
		{[]string{"-backend", "tensorrt", "-engine", "x.engine", "-fast"}, "-fast is an option of -backend torch and onnxruntime"},
		{[]string{"-backend", "onnxruntime", "-device", "cuda"}, "runs on the CPU"},
		{[]string{"-backend", "tensorrt"}, "needs -engine"},
		{[]string{"-engine", "x.engine"}, "-engine is for -backend tensorrt"},
		{[]string{"-bf16"}, "-bf16 is a variant of fast mode: add -fast"},
		{[]string{"-backend", "onnxruntime", "-fast", "-bf16"}, "-bf16 is an option of -backend torch's fast mode"},
	} {
		_, stderr, code := runMain(t, append(append([]string{"score", "-model", model}, c.args...), img)...)
		assert.Equal(t, 1, code, "%v", c.args)
		assert.Contains(t, stderr, c.want, "%v", c.args)
	}
	// A .onnx file without our header is refused with the way to make one.
	bare := filepath.Join(t.TempDir(), "bare.onnx")
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ort", "fixture.onnx"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bare, data, 0o644))
	_, stderr, code := runMain(t, "score", "-model", bare, "-backend", "onnxruntime", img)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "csad export")
	// -fast makes fast mode's graph from a .csad file; an .onnx file has its graph already.
	_, stderr, code = runMain(t, "score", "-model", bare, "-backend", "onnxruntime", "-fast", img)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "export it with 'csad export -fast'")
	// A truncated graph is a clear error too.
	cut := filepath.Join(t.TempDir(), "cut.onnx")
	require.NoError(t, os.WriteFile(cut, data[:len(data)/2], 0o644))
	_, stderr, code = runMain(t, "score", "-model", cut, "-backend", "onnxruntime", img)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "cut.onnx")
}
