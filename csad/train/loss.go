package train

import (
	"errors"
	"fmt"

	"github.com/csad-go/csad/torch"
)

// focalSmooth is the focal loss's label smoothing, also added to pt before the log (§4.2).
const focalSmooth = 1e-5

// The losses below evaluate §4.2 operator by operator in the official order, with the official
// layouts (one-hot maps as permuted views of F.one_hot), so that values and gradients equal
// PyTorch's bit for bit: a training step feeds Adam, whose first update is ±lr wherever a
// gradient is not tiny, so a gradient that differs only in the last bit near zero can move a
// weight by 2·lr. Each returns a 0-dim tensor in the youngest scope among its operands and frees
// its intermediates; the operands must belong to a scope.

// CrossEntropy is the segmentor's cross-entropy on logits z (B, N, H, W) against class indices
// target (B, H, W), mean over pixels. With official, it reproduces §4.2 as written (flagged in
// §8.2 item 4): PyTorch's CrossEntropyLoss with one-hot probability targets applied to
// softmax(z), which softmaxes twice; without, it is the intended F.cross_entropy(z, target).
func CrossEntropy(z, target *torch.Tensor, official bool) (*torch.Tensor, error) {
	return checked("cross entropy", z, target, func(z, t *torch.Tensor, n int64) *torch.Tensor {
		return crossEntropy(z, t, n, official)
	})
}

func crossEntropy(z, t *torch.Tensor, n int64, official bool) *torch.Tensor {
	if !official {
		return z.CrossEntropy(t)
	}
	return z.Softmax(1).CrossEntropy(oneHotNCHW(t, n))
}

// Focal is the focal loss with γ 2, unit α and label smoothing s = 1e-5: with p = softmax(z) and
// ŷ = clamp(one-hot(target), s/(N−1), 1−s) per pixel, pt = Σ_c ŷ_c p_c + s and the loss is the
// pixel mean of −(1−pt)² log pt.
func Focal(z, target *torch.Tensor) (*torch.Tensor, error) {
	return checked("focal", z, target, focal)
}

func focal(z, t *torch.Tensor, n int64) *torch.Tensor {
	// pixels as rows (B·H·W, N), the layout the official code flattens to
	p := z.Softmax(1).View(z.Shape()[0], n, -1).Permute(0, 2, 1).Contiguous().View(-1, n)
	y := t.Reshape(-1).OneHot(n).To(torch.Float32).Clamp(focalSmooth/float64(n-1), 1-focalSmooth)
	pt := y.Mul(p).SumDims([]int64{1}, false).AddScalar(focalSmooth)
	return oneMinus(pt).Pow(2).Neg().Mul(pt.Log()).Mean()
}

// Dice is the class-balanced Dice loss (§8.2 item 15): class weights w_c = 1/(count_c + 1e-5)
// counted over the whole batch and normalised to sum 1, so a class absent from the batch gets
// weight ≈ 1 and dominates; per sample and class dice = (2 Σ p·y + 1e-5)/(Σ p + Σ y + 2e-5)
// over H, W; the loss is the mean over (b, c) of w_c (1 − dice).
func Dice(z, target *torch.Tensor) (*torch.Tensor, error) {
	return checked("dice", z, target, dice)
}

func dice(z, t *torch.Tensor, n int64) *torch.Tensor {
	p := z.Softmax(1)
	y := oneHotNCHW(t, n)
	w := y.SumDims([]int64{0, 2, 3}, false).AddScalar(1e-5).Reciprocal()
	w = w.Div(w.Sum())
	hw := []int64{2, 3}
	inter := p.Mul(y).SumDims(hw, false).MulScalar(2)
	// the official union adds 1e-5 once and the ratio once more: two additions, not one of 2e-5
	union := p.SumDims(hw, false).Add(y.SumDims(hw, false)).AddScalar(1e-5)
	d := inter.AddScalar(1e-5).Div(union.AddScalar(1e-5))
	return w.Reshape(1, n).Mul(oneMinus(d)).Mean()
}

// Hist is the histogram loss with the background class 0 ignored: the class-area fractions of
// target, h_t = mean over H, W of one-hot(target), against those predicted, h_p = mean over H, W
// of softmax(z); the loss is Σ over b and c ≥ 1 of |h_t − h_p|, divided by B. In training the
// target is the label map of a random good image, unrelated to z's image (§8.2 item 16).
func Hist(z, target *torch.Tensor) (*torch.Tensor, error) {
	return checked("hist", z, target, hist)
}

func hist(z, t *torch.Tensor, n int64) *torch.Tensor {
	hw := []int64{2, 3}
	diff := oneHotNCHW(t, n).MeanDims(hw, false).Sub(z.Softmax(1).MeanDims(hw, false)).Abs()
	// contiguous first: the official code concatenates the kept columns, and a strided sum
	// rounds differently
	return diff.Narrow(1, 1, n-1).Contiguous().Sum().DivScalar(float64(z.Shape()[0]))
}

// Entropy is the mean over every element of −p log(p + 1e-5), p = softmax(z) over classes.
func Entropy(z *torch.Tensor) (*torch.Tensor, error) {
	if _, err := checkLogits("entropy", z); err != nil {
		return nil, err
	}
	return result("entropy", framed(entropy, z))
}

func entropy(z *torch.Tensor) *torch.Tensor {
	p := z.Softmax(1)
	return p.Neg().Mul(p.AddScalar(1e-5).Log()).Mean()
}

// SegLossWeights are the weights of the segmentor's loss terms (§4.3).
type SegLossWeights struct {
	CE, Focal, Dice, Hist, Entropy float64
}

// DefaultSegLossWeights are the official weights, identical for every category: CE 0.5, focal
// 10, Dice 1, histogram 10, entropy 1.
func DefaultSegLossWeights() SegLossWeights {
	return SegLossWeights{CE: 0.5, Focal: 10, Dice: 1, Hist: 10, Entropy: 1}
}

// SegLossConfig chooses the segmentor's objective.
type SegLossConfig struct {
	Weights SegLossWeights
	// OfficialCE applies the cross-entropy to softmax(z) as the official code does (§8.2 item 4),
	// to reproduce its numbers; false is the intended cross-entropy on the logits.
	OfficialCE bool
}

// DefaultSegLossConfig is the official weights with the intended cross-entropy.
func DefaultSegLossConfig() SegLossConfig {
	return SegLossConfig{Weights: DefaultSegLossWeights()}
}

// SegLossTerms are the weighted terms of one evaluation of the objective (0-dim tensors): Total
// is what training differentiates; the others are its parts, as the official training log
// reports them. In sup-only mode Hist and EntropyUnsup are still computed, for the log, but are
// not part of Total.
type SegLossTerms struct {
	Total, CE, Focal, Dice, Hist, EntropySup, EntropyUnsup *torch.Tensor
}

// SegLossValues are SegLossTerms read back as numbers.
type SegLossValues struct {
	Total, CE, Focal, Dice, Hist, EntropySup, EntropyUnsup float64
}

// Values reads the terms back.
func (t SegLossTerms) Values() (SegLossValues, error) {
	var v SegLossValues
	dst := []*float64{&v.Total, &v.CE, &v.Focal, &v.Dice, &v.Hist, &v.EntropySup, &v.EntropyUnsup}
	names := []string{"total", "ce", "focal", "dice", "hist", "entropy_sup", "entropy_unsup"}
	for i, x := range t.list() {
		var err error
		if *dst[i], err = x.Item(); err != nil {
			return v, fmt.Errorf("train: loss term %s: %w", names[i], err)
		}
	}
	return v, nil
}

func (t SegLossTerms) list() []*torch.Tensor {
	return []*torch.Tensor{t.Total, t.CE, t.Focal, t.Dice, t.Hist, t.EntropySup, t.EntropyUnsup}
}

// SegLoss evaluates the segmentor's objective (§4.3 steps 2–4) on the logits of a supervised
// batch zSup (B, N, H, W) with its pseudo-labels gt (B, H, W) and on the logits of an
// unsupervised batch zUnsup (B', N, H, W) with randGT (B', H, W), the label maps of random good
// images:
//
//	L_sup   = w_ce·CE(z_s, gt) + w_focal·Focal(z_s, gt) + w_dice·Dice(z_s, gt)
//	L_unsup = w_hist·Hist(z_u, randGT) + w_ent·Entropy(z_u)
//	L       = L_sup                                   (supOnly: the first sup_only_epoch epochs)
//	L       = L_sup + L_unsup + w_ent·Entropy(z_s)    (afterwards)
//
// Terms are built in the official order, so that autograd sums the four gradients of z_s in
// PyTorch's order; for that order to hold, build the graph (forward and SegLoss) and run backward
// on one OS thread (runtime.LockOSThread), as SegTrainer.Step does. The terms belong to the
// youngest scope among the operands.
func (c SegLossConfig) SegLoss(zSup, gt, zUnsup, randGT *torch.Tensor, supOnly bool) (SegLossTerms, error) {
	ns, err := checkPair("sup", zSup, gt)
	if err != nil {
		return SegLossTerms{}, err
	}
	nu, err := checkPair("unsup", zUnsup, randGT)
	if err != nil {
		return SegLossTerms{}, err
	}
	if ns != nu {
		return SegLossTerms{}, fmt.Errorf("train: sup logits have %d classes, unsup logits %d: both must come from the same segmentor", ns, nu)
	}
	f := torch.NewFrame(zSup, gt, zUnsup, randGT)
	defer f.Close()
	zs, g, zu, rg := f.Use(zSup), f.Use(gt), f.Use(zUnsup), f.Use(randGT)
	w := c.Weights
	// Each loss runs in a frame of its own, so its intermediates go as soon as it is built
	// (autograd keeps what backward needs).
	var t SegLossTerms
	t.CE = framedPair(zs, g, ns, func(z, t *torch.Tensor, n int64) *torch.Tensor {
		return crossEntropy(z, t, n, c.OfficialCE)
	}).MulScalar(w.CE)
	t.Focal = framedPair(zs, g, ns, focal).MulScalar(w.Focal)
	t.Dice = framedPair(zs, g, ns, dice).MulScalar(w.Dice)
	t.EntropySup = framed(entropy, zs).MulScalar(w.Entropy)
	t.Hist = framedPair(zu, rg, ns, hist).MulScalar(w.Hist)
	t.EntropyUnsup = framed(entropy, zu).MulScalar(w.Entropy)
	sup := t.CE.Add(t.Focal).Add(t.Dice)
	if supOnly {
		t.Total = sup
	} else {
		t.Total = sup.Add(t.Hist.Add(t.EntropyUnsup)).Add(t.EntropySup)
	}
	if err := f.Err(); err != nil {
		return SegLossTerms{}, fmt.Errorf("train: seg loss: %w", err)
	}
	for _, x := range t.list() {
		if err := x.Err(); err != nil {
			return SegLossTerms{}, fmt.Errorf("train: seg loss: %w", err)
		}
	}
	return SegLossTerms{Total: f.Return(t.Total), CE: f.Return(t.CE), Focal: f.Return(t.Focal), Dice: f.Return(t.Dice),
		Hist: f.Return(t.Hist), EntropySup: f.Return(t.EntropySup), EntropyUnsup: f.Return(t.EntropyUnsup)}, nil
}

// Close frees the terms (they are also freed with their scope).
func (t SegLossTerms) Close() {
	for _, x := range t.list() {
		x.Close()
	}
}

// checked validates z and target, then evaluates loss in a frame of its own.
func checked(what string, z, target *torch.Tensor, loss func(z, t *torch.Tensor, n int64) *torch.Tensor) (*torch.Tensor, error) {
	n, err := checkPair(what, z, target)
	if err != nil {
		return nil, err
	}
	return result(what, framedPair(z, target, n, loss))
}

// result turns a failed loss tensor into an error.
func result(what string, r *torch.Tensor) (*torch.Tensor, error) {
	if err := r.Err(); err != nil {
		r.Close()
		return nil, fmt.Errorf("train: %s: %w", what, err)
	}
	return r, nil
}

// framedPair runs loss on handles of z and t in a frame, returning only its result.
func framedPair(z, t *torch.Tensor, n int64, loss func(z, t *torch.Tensor, n int64) *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(z, t)
	defer f.Close()
	return f.Return(loss(f.Use(z), f.Use(t), n))
}

// framed runs loss on a handle of z in a frame, returning only its result.
func framed(loss func(z *torch.Tensor) *torch.Tensor, z *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(z)
	defer f.Close()
	return f.Return(loss(f.Use(z)))
}

// oneHotNCHW is one-hot(t) (B, H, W) → float32 (B, N, H, W) as a permuted view of F.one_hot,
// classes innermost in memory: the layout of the official code, which fixes how its sums round.
func oneHotNCHW(t *torch.Tensor, n int64) *torch.Tensor {
	return t.OneHot(n).Permute(0, 3, 1, 2).To(torch.Float32)
}

// oneMinus is 1 − x (Python's rsub): −x + 1 is the same IEEE value and the same gradient.
func oneMinus(x *torch.Tensor) *torch.Tensor { return x.Neg().AddScalar(1) }

// checkLogits validates logits (B, N, H, W) and returns N.
func checkLogits(what string, z *torch.Tensor) (int64, error) {
	if z == nil {
		return 0, fmt.Errorf("train: %s: logits are nil", what)
	}
	if err := z.Err(); err != nil {
		return 0, fmt.Errorf("train: %s: logits: %w", what, err)
	}
	if z.Scope() == nil {
		return 0, fmt.Errorf("train: %s: logits belong to no scope: create them in a torch.Scope so the loss has somewhere to live", what)
	}
	sh := z.Shape()
	if len(sh) != 4 || z.DType() != torch.Float32 {
		return 0, fmt.Errorf("train: %s: logits must be float32 (B, N, H, W), got %v %v", what, z.DType(), sh)
	}
	if sh[1] < 2 || sh[0] < 1 || sh[2] < 1 || sh[3] < 1 {
		return 0, fmt.Errorf("train: %s: logits %v need a batch, at least 2 classes and a non-empty map", what, sh)
	}
	return sh[1], nil
}

// checkPair validates logits and a class-index map of the same batch and size, with every label
// a class of the logits (one-hot encoding would fail on any other), and returns N.
func checkPair(what string, z, target *torch.Tensor) (int64, error) {
	n, err := checkLogits(what, z)
	if err != nil {
		return 0, err
	}
	if target == nil {
		return 0, fmt.Errorf("train: %s: target is nil", what)
	}
	if err := target.Err(); err != nil {
		return 0, fmt.Errorf("train: %s: target: %w", what, err)
	}
	zs, ts := z.Shape(), target.Shape()
	if target.DType() != torch.Int64 || len(ts) != 3 || ts[0] != zs[0] || ts[1] != zs[2] || ts[2] != zs[3] {
		return 0, fmt.Errorf("train: %s: target must be int64 (B, H, W) = (%d, %d, %d) to match the logits %v, got %v %v",
			what, zs[0], zs[2], zs[3], zs, target.DType(), ts)
	}
	lo, hi, err := labelRange(target)
	if err != nil {
		return 0, fmt.Errorf("train: %s: target: %w", what, err)
	}
	if lo < 0 || hi >= n {
		return 0, fmt.Errorf("train: %s: target labels span [%d, %d] but the logits have %d classes (0..%d): "+
			"the label maps and the segmentor disagree on the class count", what, lo, hi, n, n-1)
	}
	return n, nil
}

func labelRange(t *torch.Tensor) (lo, hi int64, err error) {
	err = torch.Do(torch.NoGradMode, func(s *torch.Scope) error {
		u := t.Share(s)
		a, err1 := u.Min().Item()
		b, err2 := u.Max().Item()
		lo, hi = int64(a), int64(b)
		return errors.Join(err1, err2)
	})
	return lo, hi, err
}
