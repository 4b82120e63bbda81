package augment_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/csad-go/csad/csad/augment"
)

// OpenCV's rotation matrix for 90° about (2, 3): the centre stays put and
// the x axis turns to point up on screen.
func ExampleRotationMatrix2D() {
	m := augment.RotationMatrix2D(2, 3, 90, 1)
	fmt.Printf("[%.3f %.3f %.3f; %.3f %.3f %.3f]\n", m[0], m[1], m[2], m[3], m[4], m[5])
	// Output: [0.000 1.000 -1.000; -1.000 0.000 5.000]
}

// A 3×3 label map turned by 90° about its centre with nearest
// interpolation: a pure permutation, no value is mixed.
func ExampleWarpAffine() {
	labels := []uint8{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}
	m := augment.RotationMatrix2D(1, 1, 90, 1)
	out, err := augment.WarpAffine(labels, 3, 3, 1, m, augment.Nearest)
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output: [3 6 9 2 5 8 1 4 7]
}

// Brightness and contrast as albumentations applies them to uint8:
// 1.05·x + 0.05·255, clipped, then truncated.
func ExampleBrightnessContrast() {
	fmt.Println(augment.BrightnessContrast([]uint8{0, 10, 100, 250}, 1.05, 0.05))
	// Output: [12 23 117 255]
}

// LSA on a 64×64 tray holding one part (a 5×5 square labelled 2): the part
// is copied elsewhere on the tray with its label, and the original stays.
// The copy is rotated by a random whole angle, and thresholding the
// bilinearly warped mask at 200 trims its edge: here 22 of 25 pixels.
func ExampleLSA() {
	const w, h = 64, 64
	img := make([]uint8, 3*w*h)
	gt := make([]uint8, w*h)
	comp := make([]uint8, w*h)
	bg := make([]uint8, w*h)
	for y := range h {
		for x := range w {
			i := y*w + x
			switch {
			case x < 6 || x >= 58 || y < 6 || y >= 58:
				bg[i] = 255 // off the tray
			case x >= 14 && x < 19 && y >= 14 && y < 19:
				gt[i], comp[i] = 2, 1
				img[3*i] = 200
			default:
				gt[i] = 1 // tray floor
				img[3*i+2] = 90
			}
		}
	}
	r := rand.New(rand.NewPCG(7, 0))
	outImg, outGT, n, err := augment.LSA(r, img, gt, comp, bg, w, h, augment.DefaultLSAOptions())
	if err != nil {
		panic(err)
	}
	before, after, onlyPart := 0, 0, true
	for i := range gt {
		if gt[i] == 2 {
			before++
		}
		if outGT[i] == 2 {
			after++
		}
		if outGT[i] != gt[i] && outGT[i] != 2 {
			onlyPart = false
		}
	}
	fmt.Printf("pastes %d, part pixels %d → %d, only the part's label written: %v, original kept: %v\n",
		n, before, after, onlyPart, outGT[16*w+16] == 2 && outImg[3*(16*w+16)] == 200)
	// Output: pastes 1, part pixels 25 → 47, only the part's label written: true, original kept: true
}
