package tiffmap_test

import (
	"bytes"
	"fmt"

	"github.com/csad-go/csad/csad/tiffmap"
)

func Example() {
	m := tiffmap.New(3, 2)
	m.Pix[4] = 0.75 // column 1, row 1
	var b bytes.Buffer
	if err := tiffmap.Write(&b, m); err != nil {
		panic(err)
	}
	back, err := tiffmap.Read(&b)
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Width, back.Height, back.At(1, 1))
	// Output: 3 2 0.75
}

func ExampleMap_Resize() {
	m := &tiffmap.Map{Width: 2, Height: 1, Pix: []float32{0, 1}}
	big, err := m.Resize(4, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(big.Pix)
	// Output: [0 0.25 0.75 1]
}
