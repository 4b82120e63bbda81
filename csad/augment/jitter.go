package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Enhancer names one of the Pillow ImageEnhance classes behind
// torchvision's ColorJitter on PIL images.
type Enhancer int

// The three enhancers of the LGST colour jitter (spec §1.4).
const (
	// Brightness is ImageEnhance.Brightness: a blend with a black image.
	Brightness Enhancer = iota
	// Contrast is ImageEnhance.Contrast: a blend with a uniform grey
	// image, the rounded mean of the image's luma.
	Contrast
	// Saturation is ImageEnhance.Color: a blend with the image's luma
	// (torchvision's adjust_saturation).
	Saturation
)

func (e Enhancer) String() string {
	switch e {
	case Brightness:
		return "brightness"
	case Contrast:
		return "contrast"
	case Saturation:
		return "saturation"
	}
	return fmt.Sprintf("Enhancer(%d)", int(e))
}

// Luma returns Pillow's convert("L") of the w×h RGB image img, one byte per
// pixel: (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, the ITU-R 601-2 weights
// in 16-bit fixed point with rounding. (The textbook R·299/1000 +
// G·587/1000 + B·114/1000 truncates instead and differs from Pillow on
// about one pixel in two.)
func Luma(img []uint8, w, h int) ([]uint8, error) {
	if err := checkImage("luma input", img, w, h, 3); err != nil {
		return nil, err
	}
	return luma(img), nil
}

func luma(img []uint8) []uint8 {
	out := make([]uint8, len(img)/3)
	for i := range out {
		p := img[3*i : 3*i+3 : 3*i+3]
		out[i] = uint8((uint32(p[0])*19595 + uint32(p[1])*38470 + uint32(p[2])*7471 + 0x8000) >> 16)
	}
	return out
}

// Enhance returns ImageEnhance.<e>(img).enhance(factor) for a w×h RGB image
// (interleaved 8-bit, row-major), as Pillow 9 and 10 compute it: the
// degenerate image d (black, uniform mean grey, or luma) blended with the
// image by Image.blend, whose C code takes the factor as a float32 α and
// evaluates d + α·(x − d) in float32 for every byte; for α in [0, 1] the
// result is truncated, otherwise clipped to [0, 255] and then truncated.
// The bytes are identical to Pillow's (golden-tested). A factor of 1 returns
// a copy of img.
func Enhance(img []uint8, w, h int, e Enhancer, factor float64) ([]uint8, error) {
	if err := checkImage("enhance input", img, w, h, 3); err != nil {
		return nil, err
	}
	if math.IsNaN(factor) || math.IsInf(factor, 0) {
		return nil, fmt.Errorf("augment: %v factor %v is not finite", e, factor)
	}
	switch e {
	case Brightness:
		return blend(img, func(int) uint8 { return 0 }, factor), nil
	case Contrast:
		grey := meanGrey(luma(img))
		return blend(img, func(int) uint8 { return grey }, factor), nil
	case Saturation:
		l := luma(img)
		return blend(img, func(i int) uint8 { return l[i/3] }, factor), nil
	}
	return nil, fmt.Errorf("augment: unknown enhancer %v; use Brightness, Contrast or Saturation", e)
}

// meanGrey is int(ImageStat.Stat(L).mean[0] + 0.5): the histogram-weighted
// sum (exact in float64 for any image below 2⁴⁵ pixels) over the pixel
// count, rounded half up.
func meanGrey(l []uint8) uint8 {
	var sum uint64
	for _, v := range l {
		sum += uint64(v)
	}
	return uint8(float64(sum)/float64(len(l)) + 0.5)
}

// blend is Pillow's ImagingBlend(degenerate, img, alpha) with degenerate
// byte i given by deg(i).
func blend(img []uint8, deg func(i int) uint8, factor float64) []uint8 {
	alpha := float32(factor)
	out := make([]uint8, len(img))
	// Pillow copies an input for α exactly 0 or 1; the formula gives the
	// same bytes, so only the clipping branch needs telling apart.
	interpolate := alpha >= 0 && alpha <= 1
	for i, x := range img {
		d := deg(i)
		// The conversion of the product keeps the compiler from fusing the
		// multiply and the add, which C's float arithmetic does not do on
		// Pillow's baseline x86-64 build.
		t := float32(d) + float32(alpha*float32(int32(x)-int32(d)))
		switch {
		case interpolate:
			out[i] = uint8(t)
		case t <= 0:
			out[i] = 0
		case t >= 255:
			out[i] = 255
		default:
			out[i] = uint8(t)
		}
	}
	return out
}

// ColorJitterOptions are the jitter amounts of the three ColorJitters that
// the LGST augmentation chooses from (torchvision's
// RandomChoice([ColorJitter(brightness=B), ColorJitter(contrast=C),
// ColorJitter(saturation=S)])). An amount j gives factors U[max(0, 1−j),
// 1+j]; an amount of 0 takes that enhancer out of the choice.
type ColorJitterOptions struct {
	Brightness, Contrast, Saturation float64
}

// DefaultColorJitter is the official aug_image setting (spec §1.4): 0.2
// for each, so factors in [0.8, 1.2].
func DefaultColorJitter() ColorJitterOptions {
	return ColorJitterOptions{Brightness: 0.2, Contrast: 0.2, Saturation: 0.2}
}

// JitterParams is one draw of [SampleColorJitter].
type JitterParams struct {
	Enhancer Enhancer
	Factor   float64
}

// SampleColorJitter picks one enabled enhancer uniformly, then its factor
// uniformly in its range.
func SampleColorJitter(r *rand.Rand, o ColorJitterOptions) (JitterParams, error) {
	if r == nil {
		return JitterParams{}, errNilRand
	}
	amounts := [3]float64{o.Brightness, o.Contrast, o.Saturation}
	var enabled []Enhancer
	for i, j := range amounts {
		if math.IsNaN(j) || math.IsInf(j, 0) || j < 0 {
			return JitterParams{}, fmt.Errorf("augment: colour-jitter amounts %+v must be finite and ≥ 0", o)
		}
		if j > 0 {
			enabled = append(enabled, Enhancer(i))
		}
	}
	if len(enabled) == 0 {
		return JitterParams{}, fmt.Errorf("augment: colour-jitter amounts %+v are all 0; DefaultColorJitter has the official 0.2 each", o)
	}
	e := enabled[r.IntN(len(enabled))]
	j := amounts[e]
	return JitterParams{Enhancer: e, Factor: uniform(r, max(0, 1-j), 1+j)}, nil
}

// ColorJitter draws [SampleColorJitter] and applies it with [Enhance] to the
// w×h RGB image img, which the LGST data path then resizes and normalises
// (spec §1.4: the jitter acts on the full-resolution image). The draws come
// from r, not from torch's generator, so single outputs differ from the
// official code's; their distribution is the same.
func ColorJitter(r *rand.Rand, img []uint8, w, h int, o ColorJitterOptions) ([]uint8, JitterParams, error) {
	if err := checkImage("colour-jitter input", img, w, h, 3); err != nil {
		return nil, JitterParams{}, err
	}
	p, err := SampleColorJitter(r, o)
	if err != nil {
		return nil, JitterParams{}, err
	}
	out, err := Enhance(img, w, h, p.Enhancer, p.Factor)
	return out, p, err
}
