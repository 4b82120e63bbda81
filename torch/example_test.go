package torch_test

import (
	"errors"
	"fmt"

	"github.com/csad-go/csad/torch"
)

// A scope owns what operations on its tensors produce; Size reads one dimension with an error
// instead of indexing Shape; a closed tensor says which operation was attempted on it.
func Example() {
	s := torch.NewNoGradScope()
	defer s.Close()
	x := torch.FromSlice(s, []float32{1, -2, 3, -4, 5, -6}, 2, 3)
	y := x.Relu().SumDims([]int64{1}, false)
	v, err := y.Float32s()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("row sums of relu(x):", v)

	cols, err := x.Size(-1)
	fmt.Println("columns:", cols, err)
	_, err = x.Size(2)
	fmt.Println(err)

	// Closing a temporary early takes it out of the scope at once.
	tmp := x.MulScalar(2)
	fmt.Println("tensors in the scope:", s.Len())
	if err := tmp.Close(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after closing one:", s.Len())
	err = tmp.Neg().Err()
	fmt.Println(errors.Is(err, torch.ErrClosed), err)
	// Output:
	// row sums of relu(x): [4 5]
	// columns: 3 <nil>
	// torch: Size: index out of range: dimension 2 out of range for a 2-D tensor of shape [2 3] (valid: -2 to 1)
	// tensors in the scope: 4
	// after closing one: 3
	// true torch: aten::neg: use after close: the tensor was closed (by Close or by its scope's Close); Keep it out of the scope or Share it to use it longer
}
