package trt_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/ort"
)

// tinyGolden is testdata/trt/tiny_golden.json: an input of the tiny graphs and the outputs
// numpy computes for it in float64 (testdata/trt/gen_trt_golden.py).
type tinyGolden struct {
	InputShape   []int64   `json:"input_shape"`
	Input        []float32 `json:"input"`
	Score        []float64 `json:"score"`
	LocalMap     []float64 `json:"local_map"`
	Segmentation []int32   `json:"segmentation"`
}

func loadGolden(t testing.TB) tinyGolden {
	t.Helper()
	data, err := os.ReadFile("../testdata/trt/tiny_golden.json")
	require.NoError(t, err)
	var g tinyGolden
	require.NoError(t, json.Unmarshal(data, &g))
	require.Len(t, g.Input, int(g.InputShape[0]*g.InputShape[1]*g.InputShape[2]*g.InputShape[3]))
	return g
}

// batch returns the first n samples of the golden input.
func (g tinyGolden) batch(n int) []float32 {
	per := len(g.Input) / int(g.InputShape[0])
	return g.Input[:n*per]
}

// assertClose checks got against want with |got-want| <= rel·max(|want|, floor) element-wise,
// floor keeping values near zero from demanding more than float rounding gives.
func assertClose(t testing.TB, name string, want []float64, got []float32, rel, floor float64) {
	t.Helper()
	require.Len(t, got, len(want), name)
	worst, at := 0.0, 0
	for i := range want {
		d := math.Abs(float64(got[i])-want[i]) / math.Max(math.Abs(want[i]), floor)
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	assert.LessOrEqual(t, worst, rel, "%s: worst relative error %.3g at %d (got %v, want %v)", name, worst, at, got[at], want[at])
}

// agreement is the fraction of equal labels.
func agreement(want, got []int32) float64 {
	same := 0
	for i := range want {
		if got[i] == want[i] {
			same++
		}
	}
	return float64(same) / float64(len(want))
}

// The golden outputs are checked against an independent runtime, ONNX Runtime, on every
// machine that has it, so the GPU tests compare TensorRT with a verified reference.
// Tolerance: 1e-5 of max(|value|, 1) (float32 arithmetic against float64), labels identical.
func TestTinyGoldenMatchesONNXRuntime(t *testing.T) {
	if err := ort.Init(); err != nil {
		t.Skipf("no ONNX Runtime to check the fixture with: %v", err)
	}
	g := loadGolden(t)
	model, err := os.ReadFile("../testdata/trt/tiny.onnx")
	require.NoError(t, err)
	sess, err := ort.NewSession(model, ort.Options{Threads: 1})
	require.NoError(t, err)
	defer sess.Close()
	out, err := sess.Run(map[string]ort.Tensor{"input": {Shape: g.InputShape, Float32: g.Input}})
	require.NoError(t, err)
	assertClose(t, "score", g.Score, out["score"].Float32, 1e-5, 1)
	assertClose(t, "local_map", g.LocalMap, out["local_map"].Float32, 1e-5, 1)
	assert.Equal(t, g.Segmentation, out["segmentation"].Int32)
	assert.Equal(t, []int64{g.InputShape[0], 8, 8}, out["segmentation"].Shape)
}

// The FP16 graph computes in half precision: against the float64 reference, 2e-2 of
// max(|value|, 1) and 95% of the labels (argmax near-ties flip). The same tolerances are the
// GPU tests' FP16 ones.
const (
	fp16Tolerance = 2e-2
	fp16Agreement = 0.95
)

func TestTinyFP16GoldenMatchesONNXRuntime(t *testing.T) {
	if err := ort.Init(); err != nil {
		t.Skipf("no ONNX Runtime to check the fixture with: %v", err)
	}
	g := loadGolden(t)
	model, err := os.ReadFile("../testdata/trt/tiny_fp16.onnx")
	require.NoError(t, err)
	sess, err := ort.NewSession(model, ort.Options{Threads: 1})
	require.NoError(t, err)
	defer sess.Close()
	out, err := sess.Run(map[string]ort.Tensor{"input": {Shape: g.InputShape, Float32: g.Input}})
	require.NoError(t, err)
	assertClose(t, "score", g.Score, out["score"].Float32, fp16Tolerance, 1)
	assertClose(t, "local_map", g.LocalMap, out["local_map"].Float32, fp16Tolerance, 1)
	assert.GreaterOrEqual(t, agreement(g.Segmentation, out["segmentation"].Int32), fp16Agreement)
}
