package augment

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrightnessContrastHand: values worked out by hand in float32, with
// clipping at both ends and truncation (not rounding) of the result.
func TestBrightnessContrastHand(t *testing.T) {
	in := []uint8{0, 10, 100, 200, 250, 255}
	// α = 1.05, β·255 = 12.75: 12.75 → 12, 10.5 + 12.75 → 23, 117.75 → 117,
	// 222.75 → 222, 275.25 → 255 (clipped), 280.5 → 255.
	assert.Equal(t, []uint8{12, 23, 117, 222, 255, 255}, BrightnessContrast(in, 1.05, 0.05))
	// α = 0.95, β·255 = −12.75: −12.75 → 0 (clipped), 9.5 − 12.75 → 0,
	// 95 − 12.75 = 82.25 → 82, 177.25 → 177, 224.75 → 224, 229.5 → 229.
	assert.Equal(t, []uint8{0, 0, 82, 177, 224, 229}, BrightnessContrast(in, 0.95, -0.05))
	assert.Equal(t, in, BrightnessContrast(in, 1, 0))
}

// TestRandomBrightnessContrast: with P = 0 the output is an unchanged
// copy; with P = 1 it is BrightnessContrast with α = 1 + U(−c, c) and
// β = U(−b, b) drawn after the probability check, which a twin generator
// replays.
func TestRandomBrightnessContrast(t *testing.T) {
	img := randomBytes(5, 8*6*3)
	out, err := RandomBrightnessContrast(rand.New(rand.NewPCG(1, 2)), img, BrightnessContrastOptions{0.05, 0.05, 0})
	require.NoError(t, err)
	assert.Equal(t, img, out)
	out[0]++
	assert.NotEqual(t, img[0], out[0], "the copy must not alias the input")

	o := BrightnessContrastOptions{BrightnessLimit: 0.3, ContrastLimit: 0.2, P: 1}
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 7))
		got, err := RandomBrightnessContrast(r, img, o)
		require.NoError(t, err)
		twin := rand.New(rand.NewPCG(seed, 7))
		require.Less(t, twin.Float64(), 1.0)
		alpha := 1 + uniform(twin, -0.2, 0.2)
		beta := uniform(twin, -0.3, 0.3)
		assert.Equal(t, BrightnessContrast(img, alpha, beta), got)
		assert.NotEqual(t, img, got, "seed %d: α %.3f β %.3f left the image unchanged", seed, alpha, beta)
	}

	_, err = RandomBrightnessContrast(nil, img, o)
	assert.ErrorContains(t, err, "nil *rand.Rand")
	_, err = RandomBrightnessContrast(rand.New(rand.NewPCG(1, 1)), img, BrightnessContrastOptions{P: 2})
	assert.ErrorContains(t, err, "out of range")
}

// TestRandomBrightnessContrastRate: over 2000 draws the default applies
// with probability 0.5 (binomial: within ±5 σ ≈ ±0.056).
func TestRandomBrightnessContrastRate(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	img := []uint8{100, 120, 140}
	changed := 0
	const n = 2000
	for range n {
		out, err := RandomBrightnessContrast(r, img, DefaultBrightnessContrast())
		require.NoError(t, err)
		for i := range img {
			// |α−1| ≤ 0.05 and |β| ≤ 0.05 move 140 by at most 19.75.
			require.InDelta(t, float64(img[i]), float64(out[i]), 20)
		}
		if out[0] != img[0] || out[1] != img[1] || out[2] != img[2] {
			changed++
		}
	}
	assert.InDelta(t, 0.5, float64(changed)/n, 0.056)
}

// TestSSRMatrix: zero parameters give the identity; the pixel-grid centre
// moves by exactly the shift; a 90° rotation of a square image about its
// centre is a permutation; ScaleX and ScaleY scale the two source axes.
func TestSSRMatrix(t *testing.T) {
	id := SSRParams{ScaleX: 1, ScaleY: 1}.Matrix(64, 48)
	for i := range id {
		assert.InDelta(t, Identity[i], id[i], 1e-15)
	}
	p := SSRParams{DX: 0.01, DY: -0.02, ScaleX: 0.99, ScaleY: 1.01, Angle: 1.7}
	m := p.Matrix(200, 100)
	x, y := m.Apply(99.5, 49.5)
	assert.InDelta(t, 99.5+2, x, 1e-12)
	assert.InDelta(t, 49.5-2, y, 1e-12)
	// A unit step along source x moves ScaleX, along y ScaleY.
	assert.InDelta(t, 0.99, math.Hypot(m[0], m[3]), 1e-15)
	assert.InDelta(t, 1.01, math.Hypot(m[1], m[4]), 1e-15)

	src := randomBytes(4, 6*6*3)
	r90 := SSRParams{ScaleX: 1, ScaleY: 1, Angle: 90}.Matrix(6, 6)
	got, err := WarpAffine(src, 6, 6, 3, r90, Bilinear)
	require.NoError(t, err)
	assert.Equal(t, rot90(src, 6, 3, 1), got)
}

// TestShiftScaleRotate: with P = 1 image and labels are warped by the same
// matrix (bilinear and nearest), which a twin generator replays; the label
// map gains no new values; with P = 0 both come back as copies.
func TestShiftScaleRotate(t *testing.T) {
	const w, h = 64, 48
	img := randomBytes(8, w*h*3)
	labels := make([]uint8, w*h)
	for y := range h {
		for x := range w {
			labels[y*w+x] = uint8((x/16 + 3*(y/12)) % 5 * 2)
		}
	}
	o := DefaultShiftScaleRotate()
	o.P = 1
	o.RotateLimit = 20 // large enough that every draw moves pixels
	for seed := range uint64(4) {
		gotImg, gotLab, err := ShiftScaleRotate(rand.New(rand.NewPCG(seed, 3)), img, labels, w, h, o)
		require.NoError(t, err)
		p, ok, err := SampleShiftScaleRotate(rand.New(rand.NewPCG(seed, 3)), o)
		require.NoError(t, err)
		require.True(t, ok)
		assert.LessOrEqual(t, math.Abs(p.Angle), 20.0)
		assert.LessOrEqual(t, math.Abs(p.DX), 0.01)
		assert.InDelta(t, 1, p.ScaleX, 0.01)
		assert.InDelta(t, 1, p.ScaleY, 0.01)
		assert.NotEqual(t, p.ScaleX, p.ScaleY, "axes are drawn independently")
		wantImg, err := WarpAffine(img, w, h, 3, p.Matrix(w, h), Bilinear)
		require.NoError(t, err)
		wantLab, err := WarpAffine(labels, w, h, 1, p.Matrix(w, h), Nearest)
		require.NoError(t, err)
		assert.Equal(t, wantImg, gotImg)
		assert.Equal(t, wantLab, gotLab)
		assert.NotEqual(t, labels, gotLab)
		for _, v := range gotLab {
			require.Zero(t, v%2, "label %d is not one of the input's", v)
		}
	}

	o.P = 0
	gotImg, gotLab, err := ShiftScaleRotate(rand.New(rand.NewPCG(1, 1)), img, labels, w, h, o)
	require.NoError(t, err)
	assert.Equal(t, img, gotImg)
	assert.Equal(t, labels, gotLab)

	_, _, err = ShiftScaleRotate(rand.New(rand.NewPCG(1, 1)), img, labels[:10], w, h, o)
	assert.ErrorContains(t, err, "label map has 10 bytes")
	_, _, err = ShiftScaleRotate(nil, img, labels, w, h, o)
	assert.ErrorContains(t, err, "nil *rand.Rand")
	_, _, err = ShiftScaleRotate(rand.New(rand.NewPCG(1, 1)), img, labels, w, h, ShiftScaleRotateOptions{ScaleLimit: 1})
	assert.ErrorContains(t, err, "out of range")
}
