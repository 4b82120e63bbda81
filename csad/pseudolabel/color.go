package pseudolabel

import "math"

// D65 reference white of the sRGB → XYZ conversion (the values OpenCV uses).
const whiteX, whiteZ = 0.950456, 1.088754

// srgbLinear maps an 8-bit sRGB value to linear light.
var srgbLinear = func() (t [256]float64) {
	for i := range t {
		v := float64(i) / 255
		if v <= 0.04045 {
			t[i] = v / 12.92
		} else {
			t[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return t
}()

func labF(t float64) float64 {
	const e = 216.0 / 24389 // (6/29)^3
	if t > e {
		return math.Cbrt(t)
	}
	return (24389.0/27*t + 16) / 116
}

// Lab converts an 8-bit sRGB colour to CIE L*a*b* (D65, 2° observer):
// L in [0,100], a and b roughly in [-128,127].
func Lab(r, g, b uint8) (L, A, B float64) {
	R, G, Bl := srgbLinear[r], srgbLinear[g], srgbLinear[b]
	x := (0.412453*R + 0.357580*G + 0.180423*Bl) / whiteX
	y := 0.212671*R + 0.715160*G + 0.072169*Bl
	z := (0.019334*R + 0.119193*G + 0.950227*Bl) / whiteZ
	fx, fy, fz := labF(x), labF(y), labF(z)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

// Lab8 is Lab in OpenCV's 8-bit encoding (cv2.COLOR_RGB2LAB on uint8
// images): L·255/100, a+128, b+128, rounded and clipped to 0..255. OpenCV
// computes it with fixed-point tables, so its bytes can differ from these by
// one level.
func Lab8(r, g, b uint8) (L, A, B uint8) {
	l, a, bb := Lab(r, g, b)
	q := func(v float64) uint8 { return uint8(math.Min(255, math.Max(0, math.Round(v)))) }
	return q(l * 255 / 100), q(a + 128), q(bb + 128)
}

func labFInv(t float64) float64 {
	if t > 6.0/29 {
		return t * t * t
	}
	return 3 * (6.0 / 29) * (6.0 / 29) * (t - 4.0/29)
}

// chromaticity returns the CIE xy chromaticity and the luminance Y of a
// Lab colour.
func chromaticity(lab [3]float64) (x, y, Y float64) {
	fy := (lab[0] + 16) / 116
	X := whiteX * labFInv(fy+lab[1]/500)
	Y = labFInv(fy)
	Z := whiteZ * labFInv(fy-lab[2]/200)
	s := X + Y + Z
	if s <= 1e-9 {
		return 0.3127, 0.3290, 0 // black: the white point's chromaticity
	}
	return X / s, Y / s, Y
}

// Weights of shadeDist: a chromaticity step of 0.01 counts 1, a luminance
// ratio of e counts 2.
const chromaScale, lumScale = 100.0, 2.0

// shadeDist compares two mean colours in a way that shading and cast
// shadows (a grey light level multiplying the colour) change little:
// CIE xy chromaticity distance ×100 combined with the log ratio of
// luminance ×2. In Lab a darker rim of a yellow part loses most of its b*
// and looks like another material; in xy it keeps its place.
func shadeDist(a, b [3]float64) float64 {
	xa, ya, Ya := chromaticity(a)
	xb, yb, Yb := chromaticity(b)
	dc := chromaScale * math.Hypot(xa-xb, ya-yb)
	dl := lumScale * math.Log(math.Max(Ya, 1e-4)/math.Max(Yb, 1e-4))
	return math.Hypot(dc, dl)
}
