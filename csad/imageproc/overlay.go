package imageproc

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"math"

	"github.com/csad-go/csad/internal/atomicfile"
)

// Overlay draws a w×h anomaly map over img as a heat map: the map is
// resized to the image size (bilinear, pixel centres aligned as PyTorch's
// align_corners=false), its values are clipped to [lo, hi] and mapped to the
// "jet" colour scale (blue at lo, red at hi; NaN counts as lo), and the
// colour is blended half and half with the image. The result is opaque and
// has the size of img.
//
// lo and hi are passed in, not taken from the map, so that maps of several
// images drawn with the same limits can be compared by eye. It panics if
// len(amap) != w·h or a size is not positive.
func Overlay(img *RGB, amap []float32, w, h int, lo, hi float32) *image.RGBA {
	if w <= 0 || h <= 0 || len(amap) != w*h {
		panic(fmt.Sprintf("imageproc: overlay: %d values for a %d×%d map", len(amap), w, h))
	}
	out := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	span := float64(hi) - float64(lo)
	sx := float64(w) / float64(img.W)
	sy := float64(h) / float64(img.H)
	for y := 0; y < img.H; y++ {
		y0, y1, fy := linearTap((float64(y)+0.5)*sy-0.5, h)
		for x := 0; x < img.W; x++ {
			x0, x1, fx := linearTap((float64(x)+0.5)*sx-0.5, w)
			top := (1-fx)*float64(amap[y0*w+x0]) + fx*float64(amap[y0*w+x1])
			bot := (1-fx)*float64(amap[y1*w+x0]) + fx*float64(amap[y1*w+x1])
			v := (1-fy)*top + fy*bot
			t := 0.0
			if span > 0 && !math.IsNaN(v) {
				t = min(max((v-float64(lo))/span, 0), 1)
			} else if span <= 0 && v > float64(hi) {
				t = 1
			}
			cr, cg, cb := jet(t)
			p := img.Pix[3*(y*img.W+x):]
			o := out.Pix[out.PixOffset(x, y):]
			o[0] = blend(p[0], cr)
			o[1] = blend(p[1], cg)
			o[2] = blend(p[2], cb)
			o[3] = 0xff
		}
	}
	return out
}

// linearTap returns the two source indices around position s (clamped to
// the edges) and the weight of the second.
func linearTap(s float64, n int) (int, int, float64) {
	if s <= 0 {
		return 0, 0, 0
	}
	i := int(s)
	if i >= n-1 {
		return n - 1, n - 1, 0
	}
	return i, i + 1, s - float64(i)
}

// jet is matplotlib's "jet" colour map as three clipped ramps.
func jet(t float64) (float64, float64, float64) {
	ramp := func(c float64) float64 { return min(max(1.5-math.Abs(4*t-c), 0), 1) }
	return ramp(3), ramp(2), ramp(1)
}

func blend(p uint8, c float64) uint8 {
	return uint8(math.Round(0.5*float64(p) + 0.5*255*c))
}

// WritePNG encodes img as PNG to path atomically (internal/atomicfile): a reader never sees a
// half-written image and a failed write leaves any old file in place.
func WritePNG(path string, img image.Image) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("imageproc: write %s: %w", path, err)
	}
	return nil
}
