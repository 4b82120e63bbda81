package pseudolabel_test

import (
	"fmt"
	"image"
	"image/color"

	"github.com/csad-go/csad/csad/pseudolabel"
)

// Segment finds the parts on a plain surface; Split reads the merged label
// map back into one mask per component, largest first.
func ExampleSegment() {
	img := image.NewRGBA(image.Rect(0, 0, 120, 90))
	for y := 0; y < 90; y++ {
		for x := 0; x < 120; x++ {
			c := color.RGBA{90, 95, 100, 255} // the table
			switch {
			case x >= 10 && x < 50 && y >= 10 && y < 40:
				c = color.RGBA{210, 60, 40, 255} // a red part, 40×30
			case x >= 70 && x < 90 && y >= 50 && y < 70:
				c = color.RGBA{40, 90, 210, 255} // a blue part, 20×20
			}
			img.SetRGBA(x, y, c)
		}
	}
	seg, err := pseudolabel.Segment(img, pseudolabel.SegmentOptions{})
	if err != nil {
		panic(err)
	}
	masks, values := pseudolabel.Split(seg.Labels)
	for i, m := range masks {
		x0, y0, x1, y1, _ := m.BBox()
		fmt.Printf("component %d: %d pixels in [%d,%d)×[%d,%d)\n", values[i], m.Area(), x0, x1, y0, y1)
	}
	fmt.Println("background pixels:", seg.Background.Area())
	// Output:
	// component 1: 1200 pixels in [10,50)×[10,40)
	// component 2: 400 pixels in [70,90)×[50,70)
	// background pixels: 9200
}

// Merge paints masks largest first, so a smaller mask inside a larger one
// stays visible; Split returns what is visible of each.
func ExampleMerge() {
	outer, inner := pseudolabel.NewMask(8, 4), pseudolabel.NewMask(8, 4)
	for y := 0; y < 4; y++ {
		for x := 0; x < 6; x++ {
			outer.Pix[y*8+x] = true
			inner.Pix[y*8+x] = x >= 2 && x < 4 && y >= 1 && y < 3
		}
	}
	l, err := pseudolabel.Merge(8, 4, []pseudolabel.Mask{inner, outer})
	if err != nil {
		panic(err)
	}
	for y := 0; y < 4; y++ {
		fmt.Println(l.Pix[y*8 : y*8+8])
	}
	// Output:
	// [1 1 1 1 1 1 0 0]
	// [1 1 2 2 1 1 0 0]
	// [1 1 2 2 1 1 0 0]
	// [1 1 1 1 1 1 0 0]
}
