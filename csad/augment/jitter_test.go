package augment_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/augment"
	"github.com/csad-go/csad/torch/checkpoint"
	"github.com/csad-go/csad/torch/torchtest"
)

// jitterGolden is written by testdata/gen_lgst_golden.py (Pillow 9.4's ImageEnhance), on this
// machine (torchtest.GoldenDir), as the LGST training tests use it.
func jitterGolden(t testing.TB) string {
	return filepath.Join(torchtest.GoldenDir(t, "../../testdata", "gen_lgst_golden.py"), "lgst.safetensors")
}

func loadJitterGolden(t *testing.T) (map[string]*checkpoint.Tensor, []float64) {
	t.Helper()
	ts, meta, err := checkpoint.LoadSafetensors(jitterGolden(t))
	require.NoError(t, err, "regenerate with: /usr/bin/python3 testdata/gen_lgst_golden.py")
	g := make(map[string]*checkpoint.Tensor, len(ts))
	for _, n := range ts {
		g[n.Name] = n.Tensor
	}
	var reprs []string
	require.NoError(t, json.Unmarshal([]byte(meta["jitter_factors"]), &reprs))
	factors := make([]float64, len(reprs))
	for i, r := range reprs {
		factors[i], err = strconv.ParseFloat(r, 64)
		require.NoError(t, err)
	}
	return g, factors
}

// Every enhancer at every golden factor (four torchvision draws in [0.8, 1.2], the range ends,
// 1, 0, and extrapolations 0.37, 1.9 and −0.25 that exercise clipping) gives Pillow's bytes
// exactly, on a 32×24 fixture.
func TestEnhanceMatchesPillow(t *testing.T) {
	g, factors := loadJitterGolden(t)
	src := g["jitter/image"]
	require.Equal(t, []int64{24, 32, 3}, src.Shape)
	h, w := int(src.Shape[0]), int(src.Shape[1])
	for _, e := range []augment.Enhancer{augment.Brightness, augment.Contrast, augment.Saturation} {
		for i, f := range factors {
			want := g[fmt.Sprintf("jitter/%v/%d", e, i)]
			require.NotNil(t, want, "%v %d", e, i)
			got, err := augment.Enhance(src.Data, w, h, e, f)
			require.NoError(t, err)
			differ := 0
			for j := range got {
				if got[j] != want.Data[j] {
					differ++
				}
			}
			assert.Zero(t, differ, "%v factor %v: %d of %d bytes differ from Pillow", e, f, differ, len(got))
		}
	}
	// the fixture is not trivial: every enhancer changes it at 1.2
	for _, e := range []augment.Enhancer{augment.Brightness, augment.Contrast, augment.Saturation} {
		got, err := augment.Enhance(src.Data, w, h, e, 1.2)
		require.NoError(t, err)
		assert.NotEqual(t, src.Data, got, "%v", e)
	}
}

// Luma is Pillow's fixed-point convert("L") (values checked against Pillow 9.4), which rounds,
// not the truncating ·299/1000 formula: (2, 0, 0) has luma 0.598, 1 for Pillow and 0 truncated;
// (0, 1, 0) has 0.587.
func TestLuma(t *testing.T) {
	got, err := augment.Luma([]uint8{255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 2, 0, 0, 0, 1, 0, 10, 20, 30}, 7, 1)
	require.NoError(t, err)
	assert.Equal(t, []uint8{76, 150, 29, 255, 1, 1, 18}, got)
	_, err = augment.Luma(make([]uint8, 5), 2, 1)
	require.ErrorContains(t, err, "luma input has 5 bytes, want 2×1×3 = 6")
}

// ColorJitter chooses each enabled enhancer about a third of the time, factors cover [0.8, 1.2]
// and no more, a seed fixes the draws, and a disabled enhancer is never chosen.
func TestColorJitterDraws(t *testing.T) {
	img := []uint8{10, 200, 30, 90, 90, 90}
	r := rand.New(rand.NewPCG(1, 2))
	counts := map[augment.Enhancer]int{}
	lo, hi := math.Inf(1), math.Inf(-1)
	const n = 3000
	for range n {
		out, p, err := augment.ColorJitter(r, img, 2, 1, augment.DefaultColorJitter())
		require.NoError(t, err)
		want, err := augment.Enhance(img, 2, 1, p.Enhancer, p.Factor)
		require.NoError(t, err)
		require.Equal(t, want, out)
		counts[p.Enhancer]++
		lo, hi = min(lo, p.Factor), max(hi, p.Factor)
	}
	for _, e := range []augment.Enhancer{augment.Brightness, augment.Contrast, augment.Saturation} {
		assert.InDelta(t, n/3, counts[e], 150, "%v chosen %d times of %d", e, counts[e], n)
	}
	assert.GreaterOrEqual(t, lo, 0.8)
	assert.Less(t, lo, 0.801)
	assert.Less(t, hi, 1.2)
	assert.Greater(t, hi, 1.199)

	a, err := augment.SampleColorJitter(rand.New(rand.NewPCG(5, 6)), augment.DefaultColorJitter())
	require.NoError(t, err)
	b, err := augment.SampleColorJitter(rand.New(rand.NewPCG(5, 6)), augment.DefaultColorJitter())
	require.NoError(t, err)
	assert.Equal(t, a, b)

	for range 200 {
		p, err := augment.SampleColorJitter(r, augment.ColorJitterOptions{Contrast: 0.5})
		require.NoError(t, err)
		require.Equal(t, augment.Contrast, p.Enhancer)
		require.True(t, p.Factor >= 0.5 && p.Factor < 1.5, "%v", p.Factor)
	}
	p, err := augment.SampleColorJitter(r, augment.ColorJitterOptions{Brightness: 3})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, p.Factor, 0.0, "factors start at max(0, 1 − j)")
}

func TestColorJitterErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	img := make([]uint8, 12)
	_, _, err := augment.ColorJitter(nil, img, 2, 2, augment.DefaultColorJitter())
	require.ErrorContains(t, err, "nil *rand.Rand")
	_, _, err = augment.ColorJitter(r, img, 3, 2, augment.DefaultColorJitter())
	require.ErrorContains(t, err, "colour-jitter input has 12 bytes, want 3×2×3 = 18")
	_, _, err = augment.ColorJitter(r, img, 2, 2, augment.ColorJitterOptions{})
	require.ErrorContains(t, err, "are all 0; DefaultColorJitter has the official 0.2 each")
	_, _, err = augment.ColorJitter(r, img, 2, 2, augment.ColorJitterOptions{Saturation: -0.1})
	require.ErrorContains(t, err, "must be finite and ≥ 0")
	_, err = augment.Enhance(img, 2, 2, augment.Contrast, math.NaN())
	require.ErrorContains(t, err, "contrast factor NaN is not finite")
	_, err = augment.Enhance(img, 2, 2, augment.Enhancer(7), 1)
	require.ErrorContains(t, err, "unknown enhancer Enhancer(7)")
}

// Pillow's Contrast blends with the rounded mean luma (here 100): factor 1.2 moves 0 to
// 100 − 1.2·100 = −20 → 0 and 200 to 220.
func ExampleEnhance() {
	img := []uint8{0, 0, 0, 200, 200, 200}
	out, err := augment.Enhance(img, 2, 1, augment.Contrast, 1.2)
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output: [0 0 0 220 220 220]
}
