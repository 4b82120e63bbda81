package imageproc_test

import (
	"fmt"

	"github.com/csad-go/csad/csad/imageproc"
)

// A 4-pixel row halved, as Pillow does it. At a 2:1 downscale the triangle
// filter is 2 source pixels wide on each side of the sample centre (x = 1.0
// for the first output pixel); truncated at the image edge it weights
// pixels 0, 1, 2 by 3/7, 3/7, 1/7, so the first output is
// (0·3 + 100·3 + 200)/7 = 71.4 → 71, not the 2-pixel mean 50.
func ExampleResizeBilinear() {
	img := &imageproc.RGB{W: 4, H: 1, Pix: []uint8{
		0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255,
	}}
	small := imageproc.ResizeBilinear(img, 2, 1)
	fmt.Println(small.W, small.H, small.Pix)
	// Output: 2 1 [71 71 71 209 209 209]
}

// The network input for a mid-grey image: resized (a no-op on a flat
// image), scaled to [0, 1] and normalised with the ImageNet statistics,
// channel-major.
func ExamplePreprocess() {
	img := &imageproc.RGB{W: 1, H: 1, Pix: []uint8{128, 128, 128}}
	x := imageproc.Preprocess(img, 2)
	fmt.Printf("%d values; R %.4f, G %.4f, B %.4f\n", len(x), x[0], x[4], x[8])
	// Output: 12 values; R 0.0741, G 0.2052, B 0.4265
}

// Nearest-neighbour resizing of a label map keeps its values unmixed.
func ExampleResizeNearestGray() {
	labels := []uint8{
		1, 1, 2,
		3, 3, 2,
	}
	fmt.Println(imageproc.ResizeNearestGray(labels, 3, 2, 2, 2))
	// Output: [1 2 3 2]
}
