package torch

// Operators that training losses need (csad/train). Like ops.go, each calls the ATen operator of
// the Python function named in its comment, so values and gradients are PyTorch's.

var (
	opCrossEntropy = newOp("aten::cross_entropy_loss", "")
	opReciprocal   = newOp("aten::reciprocal", "")
)

// CrossEntropy is F.cross_entropy(t, target) with mean reduction, no class weights, no ignored
// index and no label smoothing. t holds logits (B, C, ...); target is either int64 class
// indices (B, ...) or class probabilities of t's shape and dtype, as in PyTorch.
func (t *Tensor) CrossEntropy(target *Tensor) *Tensor {
	const reductionMean, ignoreNone = 1, -100
	return opCrossEntropy.call1(newArgs().t(t).t(target).none().i(reductionMean).i(ignoreNone).f(0))
}

// Reciprocal is torch.reciprocal(t), 1/t element-wise (what Python's 1 / t evaluates).
func (t *Tensor) Reciprocal() *Tensor { return unary(opReciprocal, t) }
