package torch

// Operators with PyTorch semantics. Each calls the ATen operator that the corresponding Python
// function calls (named in its comment), with the same defaults, so results match Python bit for
// bit on the same LibTorch.

var (
	opAddT        = newOp("aten::add", "Tensor")
	opAddS        = newOp("aten::add", "Scalar")
	opSubT        = newOp("aten::sub", "Tensor")
	opSubS        = newOp("aten::sub", "Scalar")
	opMulT        = newOp("aten::mul", "Tensor")
	opMulS        = newOp("aten::mul", "Scalar")
	opDivT        = newOp("aten::div", "Tensor")
	opDivS        = newOp("aten::div", "Scalar")
	opPowS        = newOp("aten::pow", "Tensor_Scalar")
	opPowT        = newOp("aten::pow", "Tensor_Tensor")
	opSqrt        = newOp("aten::sqrt", "")
	opExp         = newOp("aten::exp", "")
	opLog         = newOp("aten::log", "")
	opAbs         = newOp("aten::abs", "")
	opNeg         = newOp("aten::neg", "")
	opSigmoid     = newOp("aten::sigmoid", "")
	opClamp       = newOp("aten::clamp", "")
	opMaximum     = newOp("aten::maximum", "")
	opMinimum     = newOp("aten::minimum", "")
	opMatmul      = newOp("aten::matmul", "")
	opSum         = newOp("aten::sum", "")
	opSumDim      = newOp("aten::sum", "dim_IntList")
	opMean        = newOp("aten::mean", "")
	opMeanDim     = newOp("aten::mean", "dim")
	opAmax        = newOp("aten::amax", "")
	opAmin        = newOp("aten::amin", "")
	opArgmax      = newOp("aten::argmax", "")
	opMaxAll      = newOp("aten::max", "")
	opMinAll      = newOp("aten::min", "")
	opStdCorr     = newOp("aten::std", "correction")
	opVarCorr     = newOp("aten::var", "correction")
	opSoftmax     = newOp("aten::softmax", "int")
	opLogSoftmax  = newOp("aten::log_softmax", "int")
	opOneHot      = newOp("aten::one_hot", "")
	opScatterSrc  = newOp("aten::scatter", "src")
	opScatterVal  = newOp("aten::scatter", "value")
	opGather      = newOp("aten::gather", "")
	opQuantile    = newOp("aten::quantile", "")
	opQuantileS   = newOp("aten::quantile", "scalar")
	opEqT         = newOp("aten::eq", "Tensor")
	opEqS         = newOp("aten::eq", "Scalar")
	opNeT         = newOp("aten::ne", "Tensor")
	opNeS         = newOp("aten::ne", "Scalar")
	opLtT         = newOp("aten::lt", "Tensor")
	opLtS         = newOp("aten::lt", "Scalar")
	opLeT         = newOp("aten::le", "Tensor")
	opLeS         = newOp("aten::le", "Scalar")
	opGtT         = newOp("aten::gt", "Tensor")
	opGtS         = newOp("aten::gt", "Scalar")
	opGeT         = newOp("aten::ge", "Tensor")
	opGeS         = newOp("aten::ge", "Scalar")
	opWhere       = newOp("aten::where", "self")
	opMaskedFill  = newOp("aten::masked_fill", "Scalar")
	opReshape     = newOp("aten::reshape", "")
	opView        = newOp("aten::view", "")
	opPermute     = newOp("aten::permute", "")
	opContiguous  = newOp("aten::contiguous", "")
	opTranspose   = newOp("aten::transpose", "int")
	opSqueezeDim  = newOp("aten::squeeze", "dim")
	opUnsqueeze   = newOp("aten::unsqueeze", "")
	opFlatten     = newOp("aten::flatten", "using_ints")
	opExpand      = newOp("aten::expand", "")
	opNarrow      = newOp("aten::narrow", "")
	opSlice       = newOp("aten::slice", "Tensor")
	opIndex       = newOp("aten::index", "Tensor")
	opIndexSelect = newOp("aten::index_select", "")
	opMaskedSel   = newOp("aten::masked_select", "")
	opToDtype     = newOp("aten::to", "dtype")
	opToDevice    = newOp("aten::to", "device")
	opClone       = newOp("aten::clone", "")
	opDetach      = newOp("aten::detach", "")
	opCat         = newOp("aten::cat", "")
	opStack       = newOp("aten::stack", "")
	opSort        = newOp("aten::sort", "")
	opZerosLike   = newOp("aten::zeros_like", "")
	opOnesLike    = newOp("aten::ones_like", "")
	// In place.
	opAddInT    = newOp("aten::add_", "Tensor")
	opAddInS    = newOp("aten::add_", "Scalar")
	opMulInT    = newOp("aten::mul_", "Tensor")
	opMulInS    = newOp("aten::mul_", "Scalar")
	opDivInS    = newOp("aten::div_", "Scalar")
	opAddcmulIn = newOp("aten::addcmul_", "")
	opAddcdivIn = newOp("aten::addcdiv_", "")
	opCopyIn    = newOp("aten::copy_", "")
	opZeroIn    = newOp("aten::zero_", "")
	opFillIn    = newOp("aten::fill_", "Scalar")
	opUniformIn = newOp("aten::uniform_", "")
	opNormalIn  = newOp("aten::normal_", "")
)

func unary(o *op, t *Tensor) *Tensor { return o.call1(newArgs().t(t)) }

func binary(o *op, a, b *Tensor) *Tensor { return o.call1(newArgs().t(a).t(b)) }

func withScalar(o *op, a *Tensor, v float64) *Tensor { return o.call1(newArgs().t(a).scalarFor(a, v)) }

// inplace runs an in-place operator and returns t itself (or the failed tensor that carries its
// error); no handle is made for the alias ATen returns.
func inplace(o *op, x *args, t *Tensor) *Tensor {
	if r := o.callInPlace(x); r != nil {
		return r
	}
	return t
}

// Add returns t + o (torch.add), broadcasting.
func (t *Tensor) Add(o *Tensor) *Tensor { return binary(opAddT, t, o) }

// AddScaled returns t + alpha·o (torch.add with alpha).
func (t *Tensor) AddScaled(o *Tensor, alpha float64) *Tensor {
	return opAddT.call1(newArgs().t(t).t(o).scalar(alpha))
}

// AddScalar returns t + v.
func (t *Tensor) AddScalar(v float64) *Tensor { return withScalar(opAddS, t, v) }

// Sub returns t − o.
func (t *Tensor) Sub(o *Tensor) *Tensor { return binary(opSubT, t, o) }

// SubScalar returns t − v.
func (t *Tensor) SubScalar(v float64) *Tensor { return withScalar(opSubS, t, v) }

// Mul returns t·o elementwise.
func (t *Tensor) Mul(o *Tensor) *Tensor { return binary(opMulT, t, o) }

// MulScalar returns t·v.
func (t *Tensor) MulScalar(v float64) *Tensor { return withScalar(opMulS, t, v) }

// Div returns t/o elementwise (true division).
func (t *Tensor) Div(o *Tensor) *Tensor { return binary(opDivT, t, o) }

// DivScalar returns t/v.
func (t *Tensor) DivScalar(v float64) *Tensor { return withScalar(opDivS, t, v) }

// Pow returns t**e for a scalar exponent.
func (t *Tensor) Pow(e float64) *Tensor { return withScalar(opPowS, t, e) }

// PowTensor returns t**e elementwise.
func (t *Tensor) PowTensor(e *Tensor) *Tensor { return binary(opPowT, t, e) }

// Sqrt returns √t.
func (t *Tensor) Sqrt() *Tensor { return unary(opSqrt, t) }

// Exp returns eᵗ.
func (t *Tensor) Exp() *Tensor { return unary(opExp, t) }

// Log returns the natural logarithm.
func (t *Tensor) Log() *Tensor { return unary(opLog, t) }

// Abs returns |t|.
func (t *Tensor) Abs() *Tensor { return unary(opAbs, t) }

// Neg returns −t.
func (t *Tensor) Neg() *Tensor { return unary(opNeg, t) }

// Sigmoid returns 1/(1+e^−t).
func (t *Tensor) Sigmoid() *Tensor { return unary(opSigmoid, t) }

// Clamp limits values to [lo, hi] (torch.clamp(min=lo, max=hi)).
func (t *Tensor) Clamp(lo, hi float64) *Tensor {
	return opClamp.call1(newArgs().t(t).scalar(lo).scalar(hi))
}

// ClampMin limits values from below (torch.clamp(min=lo)).
func (t *Tensor) ClampMin(lo float64) *Tensor { return opClamp.call1(newArgs().t(t).scalar(lo).none()) }

// ClampMax limits values from above (torch.clamp(max=hi)).
func (t *Tensor) ClampMax(hi float64) *Tensor { return opClamp.call1(newArgs().t(t).none().scalar(hi)) }

// Maximum is the elementwise maximum (torch.maximum).
func (t *Tensor) Maximum(o *Tensor) *Tensor { return binary(opMaximum, t, o) }

// Minimum is the elementwise minimum (torch.minimum).
func (t *Tensor) Minimum(o *Tensor) *Tensor { return binary(opMinimum, t, o) }

// Matmul is torch.matmul.
func (t *Tensor) Matmul(o *Tensor) *Tensor { return binary(opMatmul, t, o) }

// Sum adds all elements (torch.sum).
func (t *Tensor) Sum() *Tensor { return unary(opSum, t) }

// SumDims adds over dims (torch.sum(dim, keepdim)).
func (t *Tensor) SumDims(dims []int64, keepdim bool) *Tensor {
	return opSumDim.call1(newArgs().t(t).ints(dims).bool(keepdim))
}

// Mean averages all elements (torch.mean).
func (t *Tensor) Mean() *Tensor { return unary(opMean, t) }

// MeanDims averages over dims (torch.mean(dim, keepdim)).
func (t *Tensor) MeanDims(dims []int64, keepdim bool) *Tensor {
	return opMeanDim.call1(newArgs().t(t).ints(dims).bool(keepdim))
}

// Amax is the maximum over dims (torch.amax); an empty dims reduces over all.
func (t *Tensor) Amax(dims []int64, keepdim bool) *Tensor {
	return opAmax.call1(newArgs().t(t).ints(dims).bool(keepdim))
}

// Amin is the minimum over dims (torch.amin).
func (t *Tensor) Amin(dims []int64, keepdim bool) *Tensor {
	return opAmin.call1(newArgs().t(t).ints(dims).bool(keepdim))
}

// Max is the largest element (torch.max(t)).
func (t *Tensor) Max() *Tensor { return unary(opMaxAll, t) }

// Min is the smallest element (torch.min(t)).
func (t *Tensor) Min() *Tensor { return unary(opMinAll, t) }

// Argmax returns the indices of the maxima along dim (torch.argmax(dim, keepdim)).
func (t *Tensor) Argmax(dim int64, keepdim bool) *Tensor {
	return opArgmax.call1(newArgs().t(t).i(dim).bool(keepdim))
}

// Std is the standard deviation over dims with the given correction (1: unbiased, 0: ddof 0).
func (t *Tensor) Std(dims []int64, correction int64, keepdim bool) *Tensor {
	x := newArgs().t(t)
	if dims == nil {
		x.none()
	} else {
		x.ints(dims)
	}
	return opStdCorr.call1(x.i(correction).bool(keepdim))
}

// Var is the variance over dims with the given correction.
func (t *Tensor) Var(dims []int64, correction int64, keepdim bool) *Tensor {
	x := newArgs().t(t)
	if dims == nil {
		x.none()
	} else {
		x.ints(dims)
	}
	return opVarCorr.call1(x.i(correction).bool(keepdim))
}

// Softmax along dim (F.softmax).
func (t *Tensor) Softmax(dim int64) *Tensor { return opSoftmax.call1(newArgs().t(t).i(dim)) }

// LogSoftmax along dim (F.log_softmax).
func (t *Tensor) LogSoftmax(dim int64) *Tensor { return opLogSoftmax.call1(newArgs().t(t).i(dim)) }

// OneHot encodes an int64 tensor of class indices (F.one_hot); numClasses −1 infers it.
func (t *Tensor) OneHot(numClasses int64) *Tensor {
	return opOneHot.call1(newArgs().t(t).i(numClasses))
}

// Scatter writes src into a copy of t at index along dim (torch.scatter).
func (t *Tensor) Scatter(dim int64, index, src *Tensor) *Tensor {
	return opScatterSrc.call1(newArgs().t(t).i(dim).t(index).t(src))
}

// ScatterValue writes v into a copy of t at index along dim.
func (t *Tensor) ScatterValue(dim int64, index *Tensor, v float64) *Tensor {
	return opScatterVal.call1(newArgs().t(t).i(dim).t(index).scalar(v))
}

// Gather picks values along dim at index (torch.gather).
func (t *Tensor) Gather(dim int64, index *Tensor) *Tensor {
	return opGather.call1(newArgs().t(t).i(dim).t(index))
}

// Quantile is torch.quantile(t, q, dim, keepdim, interpolation="linear") for a scalar q; dim nil
// flattens the tensor first.
func (t *Tensor) Quantile(q float64, dim *int64, keepdim bool) *Tensor {
	x := newArgs().t(t).f(q)
	if dim == nil {
		x.none()
	} else {
		x.i(*dim)
	}
	return opQuantileS.call1(x.bool(keepdim).str("linear"))
}

// Quantiles is torch.quantile with a tensor of q values (linear interpolation).
func (t *Tensor) Quantiles(q *Tensor, dim *int64, keepdim bool) *Tensor {
	x := newArgs().t(t).t(q)
	if dim == nil {
		x.none()
	} else {
		x.i(*dim)
	}
	return opQuantile.call1(x.bool(keepdim).str("linear"))
}

// Eq, Ne, Lt, Le, Gt, Ge compare elementwise and return bool tensors.
func (t *Tensor) Eq(o *Tensor) *Tensor { return binary(opEqT, t, o) }

// Ne is t != o.
func (t *Tensor) Ne(o *Tensor) *Tensor { return binary(opNeT, t, o) }

// Lt is t < o.
func (t *Tensor) Lt(o *Tensor) *Tensor { return binary(opLtT, t, o) }

// Le is t <= o.
func (t *Tensor) Le(o *Tensor) *Tensor { return binary(opLeT, t, o) }

// Gt is t > o.
func (t *Tensor) Gt(o *Tensor) *Tensor { return binary(opGtT, t, o) }

// Ge is t >= o.
func (t *Tensor) Ge(o *Tensor) *Tensor { return binary(opGeT, t, o) }

// EqScalar is t == v.
func (t *Tensor) EqScalar(v float64) *Tensor { return withScalar(opEqS, t, v) }

// NeScalar is t != v.
func (t *Tensor) NeScalar(v float64) *Tensor { return withScalar(opNeS, t, v) }

// LtScalar is t < v.
func (t *Tensor) LtScalar(v float64) *Tensor { return withScalar(opLtS, t, v) }

// LeScalar is t <= v.
func (t *Tensor) LeScalar(v float64) *Tensor { return withScalar(opLeS, t, v) }

// GtScalar is t > v.
func (t *Tensor) GtScalar(v float64) *Tensor { return withScalar(opGtS, t, v) }

// GeScalar is t >= v.
func (t *Tensor) GeScalar(v float64) *Tensor { return withScalar(opGeS, t, v) }

// Where picks a where cond is true, else b (torch.where(cond, a, b)).
func Where(cond, a, b *Tensor) *Tensor { return opWhere.call1(newArgs().t(cond).t(a).t(b)) }

// MaskedFill sets v where mask is true.
func (t *Tensor) MaskedFill(mask *Tensor, v float64) *Tensor {
	return opMaskedFill.call1(newArgs().t(t).t(mask).scalar(v))
}

// Reshape returns a tensor with the same data in a new shape (one dimension may be −1).
func (t *Tensor) Reshape(shape ...int64) *Tensor { return opReshape.call1(newArgs().t(t).ints(shape)) }

// View is Reshape without copying; it fails when the layout does not allow it.
func (t *Tensor) View(shape ...int64) *Tensor { return opView.call1(newArgs().t(t).ints(shape)) }

// Permute reorders dimensions.
func (t *Tensor) Permute(dims ...int64) *Tensor { return opPermute.call1(newArgs().t(t).ints(dims)) }

// Contiguous returns t laid out row-major (t itself, as a new handle, when it already is).
func (t *Tensor) Contiguous() *Tensor { return unary(opContiguous, t) }

// MemoryFormat is c10::MemoryFormat: how a 4-D tensor's elements are laid out.
type MemoryFormat int

// Memory formats.
const (
	ContiguousFormat MemoryFormat = 0 // NCHW row-major
	ChannelsLast     MemoryFormat = 2 // NHWC strides, NCHW shape (faster oneDNN convolutions on CPU)
)

// ContiguousAs returns t laid out in format f (x.contiguous(memory_format=f)).
func (t *Tensor) ContiguousAs(f MemoryFormat) *Tensor {
	return opContiguous.call1(newArgs().t(t).i(int64(f)))
}

// Transpose swaps two dimensions.
func (t *Tensor) Transpose(d0, d1 int64) *Tensor {
	return opTranspose.call1(newArgs().t(t).i(d0).i(d1))
}

// Squeeze removes dimension dim when its size is 1.
func (t *Tensor) Squeeze(dim int64) *Tensor { return opSqueezeDim.call1(newArgs().t(t).i(dim)) }

// Unsqueeze inserts a dimension of size 1 at dim.
func (t *Tensor) Unsqueeze(dim int64) *Tensor { return opUnsqueeze.call1(newArgs().t(t).i(dim)) }

// Flatten merges dimensions start..end.
func (t *Tensor) Flatten(start, end int64) *Tensor {
	return opFlatten.call1(newArgs().t(t).i(start).i(end))
}

// Expand broadcasts size-1 dimensions to shape without copying (−1 keeps a size).
func (t *Tensor) Expand(shape ...int64) *Tensor { return opExpand.call1(newArgs().t(t).ints(shape)) }

// Narrow returns length elements of dim starting at start, sharing storage.
func (t *Tensor) Narrow(dim, start, length int64) *Tensor {
	return opNarrow.call1(newArgs().t(t).i(dim).i(start).i(length))
}

// Slice is t[start:end:step] along dim, as Python slicing (negative and out-of-range bounds clip).
func (t *Tensor) Slice(dim, start, end, step int64) *Tensor {
	return opSlice.call1(newArgs().t(t).i(dim).i(start).i(end).i(step))
}

// Index is advanced indexing t[i0, i1, ...] with index or bool-mask tensors; a nil entry stands
// for a full slice ":".
func (t *Tensor) Index(indices ...*Tensor) *Tensor {
	return opIndex.call1(newArgs().t(t).optTs(indices))
}

// IndexSelect picks entries of dim at the int64 indices.
func (t *Tensor) IndexSelect(dim int64, index *Tensor) *Tensor {
	return opIndexSelect.call1(newArgs().t(t).i(dim).t(index))
}

// MaskedSelect returns the elements where mask is true, as a 1-D tensor.
func (t *Tensor) MaskedSelect(mask *Tensor) *Tensor { return binary(opMaskedSel, t, mask) }

// To converts the element type (the same tensor, as a new handle, when it already matches).
func (t *Tensor) To(d DType) *Tensor { return opToDtype.call1(newArgs().t(t).dtype(d)) }

// ToDevice moves t to a device, keeping its dtype.
func (t *Tensor) ToDevice(d Device) *Tensor {
	return opToDevice.call1(newArgs().t(t).device(d).dtype(t.DType()))
}

// Clone copies t (recorded by autograd).
func (t *Tensor) Clone() *Tensor { return unary(opClone, t) }

// Detach returns a tensor sharing t's data that autograd does not track.
func (t *Tensor) Detach() *Tensor { return unary(opDetach, t) }

// Sort sorts along dim and returns values and indices.
func (t *Tensor) Sort(dim int64, descending bool) (values, indices *Tensor) {
	r := opSort.call(newArgs().t(t).i(dim).bool(descending), 2)
	return r[0], r[1]
}

// ZerosLike returns zeros with t's shape, dtype and device.
func (t *Tensor) ZerosLike() *Tensor { return unary(opZerosLike, t) }

// OnesLike returns ones with t's shape, dtype and device.
func (t *Tensor) OnesLike() *Tensor { return unary(opOnesLike, t) }

// Cat concatenates along dim (torch.cat).
func Cat(ts []*Tensor, dim int64) *Tensor { return opCat.call1(newArgs().ts(ts).i(dim)) }

// Stack stacks along a new dim (torch.stack).
func Stack(ts []*Tensor, dim int64) *Tensor { return opStack.call1(newArgs().ts(ts).i(dim)) }

// In-place operators return t itself.

// AddInPlace is t.add_(o, alpha=alpha).
func (t *Tensor) AddInPlace(o *Tensor, alpha float64) *Tensor {
	return inplace(opAddInT, newArgs().t(t).t(o).scalar(alpha), t)
}

// AddScalarInPlace is t.add_(v).
func (t *Tensor) AddScalarInPlace(v float64) *Tensor {
	return inplace(opAddInS, newArgs().t(t).scalarFor(t, v), t)
}

// MulInPlace is t.mul_(o).
func (t *Tensor) MulInPlace(o *Tensor) *Tensor { return inplace(opMulInT, newArgs().t(t).t(o), t) }

// MulScalarInPlace is t.mul_(v).
func (t *Tensor) MulScalarInPlace(v float64) *Tensor {
	return inplace(opMulInS, newArgs().t(t).scalarFor(t, v), t)
}

// DivScalarInPlace is t.div_(v).
func (t *Tensor) DivScalarInPlace(v float64) *Tensor {
	return inplace(opDivInS, newArgs().t(t).scalar(v), t)
}

// AddcmulInPlace is t.addcmul_(a, b, value=v): t += v·a·b.
func (t *Tensor) AddcmulInPlace(a, b *Tensor, v float64) *Tensor {
	return inplace(opAddcmulIn, newArgs().t(t).t(a).t(b).scalar(v), t)
}

// AddcdivInPlace is t.addcdiv_(a, b, value=v): t += v·a/b.
func (t *Tensor) AddcdivInPlace(a, b *Tensor, v float64) *Tensor {
	return inplace(opAddcdivIn, newArgs().t(t).t(a).t(b).scalar(v), t)
}

// CopyInPlace is t.copy_(src).
func (t *Tensor) CopyInPlace(src *Tensor) *Tensor { return inplace(opCopyIn, newArgs().t(t).t(src), t) }

// ZeroInPlace is t.zero_().
func (t *Tensor) ZeroInPlace() *Tensor { return inplace(opZeroIn, newArgs().t(t), t) }

// FillInPlace is t.fill_(v).
func (t *Tensor) FillInPlace(v float64) *Tensor {
	return inplace(opFillIn, newArgs().t(t).scalar(v), t)
}

// UniformInPlace is t.uniform_(lo, hi), drawing from the default generator.
func (t *Tensor) UniformInPlace(lo, hi float64) *Tensor {
	return inplace(opUniformIn, newArgs().t(t).f(lo).f(hi), t)
}

// NormalInPlace is t.normal_(mean, std), drawing from the default generator.
func (t *Tensor) NormalInPlace(mean, std float64) *Tensor {
	return inplace(opNormalIn, newArgs().t(t).f(mean).f(std), t)
}
