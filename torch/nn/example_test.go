package nn_test

import (
	"fmt"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Layers carry PyTorch's parameter names, so state dicts move between Go and Python; a state dict
// that does not fit is refused before anything is copied.
func Example() {
	if err := torch.ManualSeed(0); err != nil {
		fmt.Println(err)
		return
	}
	net := nn.NewSequential(nn.NewConv2d(3, 4, 3, nn.Conv2dConfig{Padding: 1}), nn.NewReLU(), nn.NewLinear(4, 2, true))
	defer nn.Close(net)
	if err := nn.Err(net); err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range nn.StateDict(net) {
		fmt.Println(n.Name, n.Tensor.Shape())
	}

	s := torch.NewScope()
	defer s.Close()
	wrong := []nn.Named{{Name: "0.weight", Tensor: torch.Zeros(s, []int64{4, 3, 5, 5}, torch.Float32)}}
	fmt.Println(nn.LoadStateDict(net, wrong, false))
	// Output:
	// 0.weight [4 3 3 3]
	// 0.bias [4]
	// 2.weight [2 4]
	// 2.bias [2]
	// nn: state dict does not fit the model: missing keys (3): 0.bias, 2.weight, 2.bias; shape mismatch (1): 0.weight: checkpoint [4 3 5 5] vs model [4 3 3 3]
}
