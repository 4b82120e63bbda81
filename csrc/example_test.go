package csrc_test

import (
	"fmt"

	"github.com/csad-go/csad/torch"
)

// Nothing imports package csrc but package torch, which links the shim compiled from this
// folder; the first tensor operation runs in it.
func Example() {
	s := torch.NewScope()
	defer s.Close()
	x := torch.FromSlice(s, []float32{1, 2, 3, 4}, 2, 2)
	v, err := x.Sum().Item()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v)
	// Output: 10
}
