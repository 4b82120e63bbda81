package torch

// Neural-network operators (torch.nn.functional).

var (
	opConv2d       = newOp("aten::conv2d", "")
	opMkldnnConv   = newOp("aten::mkldnn_convolution", "")
	opMkldnnWeight = newOp("aten::mkldnn_reorder_conv2d_weight", "")
	opToMkldnn     = newOp("aten::to_mkldnn", "")
	opToDense      = newOp("aten::to_dense", "")
	opBatchNorm    = newOp("aten::batch_norm", "")
	opRelu         = newOp("aten::relu", "")
	opReluIn       = newOp("aten::relu_", "")
	opAvgPool2d    = newOp("aten::avg_pool2d", "")
	opAdaptiveAvg  = newOp("aten::adaptive_avg_pool2d", "")
	opMaxPool2d    = newOp("aten::max_pool2d", "")
	opUpBilinear   = newOp("aten::upsample_bilinear2d", "vec")
	opUpNearest    = newOp("aten::upsample_nearest2d", "vec")
	opConstantPad  = newOp("aten::constant_pad_nd", "")
	opReflectPad1d = newOp("aten::reflection_pad1d", "")
	opReflectPad2d = newOp("aten::reflection_pad2d", "")
	opReflectPad3d = newOp("aten::reflection_pad3d", "")
	opReplicPad1d  = newOp("aten::replication_pad1d", "")
	opReplicPad2d  = newOp("aten::replication_pad2d", "")
	opReplicPad3d  = newOp("aten::replication_pad3d", "")
	opDropout      = newOp("aten::dropout", "")
	opLinear       = newOp("aten::linear", "")
	opMSELoss      = newOp("aten::mse_loss", "")
)

// Conv2dOptions are F.conv2d's keyword arguments; zero values mean PyTorch's defaults
// (stride 1, padding 0, dilation 1, groups 1).
type Conv2dOptions struct {
	Stride, Padding, Dilation [2]int64
	Groups                    int64
}

func (o Conv2dOptions) normalized() Conv2dOptions {
	for i := range 2 {
		if o.Stride[i] == 0 {
			o.Stride[i] = 1
		}
		if o.Dilation[i] == 0 {
			o.Dilation[i] = 1
		}
	}
	if o.Groups == 0 {
		o.Groups = 1
	}
	return o
}

// Conv2d is F.conv2d(t, weight, bias, ...); bias may be nil.
func (t *Tensor) Conv2d(weight, bias *Tensor, o Conv2dOptions) *Tensor {
	o = o.normalized()
	return opConv2d.call1(newArgs().t(t).t(weight).optT(bias).ints(o.Stride[:]).ints(o.Padding[:]).
		ints(o.Dilation[:]).i(o.Groups))
}

// MkldnnConv2d is torch.mkldnn_convolution: F.conv2d through oneDNN whatever ATen's kernel
// heuristic would pick, with weight either a dense tensor or one that MkldnnConv2dWeight laid
// out in advance. A oneDNN tensor input (ToMkldnn) gives a oneDNN tensor output, a dense one a
// dense output; bias, if any, is dense.
func (t *Tensor) MkldnnConv2d(weight, bias *Tensor, o Conv2dOptions) *Tensor {
	o = o.normalized()
	return opMkldnnConv.call1(newArgs().t(t).t(weight).optT(bias).ints(o.Padding[:]).ints(o.Stride[:]).
		ints(o.Dilation[:]).i(o.Groups))
}

// MkldnnConv2dWeight is torch._C._nn.mkldnn_reorder_conv2d_weight: the oneDNN tensor (t a
// oneDNN tensor itself, see ToMkldnn) of a convolution weight in the layout oneDNN's kernel for
// that convolution reads, so that MkldnnConv2d does not reorder it on every call.
func (t *Tensor) MkldnnConv2dWeight(o Conv2dOptions) *Tensor {
	o = o.normalized()
	return opMkldnnWeight.call1(newArgs().t(t).ints(o.Padding[:]).ints(o.Stride[:]).ints(o.Dilation[:]).i(o.Groups))
}

// ToMkldnn is t.to_mkldnn(d): a copy of a float32 tensor as element type d (Float32 or
// BFloat16) in oneDNN's own (opaque, possibly blocked) layout. Such a tensor has sizes but no
// strides: only the operators with oneDNN kernels accept it (convolution, relu, add, pooling,
// ...) and ToDense turns it back.
func (t *Tensor) ToMkldnn(d DType) *Tensor { return opToMkldnn.call1(newArgs().t(t).dtype(d)) }

// ToDense is t.to_dense(d): a oneDNN tensor as a contiguous dense one of element type d
// (Float32 or BFloat16).
func (t *Tensor) ToDense(d DType) *Tensor { return opToDense.call1(newArgs().t(t).dtype(d)) }

// BatchNorm is F.batch_norm(t, runningMean, runningVar, weight, bias, training, momentum, eps).
// In training mode the running statistics are updated in place. Any tensor may be nil.
func (t *Tensor) BatchNorm(runningMean, runningVar, weight, bias *Tensor, training bool, momentum, eps float64) *Tensor {
	return opBatchNorm.call1(newArgs().t(t).optT(weight).optT(bias).optT(runningMean).optT(runningVar).
		bool(training).f(momentum).f(eps).bool(true))
}

// Relu is max(t, 0).
func (t *Tensor) Relu() *Tensor { return unary(opRelu, t) }

// ReluInPlace is t.relu_(): max(t, 0) written over t, which it returns.
func (t *Tensor) ReluInPlace() *Tensor { return inplace(opReluIn, newArgs().t(t), t) }

// PoolOptions are the arguments of the 2-D pooling operators; a zero Stride means "equal to
// the kernel" and a zero Dilation means 1, as in PyTorch.
type PoolOptions struct {
	Kernel, Stride, Padding, Dilation [2]int64
	CeilMode                          bool
	// ExcludePad is the negation of avg_pool2d's count_include_pad (PyTorch default true), so
	// the zero value means the default.
	ExcludePad bool
}

func (o PoolOptions) stride() []int64 {
	if o.Stride == [2]int64{} {
		return o.Kernel[:]
	}
	return o.Stride[:]
}

// AvgPool2d is F.avg_pool2d.
func (t *Tensor) AvgPool2d(o PoolOptions) *Tensor {
	return opAvgPool2d.call1(newArgs().t(t).ints(o.Kernel[:]).ints(o.stride()).ints(o.Padding[:]).
		bool(o.CeilMode).bool(!o.ExcludePad).none())
}

// MaxPool2d is F.max_pool2d.
func (t *Tensor) MaxPool2d(o PoolOptions) *Tensor {
	dil := o.Dilation
	if dil == [2]int64{} {
		dil = [2]int64{1, 1}
	}
	return opMaxPool2d.call1(newArgs().t(t).ints(o.Kernel[:]).ints(o.stride()).ints(o.Padding[:]).
		ints(dil[:]).bool(o.CeilMode))
}

// AdaptiveAvgPool2d is F.adaptive_avg_pool2d.
func (t *Tensor) AdaptiveAvgPool2d(h, w int64) *Tensor {
	return opAdaptiveAvg.call1(newArgs().t(t).ints([]int64{h, w}))
}

// InterpolateMode selects F.interpolate's mode.
type InterpolateMode int

// Interpolation modes.
const (
	Bilinear InterpolateMode = iota
	Nearest
)

// Interpolate is F.interpolate(t, size=(h, w), mode=..., align_corners=...) on an NCHW tensor.
// alignCorners only applies to Bilinear, as in PyTorch.
func (t *Tensor) Interpolate(h, w int64, mode InterpolateMode, alignCorners bool) *Tensor {
	size := []int64{h, w}
	switch mode {
	case Bilinear:
		return opUpBilinear.call1(newArgs().t(t).ints(size).bool(alignCorners).none())
	case Nearest:
		if alignCorners {
			return failed(errorf("Interpolate", CodeInvalid, "align_corners only applies to bilinear modes"), resultScope([]*Tensor{t}))
		}
		return opUpNearest.call1(newArgs().t(t).ints(size).none())
	}
	return failed(errorf("Interpolate", CodeInvalid, "unknown mode %d", mode), resultScope([]*Tensor{t}))
}

// PadMode selects F.pad's mode.
type PadMode int

// Padding modes.
const (
	PadConstant PadMode = iota
	PadReflect
	PadReplicate
)

// Pad is F.pad(t, pad, mode, value); pad lists (left, right, top, bottom, ...) from the last
// dimension backwards, as in PyTorch. Reflect and replicate pad the last 1, 2 or 3 dimensions
// (2, 4 or 6 pad values), choosing the 1d/2d/3d operator by len(pad) as F.pad does.
func (t *Tensor) Pad(pad []int64, mode PadMode, value float64) *Tensor {
	switch mode {
	case PadConstant:
		return opConstantPad.call1(newArgs().t(t).ints(pad).scalar(value))
	case PadReflect, PadReplicate:
		ops := map[PadMode][3]*op{
			PadReflect:   {opReflectPad1d, opReflectPad2d, opReflectPad3d},
			PadReplicate: {opReplicPad1d, opReplicPad2d, opReplicPad3d},
		}[mode]
		if n := len(pad); n == 2 || n == 4 || n == 6 {
			return ops[n/2-1].call1(newArgs().t(t).ints(pad))
		}
		return failed(errorf("Pad", CodeInvalid, "reflect and replicate padding take 2, 4 or 6 values, got %d",
			len(pad)), resultScope([]*Tensor{t}))
	}
	return failed(errorf("Pad", CodeInvalid, "unknown mode %d", mode), resultScope([]*Tensor{t}))
}

// Dropout is F.dropout(t, p, training).
func (t *Tensor) Dropout(p float64, training bool) *Tensor {
	return opDropout.call1(newArgs().t(t).f(p).bool(training))
}

// Linear is F.linear(t, weight, bias); bias may be nil.
func (t *Tensor) Linear(weight, bias *Tensor) *Tensor {
	return opLinear.call1(newArgs().t(t).t(weight).optT(bias))
}

// MSELoss is F.mse_loss(t, target) with mean reduction.
func (t *Tensor) MSELoss(target *Tensor) *Tensor {
	return opMSELoss.call1(newArgs().t(t).t(target).i(1))
}
