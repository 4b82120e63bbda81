package augment

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

var errNilRand = errors.New("augment: nil *rand.Rand; pass rand.New(rand.NewPCG(seed, stream))")

// ShiftScaleRotateOptions are the limits of [ShiftScaleRotate], named as
// albumentations' ShiftScaleRotate arguments.
type ShiftScaleRotateOptions struct {
	// ShiftLimit bounds the shift in each axis as a fraction of the image
	// width or height: U(−ShiftLimit, ShiftLimit).
	ShiftLimit float64
	// ScaleLimit bounds the scale of each axis: 1 + U(−ScaleLimit, ScaleLimit).
	ScaleLimit float64
	// RotateLimit bounds the rotation in degrees: U(−RotateLimit, RotateLimit).
	RotateLimit float64
	// P is the probability that the transform is applied at all.
	P float64
}

// DefaultShiftScaleRotate returns the segmentor's setting (spec §1.5):
// shift 0.01, scale 0.01, rotation 2°, p 0.5.
func DefaultShiftScaleRotate() ShiftScaleRotateOptions {
	return ShiftScaleRotateOptions{ShiftLimit: 0.01, ScaleLimit: 0.01, RotateLimit: 2, P: 0.5}
}

func (o ShiftScaleRotateOptions) validate() error {
	for _, v := range []float64{o.ShiftLimit, o.ScaleLimit, o.RotateLimit, o.P} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("augment: shift-scale-rotate options %+v are not finite", o)
		}
	}
	if o.ShiftLimit < 0 || o.ShiftLimit > 1 || o.ScaleLimit < 0 || o.ScaleLimit >= 1 || o.RotateLimit < 0 || o.P < 0 || o.P > 1 {
		return fmt.Errorf("augment: shift-scale-rotate options %+v out of range; want ShiftLimit in [0,1], ScaleLimit in [0,1), RotateLimit ≥ 0, P in [0,1]", o)
	}
	return nil
}

// SSRParams is one draw of [ShiftScaleRotate].
type SSRParams struct {
	// DX, DY are the shift as fractions of the width and height.
	DX, DY float64
	// ScaleX, ScaleY scale the two axes; albumentations 1.4.15 builds
	// ShiftScaleRotate on Affine with keep_ratio=False, so they are drawn
	// independently.
	ScaleX, ScaleY float64
	// Angle is the rotation in degrees, counter-clockwise on screen.
	Angle float64
}

// Matrix returns the forward map of p on a w×h image: scale and rotate
// about the pixel-grid centre (w/2 − 0.5, h/2 − 0.5), then shift by
// (DX·w, DY·h), as albumentations' create_affine_transformation_matrix
// does with zero shear.
func (p SSRParams) Matrix(w, h int) Affine {
	cx, cy := float64(w)/2-0.5, float64(h)/2-0.5
	t := p.Angle * (piRuntime / 180)
	c, s := math.Cos(t), math.Sin(t)
	a := Affine{p.ScaleX * c, p.ScaleY * s, 0, -p.ScaleX * s, p.ScaleY * c, 0}
	a[2] = cx - float64(a[0]*cx) - float64(a[1]*cy) + p.DX*float64(w)
	a[5] = cy - float64(a[3]*cx) - float64(a[4]*cy) + p.DY*float64(h)
	return a
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// SampleShiftScaleRotate draws whether the transform applies (probability
// o.P) and, if so, its parameters, in albumentations' order: shift x, shift
// y, scale x, scale y, angle.
func SampleShiftScaleRotate(r *rand.Rand, o ShiftScaleRotateOptions) (SSRParams, bool, error) {
	if r == nil {
		return SSRParams{}, false, errNilRand
	}
	if err := o.validate(); err != nil {
		return SSRParams{}, false, err
	}
	if !(r.Float64() < o.P) {
		return SSRParams{ScaleX: 1, ScaleY: 1}, false, nil
	}
	var p SSRParams
	p.DX = uniform(r, -o.ShiftLimit, o.ShiftLimit)
	p.DY = uniform(r, -o.ShiftLimit, o.ShiftLimit)
	p.ScaleX = uniform(r, 1-o.ScaleLimit, 1+o.ScaleLimit)
	p.ScaleY = uniform(r, 1-o.ScaleLimit, 1+o.ScaleLimit)
	p.Angle = uniform(r, -o.RotateLimit, o.RotateLimit)
	return p, true, nil
}

// ShiftScaleRotate is albumentations' ShiftScaleRotate with a constant 0
// border for image and mask, applied jointly to a w×h RGB image (bilinear)
// and its label map (nearest, so no label is invented). With probability
// 1 − o.P it returns unchanged copies. The outputs are new slices.
func ShiftScaleRotate(r *rand.Rand, img, labels []uint8, w, h int, o ShiftScaleRotateOptions) (outImg, outLabels []uint8, err error) {
	if err := checkImage("shift-scale-rotate image", img, w, h, 3); err != nil {
		return nil, nil, err
	}
	if err := checkImage("shift-scale-rotate label map", labels, w, h, 1); err != nil {
		return nil, nil, err
	}
	p, ok, err := SampleShiftScaleRotate(r, o)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return clone(img), clone(labels), nil
	}
	m := p.Matrix(w, h)
	if outImg, err = WarpAffine(img, w, h, 3, m, Bilinear); err != nil {
		return nil, nil, err
	}
	if outLabels, err = WarpAffine(labels, w, h, 1, m, Nearest); err != nil {
		return nil, nil, err
	}
	return outImg, outLabels, nil
}

func clone(b []uint8) []uint8 { return append([]uint8(nil), b...) }

// BrightnessContrastOptions are the limits of [RandomBrightnessContrast].
type BrightnessContrastOptions struct {
	// BrightnessLimit bounds β: U(−BrightnessLimit, BrightnessLimit).
	BrightnessLimit float64
	// ContrastLimit bounds α − 1: U(−ContrastLimit, ContrastLimit).
	ContrastLimit float64
	// P is the probability that the transform is applied at all.
	P float64
}

// DefaultBrightnessContrast returns the segmentor's setting (spec §1.5):
// brightness 0.05, contrast 0.05, p 0.5.
func DefaultBrightnessContrast() BrightnessContrastOptions {
	return BrightnessContrastOptions{BrightnessLimit: 0.05, ContrastLimit: 0.05, P: 0.5}
}

// BrightnessContrast returns α·x + β·255 for every byte of img, clipped to
// [0, 255] and truncated, as albumentations 1.4.15 (albucore's
// multiply_add_lut) does for uint8 with brightness_by_max: a 256-entry
// lookup table computed in float32, then np.clip and astype(uint8), which
// truncates rather than rounds. The result is a new slice.
func BrightnessContrast(img []uint8, alpha, beta float64) []uint8 {
	lut := brightnessLUT(alpha, beta)
	out := make([]uint8, len(img))
	for i, v := range img {
		out[i] = lut[v]
	}
	return out
}

func brightnessLUT(alpha, beta float64) [256]uint8 {
	var lut [256]uint8
	a := float32(alpha)
	b := float32(beta * 255)
	for i := range lut {
		v := float32(float32(i)*a) + b
		switch {
		case v >= 255:
			lut[i] = 255
		case v > 0:
			lut[i] = uint8(v)
		}
	}
	return lut
}

// RandomBrightnessContrast is albumentations' RandomBrightnessContrast
// (brightness_by_max=True): with probability o.P it draws α = 1 +
// U(−ContrastLimit, ContrastLimit), then β = U(−BrightnessLimit,
// BrightnessLimit), and applies [BrightnessContrast]; otherwise it returns a
// copy. It works on any 8-bit data, typically a w×h×3 image.
func RandomBrightnessContrast(r *rand.Rand, img []uint8, o BrightnessContrastOptions) ([]uint8, error) {
	if r == nil {
		return nil, errNilRand
	}
	for _, v := range []float64{o.BrightnessLimit, o.ContrastLimit, o.P} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("augment: brightness-contrast options %+v are not finite", o)
		}
	}
	if o.BrightnessLimit < 0 || o.ContrastLimit < 0 || o.P < 0 || o.P > 1 {
		return nil, fmt.Errorf("augment: brightness-contrast options %+v out of range; want non-negative limits and P in [0,1]", o)
	}
	if !(r.Float64() < o.P) {
		return clone(img), nil
	}
	alpha := 1 + uniform(r, -o.ContrastLimit, o.ContrastLimit)
	beta := uniform(r, -o.BrightnessLimit, o.BrightnessLimit)
	return BrightnessContrast(img, alpha, beta), nil
}
