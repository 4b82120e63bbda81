package train_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
)

// convNetSize is one size of the training-step benchmark's plain conv net: width channels,
// px×px images, batch 2.
type convNetSize struct{ width, px int64 }

// convNetSizes are the three sizes the training-speed figures are quoted at: the smallest is
// nearly all per-call cost, the largest nearly all convolution arithmetic.
var convNetSizes = []convNetSize{{8, 16}, {32, 64}, {64, 128}}

// kind is the step's name, the same on both sides (testdata/bench_train_step.py).
func (c convNetSize) kind() string { return fmt.Sprintf("conv5-w%d-%dpx", c.width, c.px) }

// convNetBenchStep builds the net of testdata/bench_train_step.py's conv_setup, layer for layer
// after the same seed (so both sides start from the same weights and inputs): five 3×3
// convolutions (3→w, w→w three times, w→3, padding 1) with ReLUs between, MSE against a fixed
// target, Adam with PyTorch's defaults, gradients dropped before each step (zero_grad with
// set_to_none). It returns one training step.
func convNetBenchStep(b *testing.B, s *torch.Scope, c convNetSize) func() error {
	require.NoError(b, torch.ManualSeed(11))
	p1 := nn.Conv2dConfig{Padding: 1}
	w := c.width
	net := nn.NewSequential(nn.NewConv2d(3, w, 3, p1), nn.NewReLU(), nn.NewConv2d(w, w, 3, p1), nn.NewReLU(),
		nn.NewConv2d(w, w, 3, p1), nn.NewReLU(), nn.NewConv2d(w, w, 3, p1), nn.NewReLU(), nn.NewConv2d(w, 3, 3, p1))
	require.NoError(b, nn.Err(net))
	b.Cleanup(func() { assert.NoError(b, nn.Close(net)) })
	var params []*torch.Tensor
	for _, p := range nn.Parameters(net) {
		params = append(params, p.Tensor)
	}
	opt := optim.NewAdam(params, optim.DefaultAdam())
	b.Cleanup(func() { assert.NoError(b, opt.Close()) })
	x := torch.Randn(s, []int64{benchBatch, 3, c.px, c.px}, torch.Float32)
	y := torch.Randn(s, []int64{benchBatch, 3, c.px, c.px}, torch.Float32)
	require.NoError(b, x.Err())
	require.NoError(b, y.Err())
	return func() error {
		return torch.Do(torch.GradMode, func(st *torch.Scope) error {
			if err := opt.ZeroGrad(); err != nil {
				return err
			}
			loss := net.Forward(x.Share(st)).MSELoss(y)
			if err := loss.Backward(); err != nil {
				return err
			}
			if err := opt.Step(); err != nil {
				return err
			}
			return st.Err()
		})
	}
}
