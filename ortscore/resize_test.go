package ortscore_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/ortscore"
)

// resizeGolden is testdata/ortscore/resize_golden.json (testdata/gen_ortscore_golden.py).
type resizeGolden struct {
	Torch  string `json:"torch"`
	Inputs map[string]struct {
		H, W   int
		Values string `json:"values"`
	} `json:"inputs"`
	Cases []struct {
		Name         string `json:"name"`
		InH          int    `json:"in_h"`
		InW          int    `json:"in_w"`
		OutH         int    `json:"out_h"`
		OutW         int    `json:"out_w"`
		Input        string `json:"input"`
		SHA256       string `json:"output_sha256"`
		Output       string `json:"output"`
		SampleStride int    `json:"sample_stride"`
		Samples      string `json:"samples"`
	} `json:"cases"`
}

func loadResizeGolden(t *testing.T) resizeGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "ortscore", "resize_golden.json"))
	require.NoError(t, err, "regenerate with /usr/bin/python3 testdata/gen_ortscore_golden.py")
	var g resizeGolden
	require.NoError(t, json.Unmarshal(data, &g))
	require.NotEmpty(t, g.Cases)
	return g
}

func decodeF32(t *testing.T, s string) []float32 {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	require.Zero(t, len(b)%4)
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func f32Digest(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// maxAbsDiff compares want with got, or with every stride-th value of got.
func maxAbsDiff(got, want []float32, stride int) (maxAbs float64, differ int) {
	for i, w := range want {
		g := got[i*stride]
		if math.Float32bits(g) != math.Float32bits(w) {
			differ++
			maxAbs = max(maxAbs, math.Abs(float64(g)-float64(w)))
		}
	}
	return maxAbs, differ
}

// TestResizeGolden compares Resize with LibTorch 1.13's F.interpolate(bilinear,
// align_corners=False) on twelve cases: up and down, odd sizes, 1×1 on either side, identity,
// one axis up and the other down, a rectangular input. Tolerance: none, bit for bit (the SHA-256
// of the whole output, and every stored value).
func TestResizeGolden(t *testing.T) {
	g := loadResizeGolden(t)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			in, ok := g.Inputs[c.Input]
			require.True(t, ok, "input %q", c.Input)
			src := decodeF32(t, in.Values)
			require.Len(t, src, c.InW*c.InH)
			got, err := ortscore.Resize(src, c.InW, c.InH, c.OutW, c.OutH)
			require.NoError(t, err)
			require.Len(t, got, c.OutW*c.OutH)
			stride, want := 1, c.Output
			if c.Output == "" {
				stride, want = c.SampleStride, c.Samples
			}
			d, n := maxAbsDiff(got, decodeF32(t, want), stride)
			assert.Zero(t, n, "%d stored values differ, max abs %.3g", n, d)
			assert.Equal(t, c.SHA256, f32Digest(got), "the output is not LibTorch's bit for bit")
		})
	}
}

// naiveResize is the straightforward bilinear resize (float64 scale and coordinates, float32
// two-tap blends, rows then columns) that the golden must tell from LibTorch's.
func naiveResize(src []float32, w0, h0, w, h int) []float32 {
	tap := func(dst, in, out int) (int, int, float32) {
		s := max(float64(in)/float64(out)*(float64(dst)+0.5)-0.5, 0)
		i0 := int(s)
		return i0, min(i0+1, in-1), float32(s - float64(i0))
	}
	out := make([]float32, w*h)
	for y := range h {
		y0, y1, ly := tap(y, h0, h)
		for x := range w {
			x0, x1, lx := tap(x, w0, w)
			top := src[y0*w0+x0]*(1-lx) + src[y0*w0+x1]*lx
			bot := src[y1*w0+x0]*(1-lx) + src[y1*w0+x1]*lx
			out[y*w+x] = top*(1-ly) + bot*ly
		}
	}
	return out
}

// TestResizeGoldenCatchesNaive shows the golden can fail: the straightforward version is within
// 1e-5 of LibTorch but not equal, which TestResizeGolden would report.
func TestResizeGoldenCatchesNaive(t *testing.T) {
	g := loadResizeGolden(t)
	worst := 0.0
	for _, c := range g.Cases {
		if c.Name != "64_to_1024x768" && c.Name != "64_to_31x17" {
			continue
		}
		src := decodeF32(t, g.Inputs[c.Input].Values)
		got := naiveResize(src, c.InW, c.InH, c.OutW, c.OutH)
		stride, want := 1, c.Output
		if c.Output == "" {
			stride, want = c.SampleStride, c.Samples
		}
		d, n := maxAbsDiff(got, decodeF32(t, want), stride)
		assert.NotEqual(t, c.SHA256, f32Digest(got), c.Name)
		assert.Positive(t, n, c.Name)
		worst = max(worst, d)
	}
	assert.Greater(t, worst, 1e-6)
	assert.Less(t, worst, 1e-5)
	t.Logf("straightforward bilinear: max abs difference from LibTorch %.3g", worst)
}

func TestResizeErrors(t *testing.T) {
	for _, c := range []struct {
		name            string
		n, w0, h0, w, h int
		want            string
	}{
		{"zero side", 4, 2, 2, 0, 3, "every side must be positive"},
		{"negative", 4, 2, 2, 3, -1, "every side must be positive"},
		{"short input", 3, 2, 2, 4, 4, "3 values for a 2×2 map"},
		{"huge output", 4, 2, 2, 1 << 20, 1 << 20, "more than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ortscore.Resize(make([]float32, c.n), c.w0, c.h0, c.w, c.h)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), "ortscore: resize")
		})
	}
}

// TestResizeConstant: a constant map stays constant at every size; the weights of each output
// pixel sum to one within float32 rounding.
func TestResizeConstant(t *testing.T) {
	src := make([]float32, 5*3)
	for i := range src {
		src[i] = 2.5
	}
	for _, sz := range [][2]int{{1, 1}, {5, 3}, {17, 40}, {2, 2}} {
		got, err := ortscore.Resize(src, 5, 3, sz[0], sz[1])
		require.NoError(t, err)
		for i, v := range got {
			require.InDelta(t, 2.5, v, 1e-6, "size %v pixel %d", sz, i)
		}
	}
}
