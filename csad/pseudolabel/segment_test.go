package pseudolabel

import (
	"image"
	"image/color"
	"math"
	"testing"
	"time"

	"github.com/csad-go/csad/csad/synth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scene draws, at scale s, a grey table with a lighting gradient and four
// flat parts: a red 60×40 rectangle, a blue disc of radius 20, and a green
// 50×50 square holding a yellow 20×20 square.
func scene(s int) *image.RGBA {
	w, h := 200*s, 160*s
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Lighting falls off by 10 % across the table.
			g := uint8(120 - 12*float64(x)/float64(w))
			c := color.RGBA{g, g, g + 10, 255}
			fx, fy := float64(x)/float64(s), float64(y)/float64(s)
			switch {
			case fx >= 20 && fx < 80 && fy >= 20 && fy < 60:
				c = color.RGBA{200, 40, 30, 255}
			case math.Hypot(fx-140, fy-45) < 20:
				c = color.RGBA{30, 60, 200, 255}
			case fx >= 95 && fx < 115 && fy >= 100 && fy < 120:
				c = color.RGBA{230, 200, 20, 255}
			case fx >= 80 && fx < 130 && fy >= 85 && fy < 135:
				c = color.RGBA{40, 160, 60, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// TestSegmentScene checks that the flat parts come out as one component
// each, with the areas drawn (up to the one-pixel rim the blur moves), and
// that the table is background.
func TestSegmentScene(t *testing.T) {
	for _, s := range []int{1, 4} {
		img := scene(s)
		seg, err := Segment(img, SegmentOptions{})
		require.NoError(t, err)
		W, H := 200*s, 160*s
		require.Equal(t, W, seg.Labels.W)
		require.Equal(t, H, seg.Labels.H)
		masks, values := Split(seg.Labels)
		require.Len(t, values, 4, "scale %d: component areas %v", s, areas(masks))
		assert.Equal(t, []uint8{1, 2, 3, 4}, values)
		// Largest first: red 2400, green 2500-400 = 2100, blue π·400 ≈ 1257,
		// yellow 400 (in units of s² pixels).
		want := []struct {
			area   float64
			cx, cy float64
		}{{2400, 50, 40}, {2100, 105, 110}, {math.Pi * 400, 140, 45}, {400, 105, 110}}
		for i, m := range masks {
			a := float64(m.Area()) / float64(s*s)
			assert.InDelta(t, want[i].area, a, 0.06*want[i].area, "scale %d component %d area", s, i+1)
			x0, y0, x1, y1, _ := m.BBox()
			assert.InDelta(t, want[i].cx, float64(x0+x1)/2/float64(s), 1.5, "scale %d component %d x", s, i+1)
			assert.InDelta(t, want[i].cy, float64(y0+y1)/2/float64(s), 1.5, "scale %d component %d y", s, i+1)
		}
		// The background is the table: everything outside the parts, up to
		// their rims.
		bg := seg.Background.Area()
		table := float64(W*H) - float64(s*s)*(2400+2500+math.Pi*400)
		assert.InDelta(t, table, float64(bg), 0.03*table, "scale %d", s)
		for _, p := range []int{0, W - 1, (H - 1) * W, H*W - 1} {
			assert.True(t, seg.Background.Pix[p], "corner %d is background", p)
		}
		for p, v := range seg.Labels.Pix {
			if v != 0 && seg.Background.Pix[p] {
				t.Fatalf("pixel %d is both component %d and background", p, v)
			}
		}
	}
}

// TestSegmentSynthetic checks one image of each synthetic category for the
// parts the segmentation must find, and logs the time (the target is < 1 s
// per 320×256 image on one core; the test machine is shared, so it is not
// asserted).
func TestSegmentSynthetic(t *testing.T) {
	for cat, want := range map[string]int{"tray": 13, "box": 5, "connectors": 9} {
		im, err := synth.Render(cat, synth.DefaultOptions(), "train", synth.Normal, 0)
		require.NoError(t, err)
		t0 := time.Now()
		seg, err := Segment(im.RGB, SegmentOptions{})
		require.NoError(t, err)
		t.Logf("%s: %d components in %v", cat, seg.Labels.Max(), time.Since(t0))
		// At least the countable parts: tray 6 pins + 6 floors + frame; box
		// 2 oranges, nectarine, granola, card; connectors 6 levers, 2
		// bodies, cable. Background at the corners.
		assert.GreaterOrEqual(t, int(seg.Labels.Max()), want, cat)
		assert.True(t, seg.Background.Pix[0], cat)
		rf, err := RefineLabels(seg.Labels)
		require.NoError(t, err)
		// The components are disjoint and 4-connected already, so refining
		// keeps every one of them.
		assert.Equal(t, seg.Labels.Max(), rf.Max(), cat)
	}
}

func TestSegmentErrors(t *testing.T) {
	_, err := Segment(image.NewRGBA(image.Rect(0, 0, 4, 40)), SegmentOptions{})
	require.ErrorContains(t, err, "too small")
	_, err = Segment(nil, SegmentOptions{})
	require.ErrorContains(t, err, "nil image")
	img := scene(1)
	for _, o := range []SegmentOptions{
		{MaxSide: 8},
		{K: -1},
		{MergeDist: math.NaN()},
		{CornerFrac: 0.7},
		{MaxBBoxFrac: 2},
		{AbsorbDist: math.Inf(1)},
	} {
		_, err := Segment(img, o)
		require.Error(t, err, "%+v", o)
		assert.Contains(t, err.Error(), "pseudolabel: SegmentOptions")
	}
}

func areas(ms []Mask) []int {
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Area()
	}
	return out
}
