package csad

import (
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Layers are built zeroed: their weights always come from a model file.

func conv(in, out, k int64, c nn.Conv2dConfig) *nn.Conv2d {
	c.Zeroed = true
	return nn.NewConv2d(in, out, k, c)
}

// convBN is a bias-free convolution followed by eval-mode BatchNorm. They stay two PyTorch
// operators: folding them would change float32 rounding in the encoder, and the segmentation's
// argmax turns any such change into a different label somewhere, then a different score.
type convBN struct {
	conv *nn.Conv2d
	bn   *nn.BatchNorm2d
}

// forward runs the convolution, the normalisation and, with relu, a ReLU; only the result
// survives the call.
func (c *convBN) forward(x *torch.Tensor, relu bool) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	y := c.bn.Forward(c.conv.Forward(f.Use(x)))
	if relu {
		y = y.Relu()
	}
	return f.Return(y)
}

// convBnReLU is the segmentor's _ConvBnReLU: children "conv" and "bn".
type convBnReLU struct {
	nn.Module
	cb   convBN
	relu bool
}

func newConvBnReLU(in, out, k, pad, dil int64, relu bool) *convBnReLU {
	l := &convBnReLU{relu: relu}
	l.cb.conv = nn.RegisterModule(&l.Module, "conv", conv(in, out, k, nn.Conv2dConfig{Padding: pad, Dilation: dil, NoBias: true}))
	l.cb.bn = nn.RegisterModule(&l.Module, "bn", nn.NewBatchNorm2d(out))
	l.cb.bn.Momentum = 0.999 // the official segmentor's (flagged) setting; irrelevant in eval
	return l
}

func (l *convBnReLU) Forward(x *torch.Tensor) *torch.Tensor { return l.cb.forward(x, l.relu) }

// relu returns y's ReLU and drops y: the convolution outputs of the LGST branch are its largest
// tensors, and PyTorch frees each as soon as its activation exists.
func relu(f *torch.Frame, y *torch.Tensor) *torch.Tensor { return f.Next(y, y.Relu()) }
