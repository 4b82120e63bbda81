package imageproc

import "fmt"

// precisionBits is the number of fraction bits of Pillow's 8-bit resampling
// coefficients: 32 bits less 8 for the pixel value and 2 for the sign and
// for overshoot of filters with negative lobes.
const precisionBits = 32 - 8 - 2

// bilinearSupport is the half-width of Pillow's triangle filter at scale 1.
const bilinearSupport = 1.0

// weights holds the coefficients of one resampling pass: output sample i
// reads n[i] input samples starting at first[i], weighted by k[i*ksize:].
type weights struct {
	first, n []int
	k        []int32
	ksize    int
}

// triangleWeights computes the coefficients of Pillow's BILINEAR filter for
// resizing inSize samples to outSize (Resample.c precompute_coeffs followed by
// normalize_coeffs_8bpc). Every floating-point step is written as Pillow's C
// writes it and in the same order, with explicit float64 conversions where
// Go would otherwise be free to fuse a multiply and an add: the window bounds
// come from truncating float64 values, so a difference in the last bit of
// center could move a bound and change output bytes.
func triangleWeights(inSize, outSize int) weights {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		// Upscaling: the filter keeps its natural width.
		filterscale = 1
	}
	support := bilinearSupport * filterscale
	ksize := int(ceil(support))*2 + 1
	w := weights{
		first: make([]int, outSize),
		n:     make([]int, outSize),
		k:     make([]int32, outSize*ksize),
		ksize: ksize,
	}
	ss := 1 / filterscale
	pre := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		// Pillow: center = in0 + (xx + 0.5) * scale, with in0 = 0 here.
		center := float64((float64(xx) + 0.5) * scale)
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			t := float64((float64(x+xmin) - center + 0.5) * ss)
			if t < 0 {
				t = -t
			}
			v := 0.0
			if t < 1 {
				v = 1 - t
			}
			pre[x] = v
			ww += v
		}
		k := w.k[xx*ksize : (xx+1)*ksize]
		for x := 0; x < xmax; x++ {
			v := pre[x]
			if ww != 0 {
				v /= ww
			}
			// Round half away from zero, as Pillow's (int)(±0.5 + v·2^22).
			// The product is exact (power-of-two scale), so the sum is
			// rounded once as in C.
			if v < 0 {
				k[x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				k[x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		w.first[xx], w.n[xx] = xmin, xmax
	}
	return w
}

// ceil avoids importing math for one call on a small positive value.
func ceil(v float64) float64 {
	i := float64(int(v))
	if i < v {
		return i + 1
	}
	return i
}

// clip8 turns an accumulated fixed-point sum into a pixel value. The sums
// start at one half (1<<(precisionBits-1)), so the shift rounds half up.
func clip8(v int32) uint8 {
	if v >= 1<<precisionBits<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> precisionBits)
}

// ResizeBilinear resizes src to w×h exactly as Pillow's
// Image.resize((w, h), Image.BILINEAR) does for an "RGB" image (Pillow 9 and
// 10, Resample.c, 8 bits per channel): an antialiased separable triangle
// filter whose support is max(in/out, 1) input pixels on each side of the
// sample centre (x+0.5)·in/out, applied horizontally first and then
// vertically, each pass rounding to uint8. A pass is skipped when its
// dimension does not change, and an unchanged size returns a copy, as in
// Pillow. The aspect ratio is not preserved.
//
// It panics if w or h is not positive, or src is empty: sizes come from
// configuration, not from data.
func ResizeBilinear(src *RGB, w, h int) *RGB {
	checkResize(src, w, h)
	cur := src
	if w != src.W {
		cur = resampleH(cur, w, triangleWeights(src.W, w))
	}
	if h != src.H {
		cur = resampleV(cur, h, triangleWeights(src.H, h))
	}
	if cur == src {
		return FromImage(src)
	}
	return cur
}

func checkResize(src *RGB, w, h int) {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("imageproc: resize to %d×%d: size must be positive", w, h))
	}
	if src == nil || src.W <= 0 || src.H <= 0 || len(src.Pix) != 3*src.W*src.H {
		panic("imageproc: resize of an empty or malformed image")
	}
}

// resampleH is Pillow's ImagingResampleHorizontal_8bpc for three channels.
// Pillow only filters the rows the vertical pass will read; the values of
// those rows are the same, so all rows are filtered here.
func resampleH(src *RGB, w int, c weights) *RGB {
	out := NewRGB(w, src.H)
	for y := 0; y < src.H; y++ {
		row := src.Pix[3*y*src.W : 3*(y+1)*src.W]
		orow := out.Pix[3*y*w : 3*(y+1)*w]
		for xx := 0; xx < w; xx++ {
			k := c.k[xx*c.ksize : xx*c.ksize+c.n[xx]]
			in := row[3*c.first[xx]:]
			s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
			for x, kx := range k {
				s0 += int32(in[3*x]) * kx
				s1 += int32(in[3*x+1]) * kx
				s2 += int32(in[3*x+2]) * kx
			}
			orow[3*xx], orow[3*xx+1], orow[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	return out
}

// resampleV is Pillow's ImagingResampleVertical_8bpc for three channels.
func resampleV(src *RGB, h int, c weights) *RGB {
	out := NewRGB(src.W, h)
	stride := 3 * src.W
	acc := make([]int32, stride)
	for yy := 0; yy < h; yy++ {
		for i := range acc {
			acc[i] = 1 << (precisionBits - 1)
		}
		k := c.k[yy*c.ksize : yy*c.ksize+c.n[yy]]
		// Row by row instead of Pillow's pixel by pixel: integer sums do not
		// depend on the order of the terms, and rows are contiguous.
		for y, ky := range k {
			row := src.Pix[(c.first[yy]+y)*stride : (c.first[yy]+y+1)*stride]
			for i, v := range row {
				acc[i] += int32(v) * ky
			}
		}
		orow := out.Pix[yy*stride : (yy+1)*stride]
		for i, s := range acc {
			orow[i] = clip8(s)
		}
	}
	return out
}

// ResizeNearest resizes src to w×h as Pillow's
// Image.resize((w, h), Image.NEAREST) does: output pixel x takes input
// column floor((x+0.5)·in/out), rows likewise. Pillow computes the positions
// by adding in/out repeatedly to (in/out)/2 in float64 (Geometry.c,
// ImagingScaleAffine), not by multiplying, and the accumulated rounding error
// can move a position that lies on an integer; the same sums are done here.
// Use it for label maps, whose values must not be mixed.
//
// It panics if w or h is not positive, or src is empty.
func ResizeNearest(src *RGB, w, h int) *RGB {
	checkResize(src, w, h)
	if w == src.W && h == src.H {
		return FromImage(src)
	}
	xs := nearestIndex(src.W, w)
	ys := nearestIndex(src.H, h)
	out := NewRGB(w, h)
	for y, sy := range ys {
		if sy < 0 {
			continue // outside the source: Pillow fills with zeros
		}
		row := src.Pix[3*sy*src.W:]
		orow := out.Pix[3*y*w:]
		for x, sx := range xs {
			if sx >= 0 {
				copy(orow[3*x:3*x+3], row[3*sx:3*sx+3])
			}
		}
	}
	return out
}

// ResizeNearestGray is [ResizeNearest] for a single-channel w0×h0 map (one
// byte per pixel, row-major), e.g. a component label map.
func ResizeNearestGray(src []uint8, w0, h0, w, h int) []uint8 {
	if w <= 0 || h <= 0 || w0 <= 0 || h0 <= 0 || len(src) != w0*h0 {
		panic(fmt.Sprintf("imageproc: nearest resize of a %d-byte %d×%d map to %d×%d", len(src), w0, h0, w, h))
	}
	out := make([]uint8, w*h)
	if w == w0 && h == h0 {
		copy(out, src)
		return out
	}
	xs := nearestIndex(w0, w)
	ys := nearestIndex(h0, h)
	for y, sy := range ys {
		if sy < 0 {
			continue
		}
		for x, sx := range xs {
			if sx >= 0 {
				out[y*w+x] = src[sy*w0+sx]
			}
		}
	}
	return out
}

// nearestIndex returns, for each of outSize outputs, the input index Pillow
// reads, or -1 when the position falls outside the input.
func nearestIndex(inSize, outSize int) []int {
	step := float64(inSize) / float64(outSize)
	pos := step * 0.5
	idx := make([]int, outSize)
	for i := range idx {
		// Pillow's COORD: negative positions map to -1, others truncate.
		j := -1
		if pos >= 0 {
			j = int(pos)
		}
		if j >= inSize {
			j = -1
		}
		idx[i] = j
		pos += step
	}
	return idx
}
