package augment

import (
	"fmt"
	"math"
)

// Affine is a 2×3 affine matrix in OpenCV's row-major layout: the point
// (x, y) maps to (A[0]·x + A[1]·y + A[2], A[3]·x + A[4]·y + A[5]).
// [WarpAffine] takes it as the forward map, source to destination, as
// cv2.warpAffine does without WARP_INVERSE_MAP.
type Affine [6]float64

// Identity is the affine map that leaves every point in place.
var Identity = Affine{1, 0, 0, 0, 1, 0}

// Translation returns the map (x, y) → (x+dx, y+dy).
func Translation(dx, dy float64) Affine { return Affine{1, 0, dx, 0, 1, dy} }

// piRuntime keeps π in a variable so that π/180 is rounded the way C++
// computes CV_PI/180 (a double divided at run time), not as Go's exact
// constant quotient.
var piRuntime = math.Pi

// RotationMatrix2D returns OpenCV's getRotationMatrix2D(center, angle,
// scale): a rotation by angleDeg degrees (positive is counter-clockwise on
// screen, y pointing down) about (cx, cy), scaled by scale. As in OpenCV the
// centre passes through float32 (cv::Point2f), so a non-representable centre
// is rounded first. The trigonometric functions are Go's, which may differ
// from glibc's in the last bit.
func RotationMatrix2D(cx, cy, angleDeg, scale float64) Affine {
	x := float64(float32(cx))
	y := float64(float32(cy))
	a := angleDeg * (piRuntime / 180)
	alpha := math.Cos(a) * scale
	beta := math.Sin(a) * scale
	// Explicit float64 conversions stop the compiler from fusing the
	// multiply-adds, which would change the last bit against OpenCV.
	return Affine{
		alpha, beta, float64((1-alpha)*x) - float64(beta*y),
		-beta, alpha, float64(beta*x) + float64((1-alpha)*y),
	}
}

// Mul returns the composition a·b as 3×3 matrices: b is applied first, then
// a. Translation(dx, dy).Mul(r) is numpy's (T @ R)[:2] for a 2×3 r.
func (a Affine) Mul(b Affine) Affine {
	return Affine{
		float64(a[0]*b[0]) + float64(a[1]*b[3]),
		float64(a[0]*b[1]) + float64(a[1]*b[4]),
		float64(float64(a[0]*b[2])+float64(a[1]*b[5])) + a[2],
		float64(a[3]*b[0]) + float64(a[4]*b[3]),
		float64(a[3]*b[1]) + float64(a[4]*b[4]),
		float64(float64(a[3]*b[2])+float64(a[4]*b[5])) + a[5],
	}
}

// Apply maps the point (x, y).
func (a Affine) Apply(x, y float64) (float64, float64) {
	return float64(a[0]*x) + float64(a[1]*y) + a[2], float64(a[3]*x) + float64(a[4]*y) + a[5]
}

// Interp selects the interpolation of [WarpAffine].
type Interp int

const (
	// Nearest is OpenCV's INTER_NEAREST: the source pixel at the rounded
	// position. Use it for label maps.
	Nearest Interp = iota
	// Bilinear is OpenCV's INTER_LINEAR in its 8-bit fixed-point form.
	Bilinear
)

func (i Interp) String() string {
	switch i {
	case Nearest:
		return "nearest"
	case Bilinear:
		return "bilinear"
	}
	return fmt.Sprintf("Interp(%d)", int(i))
}

// OpenCV's fixed-point constants (imgwarp.cpp): coordinates carry
// abBits fraction bits, bilinear weights come from a 32×32 table of
// interBits-bit sub-pixel positions and have coefBits fraction bits.
const (
	abBits    = 10
	abScale   = 1 << abBits
	interBits = 5
	interTab  = 1 << interBits
	coefBits  = 15
	coefScale = 1 << coefBits

	// maxSide is the largest width or height a warp accepts: OpenCV stores
	// source coordinates as int16.
	maxSide = math.MaxInt16
)

// cvRound is OpenCV's cvRound/saturate_cast<int>(double) on x86-64: round
// half to even; a value outside int32 gives INT_MIN, as cvtsd2si does.
func cvRound(v float64) int32 {
	r := math.RoundToEven(v)
	if !(r >= math.MinInt32 && r <= math.MaxInt32) {
		return math.MinInt32
	}
	return int32(r)
}

func sat16(v int32) int32 {
	return max(min(v, math.MaxInt16), math.MinInt16)
}

// inverse inverts m exactly as cv::warpAffine does before sampling (the
// same double operations in the same order), so that the fixed-point
// source coordinates match OpenCV's bit for bit.
func inverse(m Affine) (Affine, error) {
	for _, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Affine{}, fmt.Errorf("augment: affine matrix %v has a non-finite entry; build it from finite angles, scales and shifts", m)
		}
	}
	d := float64(m[0]*m[4]) - float64(m[1]*m[3])
	if d == 0 {
		// OpenCV would map every pixel to the source origin.
		return Affine{}, fmt.Errorf("augment: affine matrix %v is singular (determinant 0); use a non-zero scale", m)
	}
	d = 1 / d
	var inv Affine
	inv[0] = m[4] * d
	inv[1] = m[1] * -d
	inv[3] = m[3] * -d
	inv[4] = m[0] * d
	inv[2] = float64(-inv[0]*m[2]) - float64(inv[1]*m[5])
	inv[5] = float64(-inv[3]*m[2]) - float64(inv[4]*m[5])
	return inv, nil
}

func checkImage(name string, src []uint8, w, h, ch int) error {
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
		return fmt.Errorf("augment: %s size %d×%d is outside 1..%d on a side; pass the image's real width and height", name, w, h, maxSide)
	}
	if ch < 1 || ch > 4 {
		return fmt.Errorf("augment: %s has %d channels; pass 1 (label map) to 4", name, ch)
	}
	if len(src) != w*h*ch {
		return fmt.Errorf("augment: %s has %d bytes, want %d×%d×%d = %d; pass interleaved (HWC) 8-bit data of that size", name, len(src), w, h, ch, w*h*ch)
	}
	return nil
}

// WarpAffine warps the w×h image src (ch interleaved 8-bit channels, 1 to 4,
// row-major) by the forward map m into a new w×h image, with a constant
// border of 0, as cv2.warpAffine(src, m, (w, h), flags=interp,
// borderMode=BORDER_CONSTANT, borderValue=0) does. It reproduces OpenCV's
// integer arithmetic: the inverse map rounded to 1/1024 pixel, then
// [Nearest] rounds to the closest pixel and [Bilinear] rounds to 1/32 pixel
// and blends the four neighbours with 15-bit fixed-point weights, rounding
// the sum half up. Neighbours outside the image count as 0, so edges fade
// to black. The output is bitwise equal to OpenCV 4.6's (golden-tested).
func WarpAffine(src []uint8, w, h, ch int, m Affine, interp Interp) ([]uint8, error) {
	if err := checkImage("warp source", src, w, h, ch); err != nil {
		return nil, err
	}
	if interp != Nearest && interp != Bilinear {
		return nil, fmt.Errorf("augment: unknown interpolation %v; use augment.Nearest or augment.Bilinear", interp)
	}
	inv, err := inverse(m)
	if err != nil {
		return nil, err
	}
	dst := make([]uint8, len(src))
	warpRect(dst, src, w, h, ch, inv, interp, 0, 0, w, h)
	return dst, nil
}

// warpRect computes the destination pixels [x0,x1)×[y0,y1) of the warp
// with inverse map inv into dst, leaving the others untouched. A pixel's
// value depends only on its own coordinates (OpenCV's block tiling does not
// change results), so warping a sub-rectangle equals cropping a full warp.
func warpRect(dst, src []uint8, w, h, ch int, inv Affine, interp Interp, x0, y0, x1, y1 int) {
	if x0 >= x1 || y0 >= y1 {
		return
	}
	roundDelta := int32(abScale / interTab / 2)
	if interp == Nearest {
		roundDelta = abScale / 2
	}
	adelta := make([]int32, x1-x0)
	bdelta := make([]int32, x1-x0)
	for x := x0; x < x1; x++ {
		adelta[x-x0] = cvRound(float64(inv[0]*float64(x)) * abScale)
		bdelta[x-x0] = cvRound(float64(inv[3]*float64(x)) * abScale)
	}
	stride := w * ch
	for y := y0; y < y1; y++ {
		X0 := cvRound((float64(inv[1]*float64(y))+inv[2])*abScale) + roundDelta
		Y0 := cvRound((float64(inv[4]*float64(y))+inv[5])*abScale) + roundDelta
		row := dst[y*stride : (y+1)*stride]
		for x := x0; x < x1; x++ {
			X := X0 + adelta[x-x0]
			Y := Y0 + bdelta[x-x0]
			d := row[x*ch : x*ch+ch]
			if interp == Nearest {
				sx, sy := sat16(X>>abBits), sat16(Y>>abBits)
				if sx >= 0 && sy >= 0 && int(sx) < w && int(sy) < h {
					copy(d, src[int(sy)*stride+int(sx)*ch:])
				} else {
					clear(d)
				}
				continue
			}
			X >>= abBits - interBits
			Y >>= abBits - interBits
			sx, sy := int(sat16(X>>interBits)), int(sat16(Y>>interBits))
			fx, fy := X&(interTab-1), Y&(interTab-1)
			bilinearPixel(d, src, w, h, ch, sx, sy, fx, fy)
		}
	}
}

// bilinearPixel is OpenCV's remapBilinear for one 8-bit pixel with a
// constant 0 border. Its weight table stores round(wx·wy·2¹⁵); at a zero
// sub-pixel offset OpenCV's table holds 32767 and 1 instead of 32768 and 0,
// which yields exactly the source value, so that case is a copy here.
func bilinearPixel(d, src []uint8, w, h, ch, sx, sy int, fx, fy int32) {
	stride := w * ch
	if fx == 0 && fy == 0 {
		if sx >= 0 && sy >= 0 && sx < w && sy < h {
			copy(d, src[sy*stride+sx*ch:])
		} else {
			clear(d)
		}
		return
	}
	if sx >= w || sx+1 < 0 || sy >= h || sy+1 < 0 {
		clear(d)
		return
	}
	w00 := (interTab - fx) * (interTab - fy) * (coefScale / (interTab * interTab))
	w01 := fx * (interTab - fy) * (coefScale / (interTab * interTab))
	w10 := (interTab - fx) * fy * (coefScale / (interTab * interTab))
	w11 := fx * fy * (coefScale / (interTab * interTab))
	base := sy*stride + sx*ch
	if sx >= 0 && sy >= 0 && sx < w-1 && sy < h-1 {
		// Interior: all four taps exist.
		for k := range ch {
			i := base + k
			s := int32(src[i])*w00 + int32(src[i+ch])*w01 + int32(src[i+stride])*w10 + int32(src[i+stride+ch])*w11
			d[k] = uint8((s + coefScale/2) >> coefBits)
		}
		return
	}
	// Border: a tap outside the image reads 0.
	if sx < 0 || sy < 0 {
		if sx < 0 {
			w00, w10 = 0, 0
		}
		if sy < 0 {
			w00, w01 = 0, 0
		}
	}
	if sx+1 >= w {
		w01, w11 = 0, 0
	}
	if sy+1 >= h {
		w10, w11 = 0, 0
	}
	for k := range ch {
		var s int32
		if w00 != 0 {
			s += int32(src[base+k]) * w00
		}
		if w01 != 0 {
			s += int32(src[base+ch+k]) * w01
		}
		if w10 != 0 {
			s += int32(src[base+stride+k]) * w10
		}
		if w11 != 0 {
			s += int32(src[base+stride+ch+k]) * w11
		}
		d[k] = uint8(min((s+coefScale/2)>>coefBits, 255))
	}
}
