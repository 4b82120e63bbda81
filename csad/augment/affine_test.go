package augment

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func randomBytes(seed uint64, n int) []uint8 {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]uint8, n)
	for i := range b {
		b[i] = uint8(r.IntN(256))
	}
	return b
}

// TestRotationMatrix2DFormula checks OpenCV's formula by hand: at 90° about
// (2, 3) the matrix is [[0, 1, −1], [−1, 0, 5]] up to cos(π/2) ≈ 6e-17, and
// in general the centre is a fixed point and the linear part is
// scale·[[cos, sin], [−sin, cos]].
func TestRotationMatrix2DFormula(t *testing.T) {
	m := RotationMatrix2D(2, 3, 90, 1)
	want := Affine{0, 1, -1, -1, 0, 5}
	for i := range want {
		assert.InDelta(t, want[i], m[i], 1e-15, "entry %d", i)
	}
	for _, c := range []struct{ cx, cy, angle, scale float64 }{
		{10, 20, 30, 1}, {0, 0, -45, 2}, {127.5, 127.5, 359, 0.5}, {3.25, 7.75, 181, 1.01},
	} {
		m := RotationMatrix2D(c.cx, c.cy, c.angle, c.scale)
		x, y := m.Apply(c.cx, c.cy)
		assert.InDelta(t, c.cx, x, 1e-12)
		assert.InDelta(t, c.cy, y, 1e-12)
		a := c.angle * math.Pi / 180
		assert.InDelta(t, c.scale*math.Cos(a), m[0], 1e-15)
		assert.InDelta(t, c.scale*math.Sin(a), m[1], 1e-15)
		assert.InDelta(t, -c.scale*math.Sin(a), m[3], 1e-15)
		assert.InDelta(t, c.scale*math.Cos(a), m[4], 1e-15)
	}
}

// TestMulOrder: Translation(dx, dy).Mul(r) applies r first, as numpy's
// T @ R, and adds the shift to r's translation exactly.
func TestMulOrder(t *testing.T) {
	r := RotationMatrix2D(5, 7, 37, 1)
	m := Translation(3.5, -2.25).Mul(r)
	assert.Equal(t, r[0], m[0])
	assert.Equal(t, r[1], m[1])
	assert.Equal(t, r[2]+3.5, m[2])
	assert.Equal(t, r[5]-2.25, m[5])
	x, y := r.Apply(1, 2)
	mx, my := m.Apply(1, 2)
	assert.InDelta(t, x+3.5, mx, 1e-12)
	assert.InDelta(t, y-2.25, my, 1e-12)
}

// rot90 returns the exact image of src (n×n, ch channels) rotated by
// k·90° counter-clockwise on screen about its centre: the matrix
// [[0, 1], [−1, 0]] sends (x, y) to (y, n−1−x).
func rot90(src []uint8, n, ch, k int) []uint8 {
	out := append([]uint8(nil), src...)
	for range ((k % 4) + 4) % 4 {
		next := make([]uint8, len(out))
		for y := range n {
			for x := range n {
				dx, dy := y, n-1-x
				copy(next[(dy*n+dx)*ch:(dy*n+dx)*ch+ch], out[(y*n+x)*ch:(y*n+x)*ch+ch])
			}
		}
		out = next
	}
	return out
}

// TestWarpRightAngles: a warp by a multiple of 90° about the centre of a
// square image is the exact pixel permutation, for both interpolations, odd
// and even sides, RGB and grey.
func TestWarpRightAngles(t *testing.T) {
	for _, n := range []int{5, 6} {
		for _, ch := range []int{1, 3} {
			src := randomBytes(uint64(n*10+ch), n*n*ch)
			c := float64(n-1) / 2
			for _, k := range []int{-1, 0, 1, 2, 3, 4} {
				m := RotationMatrix2D(c, c, float64(90*k), 1)
				want := rot90(src, n, ch, k)
				for _, interp := range []Interp{Nearest, Bilinear} {
					got, err := WarpAffine(src, n, n, ch, m, interp)
					require.NoError(t, err)
					assert.Equal(t, want, got, "n %d ch %d angle %d %v", n, ch, 90*k, interp)
				}
			}
		}
	}
}

// TestWarpIdentityAndShift: the identity returns the input, an integer
// translation shifts it and fills the uncovered band with 0.
func TestWarpIdentityAndShift(t *testing.T) {
	const w, h = 7, 5
	src := randomBytes(3, w*h*3)
	for _, interp := range []Interp{Nearest, Bilinear} {
		got, err := WarpAffine(src, w, h, 3, Identity, interp)
		require.NoError(t, err)
		assert.Equal(t, src, got, "%v identity", interp)

		got, err = WarpAffine(src, w, h, 3, Translation(2, -1), interp)
		require.NoError(t, err)
		for y := range h {
			for x := range w {
				sx, sy := x-2, y+1
				for k := range 3 {
					want := uint8(0)
					if sx >= 0 && sy < h {
						want = src[(sy*w+sx)*3+k]
					}
					require.Equal(t, want, got[(y*w+x)*3+k], "%v shift at (%d,%d)", interp, x, y)
				}
			}
		}
	}
}

// TestWarpHalfPixel: a half-pixel shift of a grey row averages neighbours
// with OpenCV's round-half-up, and the leftmost pixel blends with the 0
// border: (0 + 10)/2 = 5, (10 + 21)/2 = 15.5 → 16, (21 + 255)/2 = 138.
func TestWarpHalfPixel(t *testing.T) {
	src := []uint8{10, 21, 255}
	got, err := WarpAffine(src, 3, 1, 1, Translation(0.5, 0), Bilinear)
	require.NoError(t, err)
	// Row 0 is the last row too, so its lower neighbours are border: the
	// vertical weight is 1 there (no vertical offset), no effect.
	assert.Equal(t, []uint8{5, 16, 138}, got)
}

// TestWarpRectMatchesFull: warping a sub-rectangle equals cropping the
// full warp, so LSA's cropped warps equal whole-image ones.
func TestWarpRectMatchesFull(t *testing.T) {
	const w, h = 40, 30
	src := randomBytes(9, w*h*3)
	m := Translation(4.3, -2.7).Mul(RotationMatrix2D(17, 12, 211, 1))
	inv, err := inverse(m)
	require.NoError(t, err)
	for _, interp := range []Interp{Nearest, Bilinear} {
		full, err := WarpAffine(src, w, h, 3, m, interp)
		require.NoError(t, err)
		part := make([]uint8, len(src))
		warpRect(part, src, w, h, 3, inv, interp, 5, 7, 31, 22)
		for y := range h {
			for x := range w {
				i := (y*w + x) * 3
				if x >= 5 && x < 31 && y >= 7 && y < 22 {
					require.Equal(t, full[i:i+3], part[i:i+3], "%v at (%d,%d)", interp, x, y)
				} else {
					require.Equal(t, []uint8{0, 0, 0}, part[i:i+3])
				}
			}
		}
	}
}

// TestWarpErrors: bad sizes, channel counts, matrices and interpolations
// are errors naming the cause, not panics.
func TestWarpErrors(t *testing.T) {
	ok := make([]uint8, 4*3*3)
	cases := []struct {
		name   string
		src    []uint8
		w, h   int
		ch     int
		m      Affine
		interp Interp
		want   string
	}{
		{"short", ok[:10], 4, 3, 3, Identity, Bilinear, "has 10 bytes, want"},
		{"zero width", nil, 0, 3, 3, Identity, Bilinear, "outside 1..32767"},
		{"huge", nil, 40000, 3, 1, Identity, Bilinear, "outside 1..32767"},
		{"channels", ok, 4, 3, 5, Identity, Bilinear, "5 channels"},
		{"nan", ok, 4, 3, 3, Affine{math.NaN(), 0, 0, 0, 1, 0}, Bilinear, "non-finite"},
		{"singular", ok, 4, 3, 3, Affine{1, 2, 0, 2, 4, 0}, Nearest, "singular"},
		{"interp", ok, 4, 3, 3, Identity, Interp(7), "unknown interpolation Interp(7)"},
	}
	for _, c := range cases {
		_, err := WarpAffine(c.src, c.w, c.h, c.ch, c.m, c.interp)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
		assert.Contains(t, err.Error(), "augment: ", c.name)
	}
}
