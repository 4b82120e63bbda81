package pseudolabel

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/torch"
)

// The CNN component feature of spec §5.4 (cnn_image), used when Options.Encoder is set.
const (
	// FeatCNN names the CNN feature in Options.Features: with Options.Encoder it is the only
	// feature clustered, as in every official config.
	FeatCNN = "cnn"
	// AlignSize is the side of the aligned component crop (the official target_size).
	AlignSize = 65
	// Rotations is the number of rotated copies averaged (angles linspace(0, 360, 60)).
	Rotations = 60
	// CNNProjectionDim is the width of the seeded random projection applied before
	// MeanShift (the official proj_dim).
	CNNProjectionDim = 512
	// CNNProjectionStd is the standard deviation of the projection's weights (the official
	// normal_(0, 0.01)); its bias is zero.
	CNNProjectionStd = 0.01
	// DefaultCNNBandwidth is the MeanShift bandwidth on the projected CNN feature (the
	// official max_hyper).
	DefaultCNNBandwidth = 3.5
)

// Aligned is a component prepared for the CNN feature.
type Aligned struct {
	// Image is the AlignSize×AlignSize masked crop: the component's pixels (those of the
	// whole mask inside the box) on black.
	Image *imageproc.RGB
	// Mask is the filled main part, resized and padded like Image (the official aligned
	// mask; only its placement is used here).
	Mask Mask
	// Scale is AlignSize/(D+1), D the diagonal of the main part's minimum-area rectangle.
	Scale float64
}

// Align is the official alignment of a component (spec §5.4 steps 1–4): the main part is
// the 8-connected piece with the largest filled area (the official largest external
// contour); its bounding box is cut from the masked image, scaled so that the diagonal of
// the part's minimum-area rectangle spans about AlignSize pixels (sides truncated, clipped
// to 1..AlignSize), resized bilinearly as OpenCV's INTER_LINEAR does, and padded with black
// to AlignSize×AlignSize, centred (the odd extra row on top, column on the left).
//
// Two details are re-stated rather than reproduced: the part is chosen by filled pixel
// count, not by cv2.contourArea of its outline (they rank parts alike unless two are within
// about half a perimeter of each other), and the resize uses OpenCV's 11-bit fixed-point
// weights with round-to-nearest, which may differ from OpenCV's vectorised rounding by one
// grey level. The feature averages 60 rotations through a CNN, so neither moves classes.
func Align(img *imageproc.RGB, m Mask) (Aligned, error) {
	if err := m.check(); err != nil {
		return Aligned{}, err
	}
	if img == nil || img.W != m.W || img.H != m.H || len(img.Pix) != 3*img.W*img.H {
		return Aligned{}, fmt.Errorf("pseudolabel: align: the mask is %d×%d but the image is not; masks must come from the image they describe", m.W, m.H)
	}
	part, ok := largestPart(m)
	if !ok {
		return Aligned{}, fmt.Errorf("pseudolabel: align: empty component mask")
	}
	x0, y0, x1, y1, _ := part.BBox()
	bw, bh := x1-x0, y1-y0 // BBox is half-open
	d := minAreaRectDiagonal(part, x0, y0, x1, y1)
	scale := AlignSize / (d + 1)
	tw := min(max(int(float64(bw)*scale), 1), AlignSize)
	th := min(max(int(float64(bh)*scale), 1), AlignSize)

	cropImg := imageproc.NewRGB(bw, bh)
	cropMask := make([]uint8, bw*bh)
	for y := range bh {
		for x := range bw {
			p := (y0+y)*m.W + x0 + x
			if m.Pix[p] {
				copy(cropImg.Pix[3*(y*bw+x):3*(y*bw+x)+3], img.Pix[3*p:3*p+3])
			}
			if part.Pix[p] {
				cropMask[y*bw+x] = 255
			}
		}
	}
	rImg := resizeLinearCV(cropImg.Pix, bw, bh, 3, tw, th)
	rMask := resizeLinearCV(cropMask, bw, bh, 1, tw, th)

	// Official padding: (65−w')//2 on both sides, then one more row on top / column on the
	// left when the size is still one short.
	padW, padH := (AlignSize-tw)/2, (AlignSize-th)/2
	if tw+2*padW != AlignSize {
		padW++
	}
	if th+2*padH != AlignSize {
		padH++
	}
	out := Aligned{Image: imageproc.NewRGB(AlignSize, AlignSize), Mask: NewMask(AlignSize, AlignSize), Scale: scale}
	for y := range th {
		for x := range tw {
			q := (y+padH)*AlignSize + x + padW
			copy(out.Image.Pix[3*q:3*q+3], rImg[3*(y*tw+x):3*(y*tw+x)+3])
			out.Mask.Pix[q] = rMask[y*tw+x] > 128
		}
	}
	return out, nil
}

// largestPart returns the 8-connected piece of m with the most pixels once its holes are
// filled (the filled polygon of the official largest external contour), holes filled.
func largestPart(m Mask) (Mask, bool) {
	w, h := m.W, m.H
	lab := make([]int32, w*h)
	var best Mask
	bestArea := 0
	next := int32(0)
	var stack []int
	for p0, on := range m.Pix {
		if !on || lab[p0] != 0 {
			continue
		}
		next++
		piece := NewMask(w, h)
		lab[p0] = next
		stack = append(stack[:0], p0)
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			piece.Pix[p] = true
			x, y := p%w, p/w
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					if q := ny*w + nx; m.Pix[q] && lab[q] == 0 {
						lab[q] = next
						stack = append(stack, q)
					}
				}
			}
		}
		filled := FillHoles(piece)
		if a := filled.Area(); a > bestArea {
			best, bestArea = filled, a
		}
	}
	return best, bestArea > 0
}

// minAreaRectDiagonal is the diagonal of the minimum-area rectangle around the pixel
// centres of part (cv2.minAreaRect on its contour, whose hull is the same), by rotating
// calipers over the convex hull; [x0,x1)×[y0,y1) is part's bounding box.
func minAreaRectDiagonal(part Mask, x0, y0, x1, y1 int) float64 {
	// Each row's extreme pixels carry the hull.
	var pts [][2]float64
	for y := y0; y < y1; y++ {
		first, last := -1, -1
		for x := x0; x < x1; x++ {
			if part.Pix[y*part.W+x] {
				if first < 0 {
					first = x
				}
				last = x
			}
		}
		if first >= 0 {
			pts = append(pts, [2]float64{float64(first), float64(y)})
			if last != first {
				pts = append(pts, [2]float64{float64(last), float64(y)})
			}
		}
	}
	hull := convexHull(pts)
	if len(hull) == 1 {
		return 0
	}
	if len(hull) == 2 {
		return math.Hypot(hull[1][0]-hull[0][0], hull[1][1]-hull[0][1])
	}
	bestArea, bestDiag := math.Inf(1), 0.0
	for i := range hull {
		a, b := hull[i], hull[(i+1)%len(hull)]
		ex, ey := b[0]-a[0], b[1]-a[1]
		l := math.Hypot(ex, ey)
		ux, uy := ex/l, ey/l
		lo, hi, top := math.Inf(1), math.Inf(-1), 0.0
		for _, p := range hull {
			px, py := p[0]-a[0], p[1]-a[1]
			s := px*ux + py*uy
			lo, hi = min(lo, s), max(hi, s)
			top = max(top, math.Abs(-px*uy+py*ux))
		}
		if area := (hi - lo) * top; area < bestArea {
			bestArea, bestDiag = area, math.Hypot(hi-lo, top)
		}
	}
	return bestDiag
}

// convexHull is Andrew's monotone chain, counter-clockwise, collinear points dropped.
func convexHull(pts [][2]float64) [][2]float64 {
	slices.SortFunc(pts, func(a, b [2]float64) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	pts = slices.CompactFunc(pts, func(a, b [2]float64) bool { return a == b })
	if len(pts) < 3 {
		return pts
	}
	cross := func(o, a, b [2]float64) float64 {
		return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
	}
	hull := make([][2]float64, 0, 2*len(pts))
	for _, p := range pts {
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], p) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	lower := len(hull) + 1
	for i := len(pts) - 2; i >= 0; i-- {
		p := pts[i]
		for len(hull) >= lower && cross(hull[len(hull)-2], hull[len(hull)-1], p) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	return hull[:len(hull)-1]
}

// resizeLinearCV is cv2.resize(src, (tw, th)) with INTER_LINEAR on interleaved uint8 data
// with cn channels: half-pixel centres, edge taps clamped, weights quantised to 11 bits.
func resizeLinearCV(src []uint8, w, h, cn, tw, th int) []uint8 {
	const bits = 11
	taps := func(n, tn int) ([]int, [][2]int32) {
		idx := make([]int, tn)
		wt := make([][2]int32, tn)
		sc := float64(n) / float64(tn)
		for d := range tn {
			f := float32((float64(d)+0.5)*sc - 0.5)
			s := int(math.Floor(float64(f)))
			f -= float32(s)
			if s < 0 {
				s, f = 0, 0
			}
			if s >= n-1 {
				s, f = n-1, 0
			}
			idx[d] = s
			a1 := int32(math.RoundToEven(float64(f * (1 << bits))))
			wt[d] = [2]int32{1<<bits - a1, a1}
		}
		return idx, wt
	}
	xi, xw := taps(w, tw)
	yi, yw := taps(h, th)
	// Horizontal pass into int32 rows, then vertical with rounding at 22 bits.
	rows := make([]int32, h*tw*cn)
	for y := range h {
		for x := range tw {
			s0 := xi[x]
			s1 := min(s0+1, w-1)
			for c := range cn {
				rows[(y*tw+x)*cn+c] = int32(src[(y*w+s0)*cn+c])*xw[x][0] + int32(src[(y*w+s1)*cn+c])*xw[x][1]
			}
		}
	}
	out := make([]uint8, th*tw*cn)
	for y := range th {
		r0 := yi[y]
		r1 := min(r0+1, h-1)
		for i := range tw * cn {
			v := (int64(rows[r0*tw*cn+i])*int64(yw[y][0]) + int64(rows[r1*tw*cn+i])*int64(yw[y][1]) + 1<<(2*bits-1)) >> (2 * bits)
			out[y*tw*cn+i] = uint8(min(max(v, 0), 255))
		}
	}
	return out
}

// Rotate is Pillow's Image.rotate(angle, Image.BILINEAR) of an RGB image: counter-clockwise
// by angle degrees about the image centre (W/2, H/2), same canvas, black outside. The
// arithmetic is Pillow's: its shortcuts for 0, 180 and (square images) 90 and 270 degrees,
// the inverse affine matrix with entries rounded to 15 decimals, samples at pixel centres,
// edge-clamped bilinear taps in float64 and truncation to uint8.
func Rotate(img *imageproc.RGB, angle float64) *imageproc.RGB {
	w, h := img.W, img.H
	out := imageproc.NewRGB(w, h)
	angle = pyMod(angle, 360)
	px := func(dst, sx, sy int) { copy(out.Pix[3*dst:3*dst+3], img.Pix[3*(sy*w+sx):3*(sy*w+sx)+3]) }
	switch {
	case angle == 0:
		copy(out.Pix, img.Pix)
		return out
	case angle == 180:
		for y := range h {
			for x := range w {
				px(y*w+x, w-1-x, h-1-y)
			}
		}
		return out
	case (angle == 90 || angle == 270) && w == h:
		for y := range h {
			for x := range w {
				if angle == 90 {
					px(y*w+x, w-1-y, x)
				} else {
					px(y*w+x, y, h-1-x)
				}
			}
		}
		return out
	}
	rad := -(angle * (math.Pi / 180))
	sin, cos := sinCos(rad)
	a := [6]float64{round15(cos), round15(sin), 0, round15(-sin), round15(cos), 0}
	cx, cy := float64(w)/2, float64(h)/2
	// Explicit conversions keep every product rounded on its own (no fused multiply-add),
	// as in Pillow's C.
	a[2] = float64(float64(a[0]*-cx)+float64(a[1]*-cy)) + 0 + cx
	a[5] = float64(float64(a[3]*-cx)+float64(a[4]*-cy)) + 0 + cy
	fw, fh := float64(w), float64(h)
	for y := range h {
		yin := float64(y) + 0.5
		for x := range w {
			xin := float64(x) + 0.5
			sx := float64(float64(a[0]*xin)+float64(a[1]*yin)) + a[2]
			sy := float64(float64(a[3]*xin)+float64(a[4]*yin)) + a[5]
			if sx < 0 || sx >= fw || sy < 0 || sy >= fh {
				continue
			}
			sx -= 0.5
			sy -= 0.5
			ix, iy := int(math.Floor(sx)), int(math.Floor(sy))
			dx, dy := sx-float64(ix), sy-float64(iy)
			x0, x1 := clampInt(ix, w), clampInt(ix+1, w)
			r0 := clampInt(iy, h)
			for c := range 3 {
				at := func(row, col int) float64 { return float64(img.Pix[3*(row*w+col)+c]) }
				v1 := at(r0, x0) + float64((at(r0, x1)-at(r0, x0))*dx)
				v2 := v1
				if iy+1 >= 0 && iy+1 < h {
					v2 = at(iy+1, x0) + float64((at(iy+1, x1)-at(iy+1, x0))*dx)
				}
				v1 = v1 + float64((v2-v1)*dy)
				out.Pix[3*(y*w+x)+c] = uint8(v1)
			}
		}
	}
	return out
}

// sinCos is sin and cos of x correctly rounded, as glibc's (which Pillow's Python calls):
// Go's math.Sin and math.Cos may be an ulp off, and round15 then moves by 1e-15 for about
// one angle in ten, which turns a few bilinear samples into the neighbouring grey level.
// Rotate passes |x| < 2π, where the Taylor series in 256-bit arithmetic is exact far beyond
// float64.
func sinCos(x float64) (sin, cos float64) {
	const prec = 256
	bx := new(big.Float).SetPrec(prec).SetFloat64(x)
	x2 := new(big.Float).SetPrec(prec).Mul(bx, bx)
	s := new(big.Float).SetPrec(prec).Set(bx) // running sum of sin
	c := new(big.Float).SetPrec(prec).SetInt64(1)
	ts := new(big.Float).SetPrec(prec).Set(bx) // x^(2k+1)/(2k+1)!, signed
	tc := new(big.Float).SetPrec(prec).SetInt64(1)
	den := new(big.Float).SetPrec(prec)
	for k := 1; k < 200; k++ {
		// tc_k = −tc_{k−1}·x²/((2k−1)(2k)); ts_k = −ts_{k−1}·x²/((2k)(2k+1)).
		tc.Mul(tc, x2)
		tc.Quo(tc, den.SetInt64(int64((2*k-1)*(2*k))))
		tc.Neg(tc)
		c.Add(c, tc)
		ts.Mul(ts, x2)
		ts.Quo(ts, den.SetInt64(int64((2*k)*(2*k+1))))
		ts.Neg(ts)
		s.Add(s, ts)
		// Done when both terms are below 2^-(prec+8) of 1 (cos) and of |x| (sin).
		if (tc.Sign() == 0 || tc.MantExp(nil) < -prec-8) && (ts.Sign() == 0 || ts.MantExp(nil) < bx.MantExp(nil)-prec-8) {
			break
		}
	}
	sin, _ = s.Float64()
	cos, _ = c.Float64()
	return sin, cos
}

func clampInt(v, n int) int { return min(max(v, 0), n-1) }

// pyMod is Python's float %: the result has the sign of m.
func pyMod(v, m float64) float64 {
	r := math.Mod(v, m)
	if r != 0 && (r < 0) != (m < 0) {
		r += m
	}
	if r == 0 {
		return 0
	}
	return r
}

// round15 is Python's round(v, 15): correctly rounded to 15 decimals.
func round15(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 15, 64), 64)
	if err != nil {
		return v // unreachable: FormatFloat's output always parses
	}
	return r
}

// RotationAngles are the official rotation angles, numpy.linspace(0, 360, Rotations).
func RotationAngles() []float64 {
	out := make([]float64, Rotations)
	step := 360.0 / float64(Rotations-1)
	for i := range out {
		out[i] = float64(i) * step
	}
	out[Rotations-1] = 360
	return out
}

// RotationBatch is the CNN input of one aligned crop: its Rotations rotated copies (Rotate
// by RotationAngles), each ToTensor + ImageNet Normalize, as one (60, 3, H, W) float32 NCHW
// slice.
func RotationBatch(crop *imageproc.RGB) []float32 {
	n := 3 * crop.W * crop.H
	out := make([]float32, 0, Rotations*n)
	for _, a := range RotationAngles() {
		out = append(out, imageproc.Normalize(Rotate(crop, a))...)
	}
	return out
}

// CNNFeature is the 2048-d cnn_image feature of one aligned crop: fe's layer4 output on
// RotationBatch(crop), averaged over space and then over the rotations (in float32, as the
// official torch.mean calls).
func CNNFeature(fe *csad.FeatureExtractor, crop *imageproc.RGB) ([]float64, error) {
	if fe == nil {
		return nil, fmt.Errorf("pseudolabel: CNNFeature needs a feature extractor (csad.LoadFeatureExtractor)")
	}
	if crop == nil || crop.W < 32 || crop.H < 32 || len(crop.Pix) != 3*crop.W*crop.H {
		return nil, fmt.Errorf("pseudolabel: CNNFeature needs an RGB crop of at least 32×32 (Align makes %d×%d)", AlignSize, AlignSize)
	}
	s := torch.NewInferenceScope()
	defer s.Close()
	x := torch.FromSlice(s, RotationBatch(crop), Rotations, 3, int64(crop.H), int64(crop.W))
	y := fe.Forward(x)
	if err := y.Err(); err != nil {
		return nil, fmt.Errorf("pseudolabel: CNN feature: %w", err)
	}
	if sh := y.Shape(); len(sh) != 4 || sh[0] != Rotations || sh[1] != csad.FeatureChannels {
		return nil, fmt.Errorf("pseudolabel: CNN feature: layer4 output %v, want (%d, %d, h, w)", sh, Rotations, csad.FeatureChannels)
	}
	v, err := y.MeanDims([]int64{2, 3}, false).MeanDims([]int64{0}, false).Float32s()
	if err != nil {
		return nil, fmt.Errorf("pseudolabel: CNN feature: %w", err)
	}
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out, nil
}

// Project is the official dimension reduction before MeanShift: rows times a random
// (dim × in) matrix with entries N(0, CNNProjectionStd²) and zero bias, the matrix drawn
// row by row from a PCG source seeded with seed, so a run is reproducible from its seed.
func Project(rows [][]float64, dim int, seed uint64) ([][]float64, error) {
	if len(rows) == 0 || dim <= 0 || dim > 1<<16 {
		return nil, fmt.Errorf("pseudolabel: project: %d rows to %d columns; need at least one row and 1..65536 columns", len(rows), dim)
	}
	in := len(rows[0])
	if in == 0 || in > 1<<20 {
		return nil, fmt.Errorf("pseudolabel: project: rows of %d columns; need 1..%d", in, 1<<20)
	}
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	wt := make([]float64, dim*in)
	for i := range wt {
		wt[i] = r.NormFloat64() * CNNProjectionStd
	}
	out := make([][]float64, len(rows))
	for i, row := range rows {
		if len(row) != in {
			return nil, fmt.Errorf("pseudolabel: project: row %d has %d columns, row 0 has %d", i, len(row), in)
		}
		o := make([]float64, dim)
		for j := range o {
			var s float64
			for k, v := range row {
				s += wt[j*in+k] * v
			}
			o[j] = s
		}
		out[i] = o
	}
	return out, nil
}
