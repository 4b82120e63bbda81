package pseudolabel_test

import (
	"fmt"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/pseudolabel"
)

// Align cuts a component to the CNN feature's 65×65 crop: a 30×10 bar is
// scaled so that its diagonal spans the crop, and centred.
func ExampleAlign() {
	img := imageproc.NewRGB(100, 80)
	m := pseudolabel.NewMask(100, 80)
	for y := 30; y < 40; y++ {
		for x := 20; x < 50; x++ {
			m.Pix[y*100+x] = true
		}
	}
	a, err := pseudolabel.Align(img, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	x0, y0, x1, y1, _ := a.Mask.BBox()
	fmt.Printf("%d×%d crop, part %d×%d at (%d,%d), scale %.3f\n", a.Image.W, a.Image.H, x1-x0, y1-y0, x0, y0, a.Scale)
	// Output: 65×65 crop, part 62×20 at (2,23), scale 2.072
}
