package nn

import (
	"github.com/csad-go/csad/torch"
)

// Conv2dConfig are nn.Conv2d's constructor arguments beyond the channel counts and kernel size.
// Zero values are PyTorch's defaults, except that NoBias must be set to drop the bias.
type Conv2dConfig struct {
	Stride, Padding, Dilation int64
	Groups                    int64
	NoBias                    bool
	// Zeroed skips the random initialisation (and its draws from the generator): for layers
	// whose weights are loaded from a checkpoint right away.
	Zeroed bool
}

// Conv2d is nn.Conv2d with a square kernel.
type Conv2d struct {
	Module
	Weight, Bias *torch.Tensor // Bias is nil with NoBias
	opts         torch.Conv2dOptions
}

// NewConv2d builds nn.Conv2d(in, out, kernel, ...) initialised as PyTorch does.
func NewConv2d(in, out, kernel int64, c Conv2dConfig) *Conv2d {
	groups := max(c.Groups, 1)
	l := &Conv2d{opts: torch.Conv2dOptions{
		Stride:   [2]int64{max(c.Stride, 1), max(c.Stride, 1)},
		Padding:  [2]int64{c.Padding, c.Padding},
		Dilation: [2]int64{max(c.Dilation, 1), max(c.Dilation, 1)},
		Groups:   groups,
	}}
	w := torch.Zeros(nil, []int64{out, in / groups, kernel, kernel}, torch.Float32)
	var b *torch.Tensor
	if !c.NoBias {
		b = torch.Zeros(nil, []int64{out}, torch.Float32)
	}
	if !c.Zeroed {
		if err := DefaultInit(w, b); err != nil {
			// The failed weight carries the error to Err and to every forward pass.
			w.Close()
			w = torch.Failed(nil, err)
		}
	}
	l.Weight = l.RegisterParameter("weight", w)
	if b != nil {
		l.Bias = l.RegisterParameter("bias", b)
	}
	return l
}

// Options returns stride, padding, dilation and groups as F.conv2d takes them.
func (l *Conv2d) Options() torch.Conv2dOptions { return l.opts }

// Forward applies the convolution.
func (l *Conv2d) Forward(x *torch.Tensor) *torch.Tensor {
	return x.Conv2d(l.Weight, l.Bias, l.opts)
}

// BatchNorm2d is nn.BatchNorm2d(affine=True, track_running_stats=True).
type BatchNorm2d struct {
	Module
	Weight, Bias, RunningMean, RunningVar, NumBatchesTracked *torch.Tensor
	Eps, Momentum                                            float64
}

// NewBatchNorm2d builds nn.BatchNorm2d(features) with eps 1e-5 and momentum 0.1.
func NewBatchNorm2d(features int64) *BatchNorm2d {
	l := &BatchNorm2d{Eps: 1e-5, Momentum: 0.1}
	l.Weight = l.RegisterParameter("weight", torch.Ones(nil, []int64{features}, torch.Float32))
	l.Bias = l.RegisterParameter("bias", torch.Zeros(nil, []int64{features}, torch.Float32))
	l.RunningMean = l.RegisterBuffer("running_mean", torch.Zeros(nil, []int64{features}, torch.Float32))
	l.RunningVar = l.RegisterBuffer("running_var", torch.Ones(nil, []int64{features}, torch.Float32))
	l.NumBatchesTracked = l.RegisterBuffer("num_batches_tracked", torch.Scalar(nil, 0, torch.Int64))
	return l
}

// Forward normalises with batch statistics in training mode (updating the running ones) and with
// the running statistics in evaluation mode.
func (l *BatchNorm2d) Forward(x *torch.Tensor) *torch.Tensor {
	if l.Training() {
		l.NumBatchesTracked.AddScalarInPlace(1)
	}
	return x.BatchNorm(l.RunningMean, l.RunningVar, l.Weight, l.Bias, l.Training(), l.Momentum, l.Eps)
}

// Linear is nn.Linear.
type Linear struct {
	Module
	Weight, Bias *torch.Tensor
}

// NewLinear builds nn.Linear(in, out, bias) initialised as PyTorch does.
func NewLinear(in, out int64, bias bool) *Linear {
	l := &Linear{}
	w := torch.Empty(nil, []int64{out, in}, torch.Float32)
	var b *torch.Tensor
	if bias {
		b = torch.Empty(nil, []int64{out}, torch.Float32)
	}
	if err := DefaultInit(w, b); err != nil {
		w.Close()
		w = torch.Failed(nil, err)
	}
	l.Weight = l.RegisterParameter("weight", w)
	if b != nil {
		l.Bias = l.RegisterParameter("bias", b)
	}
	return l
}

// Forward computes x·Wᵀ + b.
func (l *Linear) Forward(x *torch.Tensor) *torch.Tensor { return x.Linear(l.Weight, l.Bias) }

// ReLU is nn.ReLU.
type ReLU struct{ Module }

// NewReLU returns a ReLU layer.
func NewReLU() *ReLU { return &ReLU{} }

// Forward is max(x, 0).
func (l *ReLU) Forward(x *torch.Tensor) *torch.Tensor { return x.Relu() }

// Dropout is nn.Dropout(p): active only in training mode.
type Dropout struct {
	Module
	P float64
}

// NewDropout returns a dropout layer.
func NewDropout(p float64) *Dropout { return &Dropout{P: p} }

// Forward zeroes elements with probability P and rescales the rest in training mode.
func (l *Dropout) Forward(x *torch.Tensor) *torch.Tensor { return x.Dropout(l.P, l.Training()) }

// Sequential is nn.Sequential: children named "0", "1", ... applied in order.
type Sequential struct {
	Module
	Layers []Forwarder
}

// NewSequential chains layers.
func NewSequential(layers ...Forwarder) *Sequential {
	s := &Sequential{}
	for _, l := range layers {
		s.Append(l)
	}
	return s
}

// Append adds a layer at the end under the next index.
func (s *Sequential) Append(l Forwarder) {
	RegisterModule(&s.Module, itoa(len(s.Layers)), l)
	s.Layers = append(s.Layers, l)
}

// Forward applies each layer in turn. Each layer's output is dropped once the next layer has
// run, as Python drops a Sequential's intermediates: what backward needs, autograd keeps.
func (s *Sequential) Forward(x *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	x = f.Use(x)
	for _, l := range s.Layers {
		x = f.Next(x, l.Forward(x))
	}
	return f.Return(x)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
