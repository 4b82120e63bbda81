package optim_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
)

// Build a conv net, train it a few steps, save its state dict, and load it into a fresh copy.
func Example() {
	if err := torch.ManualSeed(0); err != nil {
		fmt.Println(err)
		return
	}
	newNet := func() *nn.Sequential {
		return nn.NewSequential(nn.NewConv2d(1, 4, 3, nn.Conv2dConfig{Padding: 1}), nn.NewReLU(),
			nn.NewConv2d(4, 1, 3, nn.Conv2dConfig{Padding: 1}))
	}
	net := newNet()
	defer nn.Close(net)
	var params []*torch.Tensor
	for _, p := range nn.Parameters(net) {
		params = append(params, p.Tensor)
	}
	opt := optim.NewAdam(params, optim.AdamConfig{LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	defer opt.Close()

	var first, last float64
	for step := range 30 {
		err := torch.Do(torch.GradMode, func(s *torch.Scope) error {
			x := torch.Randn(s, []int64{8, 1, 6, 6}, torch.Float32)
			loss := net.Forward(x).MSELoss(x.MulScalar(2)) // learn to double the input
			if err := opt.ZeroGrad(); err != nil {
				return err
			}
			if err := loss.Backward(); err != nil {
				return err
			}
			if err := opt.Step(); err != nil {
				return err
			}
			v, err := loss.Item()
			if err != nil {
				return err
			}
			if step == 0 {
				first = v
			}
			last = v
			return s.Err()
		})
		if err != nil {
			fmt.Println("step", step, err)
			return
		}
	}
	fmt.Println("loss went down:", last < first/4)

	dir, err := os.MkdirTemp("", "example-net-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "net.safetensors")
	if err := torch.SaveTensors(path, nn.StateDict(net)); err != nil {
		fmt.Println(err)
		return
	}
	copyNet := newNet()
	defer nn.Close(copyNet)
	s := torch.NewScope()
	defer s.Close()
	saved, err := torch.LoadTensors(s, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("reload:", nn.LoadStateDict(copyNet, saved, true))
	// Output:
	// loss went down: true
	// reload: <nil>
}
