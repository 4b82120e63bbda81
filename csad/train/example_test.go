package train_test

import (
	"fmt"

	"github.com/csad-go/csad/csad/train"
	"github.com/csad-go/csad/torch"
)

// The segmentor's losses on one 2×2 image with 3 classes: three pixels predicted confidently and
// right, the last one (class 0) taken for class 2. The official cross-entropy, taken on softmax
// probabilities, is confined to [log(1+2/e), log(2+e)] ≈ [0.55, 1.55] per pixel with 3 classes,
// so it barely sees the mistake that costs the intended one 6.
func Example() {
	s := torch.NewScope()
	defer s.Close()
	z := torch.FromSlice(s, []float32{
		4, -2, -2, -2, // class 0 logits, pixels in row-major order
		-2, 4, -2, -2, // class 1
		-2, -2, 4, 4, // class 2
	}, 1, 3, 2, 2)
	y := torch.FromSlice(s, []int64{0, 1, 2, 0}, 1, 2, 2)
	show := func(name string, v *torch.Tensor, err error) {
		if err == nil {
			var x float64
			if x, err = v.Item(); err == nil {
				fmt.Printf("%-12s %.4f\n", name, x)
				return
			}
		}
		fmt.Println(name, err)
	}
	v, err := train.CrossEntropy(z, y, false)
	show("CE", v, err)
	v, err = train.CrossEntropy(z, y, true)
	show("CE official", v, err)
	v, err = train.Focal(z, y)
	show("focal", v, err)
	v, err = train.Dice(z, y)
	show("dice", v, err)
	v, err = train.Hist(z, y)
	show("hist", v, err)
	v, err = train.Entropy(z)
	show("entropy", v, err)
	terms, err := train.DefaultSegLossConfig().SegLoss(z, y, z, y, true)
	show("sup total", terms.Total, err)
	// Output:
	// CE           1.5049
	// CE official  0.8027
	// focal        1.4923
	// dice         0.0679
	// hist         0.2494
	// entropy      0.0115
	// sup total    15.7433
}
