package torchtest

import (
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Net is the small conv net of testdata/gen_golden_train.py, layer for layer and in the same
// construction order, so that after the same seed it starts from the same weights.
type Net struct {
	nn.Module
	Features *nn.Sequential
	Head     *nn.Linear
}

// NewNet builds Net with PyTorch's default initialisation from the default generator.
func NewNet() *Net {
	n := &Net{}
	n.Features = nn.RegisterModule(&n.Module, "features", nn.NewSequential(
		nn.NewConv2d(3, 8, 3, nn.Conv2dConfig{Padding: 1}), nn.NewBatchNorm2d(8), nn.NewReLU(),
		nn.NewConv2d(8, 6, 3, nn.Conv2dConfig{Stride: 2, Padding: 1, NoBias: true}), nn.NewBatchNorm2d(6), nn.NewReLU(),
		nn.NewDropout(0.25)))
	n.Head = nn.RegisterModule(&n.Module, "head", nn.NewLinear(6, 2, true))
	return n
}

// Forward is head(mean over H, W of features(x)).
func (n *Net) Forward(x *torch.Tensor) *torch.Tensor {
	return n.Head.Forward(n.Features.Forward(x).MeanDims([]int64{2, 3}, false))
}
