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
