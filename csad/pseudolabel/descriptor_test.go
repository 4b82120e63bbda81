package pseudolabel

import (
	"math"
	"testing"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLab checks the conversion against the published CIE L*a*b* values of
// the sRGB primaries (D65), e.g. Lindbloom's calculator, to 0.01.
func TestLab(t *testing.T) {
	for _, c := range []struct {
		r, g, b uint8
		L, A, B float64
	}{
		{255, 255, 255, 100, 0, 0},
		{0, 0, 0, 0, 0, 0},
		{255, 0, 0, 53.2408, 80.0925, 67.2032},
		{0, 255, 0, 87.7347, -86.1827, 83.1793},
		{0, 0, 255, 32.2970, 79.1875, -107.8602},
		{128, 128, 128, 53.5850, 0, 0},
	} {
		L, A, B := Lab(c.r, c.g, c.b)
		assert.InDelta(t, c.L, L, 0.01, "L of %v", c)
		assert.InDelta(t, c.A, A, 0.01, "a of %v", c)
		assert.InDelta(t, c.B, B, 0.01, "b of %v", c)
	}
	// OpenCV's 8-bit encoding of pure red is (136, 208, 195).
	l8, a8, b8 := Lab8(255, 0, 0)
	assert.Equal(t, [3]uint8{136, 208, 195}, [3]uint8{l8, a8, b8})
}

func TestShadeDist(t *testing.T) {
	yellow := func(k float64) [3]float64 {
		l, a, b := Lab(uint8(227*k), uint8(181*k), uint8(30*k))
		return [3]float64{l, a, b}
	}
	grey := func() [3]float64 { l, a, b := Lab(150, 160, 170); return [3]float64{l, a, b} }()
	// Halving the sRGB values of a yellow (linear light ×0.22) moves it more
	// than 20 ΔE in Lab; here almost only the luminance term moves:
	// 2·ln(1/0.22) ≈ 3.05.
	assert.Greater(t, dist3(yellow(1), yellow(0.5)), 20.0)
	assert.Less(t, shadeDist(yellow(1), yellow(0.5)), 3.5)
	assert.Greater(t, shadeDist(yellow(1), grey), 15.0)
}

func rectImage(w, h int, col [3]uint8) *imageproc.RGB {
	img := imageproc.NewRGB(w, h)
	for i := 0; i < w*h; i++ {
		copy(img.Pix[3*i:], col[:])
	}
	return img
}

func TestDescribe(t *testing.T) {
	img := rectImage(40, 30, [3]uint8{200, 120, 40})
	// A 6×4 rectangle at (10,5) in a second colour, its right half darker.
	m := NewMask(40, 30)
	for y := 5; y < 9; y++ {
		for x := 10; x < 16; x++ {
			m.Pix[y*40+x] = true
			if x >= 13 {
				copy(img.Pix[3*(y*40+x):], []uint8{100, 60, 20})
			}
		}
	}
	d, err := Describe(img, m)
	require.NoError(t, err)
	assert.InDelta(t, 24.0/1200, d.Area, 1e-15)
	assert.InDelta(t, (10+16)/2.0/40, d.Center[0], 1e-15)
	assert.InDelta(t, (5+9)/2.0/30, d.Center[1], 1e-15)
	l1, a1, b1 := Lab(200, 120, 40)
	l2, a2, b2 := Lab(100, 60, 20)
	assert.InDelta(t, (l1+l2)/2, d.MeanLab[0], 1e-9)
	assert.InDelta(t, (a1+a2)/2, d.MeanLab[1], 1e-9)
	assert.InDelta(t, math.Abs(l1-l2)/2, d.StdLab[0], 1e-9)
	assert.InDelta(t, math.Abs(b1-b2)/2, d.StdLab[2], 1e-9)
	// A w×h block of pixels: μ20 = h·w(w²−1)/12, so η20 = (w²−1)/(12wh).
	eta20, eta02 := (36.0-1)/(12*24), (16.0-1)/(12*24)
	assert.InDelta(t, eta20, d.Eta[0], 1e-12)
	assert.InDelta(t, 0, d.Eta[1], 1e-12)
	assert.InDelta(t, eta02, d.Eta[2], 1e-12)
	assert.InDelta(t, eta20+eta02, d.Hu[0], 1e-12)
	assert.InDelta(t, (eta20-eta02)*(eta20-eta02), d.Hu[1], 1e-12)
	for k := 2; k < 7; k++ {
		assert.InDelta(t, 0, d.Hu[k], 1e-12, "Hu %d of a symmetric shape", k+1)
	}
	// The official colour feature on 8-bit Lab.
	var want float64
	for _, c := range [][3]uint8{{200, 120, 40}, {100, 60, 20}} {
		_, a8, b8 := Lab8(c[0], c[1], c[2])
		q := float64(b8) / (float64(a8) + 1e-7)
		want += 12 * q * q
	}
	assert.InDelta(t, want/(24+1e-7), d.OfficialColor, 1e-12)

	// Hu moments do not change when the shape is turned by 90° or moved.
	m2 := NewMask(40, 30)
	for y := 12; y < 18; y++ {
		for x := 30; x < 34; x++ {
			m2.Pix[y*40+x] = true
		}
	}
	d2, err := Describe(img, m2)
	require.NoError(t, err)
	for k := range d.Hu {
		assert.InDelta(t, d.Hu[k], d2.Hu[k], 1e-12, "Hu %d", k+1)
	}

	_, err = Describe(img, NewMask(40, 30))
	require.ErrorContains(t, err, "empty component")
	_, err = Describe(img, NewMask(30, 40))
	require.ErrorContains(t, err, "mask is 30×40 but the image is 40×30")
	_, err = Describe(nil, m)
	require.ErrorContains(t, err, "the image is 0×0")
}

func TestVectorAndStandardize(t *testing.T) {
	d := Descriptor{Area: math.E, MeanLab: [3]float64{1, 2, 3}, StdLab: [3]float64{4, 5, 6}, Hu: [7]float64{0.2, 0.0016}, Center: [2]float64{0.25, 0.75}}
	v, names, err := Vector(d, []string{FeatLogArea, FeatLab, FeatLabStd, FeatShape, FeatPosition})
	require.NoError(t, err)
	assert.Equal(t, []string{"log_area", "L", "a", "b", "std_L", "std_a", "std_b", "hu1", "elongation", "center_x", "center_y"}, names)
	assert.InDeltaSlice(t, []float64{1, 1, 2, 3, 4, 5, 6, 0.2, 0.2, 0.25, 0.75}, v, 1e-12)
	_, _, err = Vector(d, []string{"cnn_image"})
	require.ErrorContains(t, err, `unknown feature "cnn_image"`)

	z, mean, std, err := Standardize([][]float64{{1, 5}, {3, 5}, {5, 5}})
	require.NoError(t, err)
	assert.Equal(t, []float64{3, 5}, mean)
	assert.InDeltaSlice(t, []float64{math.Sqrt(8.0 / 3), 1}, std, 1e-12)
	assert.InDeltaSlice(t, []float64{-2 / math.Sqrt(8.0/3), 0}, z[0], 1e-12)
	_, _, _, err = Standardize(nil)
	require.Error(t, err)
	_, _, _, err = Standardize([][]float64{{1, 2}, {1}})
	require.ErrorContains(t, err, "row 1 has 1 columns")
	_, _, _, err = Standardize([][]float64{{math.NaN()}})
	require.ErrorContains(t, err, "NaN")
}
