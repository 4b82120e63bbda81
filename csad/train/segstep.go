package train

import (
	"errors"
	"fmt"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
)

// SegTrainConfig is the segmentor's optimiser and objective (§4.3).
type SegTrainConfig struct {
	LR, WeightDecay float64 // Adam, L2 weight decay as torch.optim.Adam
	Loss            SegLossConfig
}

// DefaultSegTrainConfig is the official Adam(lr 0.01, weight_decay 1e-5) with the official loss
// weights and the intended cross-entropy.
func DefaultSegTrainConfig() SegTrainConfig {
	return SegTrainConfig{LR: 0.01, WeightDecay: 1e-5, Loss: DefaultSegLossConfig()}
}

// SupBatch is a supervised batch of the segmentor's training set.
type SupBatch struct {
	Images *torch.Tensor // (B, 3, S, S) preprocessed images
	GT     *torch.Tensor // (B, S, S) int64 pseudo-label maps
	RandGT *torch.Tensor // (B, S, S) int64 label maps of random good images: the histogram target
}

// classifierBias is the segmentor's last layer's bias, one entry per class (§4.1 state keys).
const classifierBias = "fc2.conv3.bias"

// SegTrainer trains the segmentor on frozen encoder features, one iteration of §4.3 per Step.
// It owns its Adam state (Close frees it), not the networks. It is not safe for concurrent use.
type SegTrainer struct {
	// Loss is the objective of the next Step; it may change between steps.
	Loss    SegLossConfig
	enc     *csad.Encoder
	seg     *csad.Segmentor
	opt     *optim.Adam
	classes int64
}

// NewSegTrainer prepares training of seg on features of enc, with Adam over seg's parameters.
func NewSegTrainer(enc *csad.Encoder, seg *csad.Segmentor, cfg SegTrainConfig) (*SegTrainer, error) {
	if enc == nil || seg == nil {
		return nil, errors.New("train: segmentor training needs an encoder and a segmentor (csad.NewInitialised builds both)")
	}
	if !(cfg.LR > 0) || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("train: segmentor learning rate must be > 0 and weight decay ≥ 0, got %v and %v (DefaultSegTrainConfig has the official 0.01 and 1e-5)",
			cfg.LR, cfg.WeightDecay)
	}
	var params []*torch.Tensor
	var classes int64
	for _, p := range nn.Parameters(seg) {
		params = append(params, p.Tensor)
		if p.Name == classifierBias {
			classes = p.Tensor.Shape()[0]
		}
	}
	if classes < 2 {
		return nil, fmt.Errorf("train: the segmentor has no %s with at least 2 classes", classifierBias)
	}
	adam := optim.DefaultAdam()
	adam.LR, adam.WeightDecay = cfg.LR, cfg.WeightDecay
	return &SegTrainer{Loss: cfg.Loss, enc: enc, seg: seg, opt: optim.NewAdam(params, adam), classes: classes}, nil
}

// Optimizer is the trainer's Adam, for saving and restoring its state.
func (t *SegTrainer) Optimizer() *optim.Adam { return t.opt }

// Close frees the optimiser state. It is idempotent.
func (t *SegTrainer) Close() error {
	if t == nil || t.opt == nil {
		return nil
	}
	return t.opt.Close()
}

// Step runs one training iteration (§4.3): encoder features of both batches without gradients
// (encoder in eval mode); z_s = Seg(sup) and then z_u = Seg(unsup) with the segmentor in training
// mode, so its BatchNorm layers normalise with batch statistics and their running statistics end
// up ≈ those of the unsup batch (momentum 0.999, §8.2 item 5); the loss of SegLoss; zero grad,
// backward, Adam step. supOnly is the official "epoch < sup_only_epoch" phase; both forwards run
// in either phase, as in the official loop. It returns the loss terms, evaluated before the
// update. Everything the step makes is freed before it returns.
func (t *SegTrainer) Step(sup SupBatch, unsup *torch.Tensor, supOnly bool) (SegLossValues, error) {
	if err := checkBatches(sup, unsup, t.classes); err != nil {
		return SegLossValues{}, err
	}
	// LibTorch numbers autograd nodes with a per-OS-thread counter, and backward runs ready
	// nodes highest number first, which fixes the order in which the gradients of a tensor used
	// several times (the logits feed four losses) are summed. A goroutine that moved between
	// threads while building the graph would number its nodes from several counters, and the
	// sums would round differently from run to run. One thread for the whole step keeps
	// PyTorch's order; the step's own cost dwarfs the lock's.
	defer torch.StayOnThread()()
	nn.SetTraining(t.enc, false)
	nn.SetTraining(t.seg, true)
	s := torch.NewScope()
	defer s.Close()
	var fs, fu csad.Features
	err := torch.Do(torch.NoGradMode, func(ns *torch.Scope) error {
		fs = t.enc.Forward(sup.Images.Share(ns))
		fu = t.enc.Forward(unsup.Share(ns))
		// the features outlive the no-grad scope: the grad scope takes them
		var errs []error
		for _, x := range []*torch.Tensor{fs.Layer1, fs.Layer2, fs.Layer3, fu.Layer1, fu.Layer2, fu.Layer3} {
			errs = append(errs, s.Own(x).Err())
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return SegLossValues{}, fmt.Errorf("train: encoder features: %w", err)
	}
	fs.Layer2.Close() // the segmentor reads layers 1 and 3 only
	fu.Layer2.Close()
	zs := t.seg.Forward(fs)
	zu := t.seg.Forward(fu)
	if err := errors.Join(zs.Err(), zu.Err()); err != nil {
		return SegLossValues{}, fmt.Errorf("train: segmentor forward: %w", err)
	}
	terms, err := t.Loss.SegLoss(zs, sup.GT.Share(s), zu, sup.RandGT.Share(s), supOnly)
	if err != nil {
		return SegLossValues{}, err
	}
	if err := t.opt.ZeroGrad(); err != nil {
		return SegLossValues{}, fmt.Errorf("train: zero grad: %w", err)
	}
	if err := terms.Total.Backward(); err != nil {
		return SegLossValues{}, fmt.Errorf("train: backward: %w", err)
	}
	if err := t.opt.Step(); err != nil {
		return SegLossValues{}, fmt.Errorf("train: %w", err)
	}
	return terms.Values()
}

// checkBatches validates a step's inputs before anything runs, so a bad batch changes no
// BatchNorm statistic and no weight.
func checkBatches(sup SupBatch, unsup *torch.Tensor, classes int64) error {
	img := func(what string, x *torch.Tensor) ([]int64, error) {
		if x == nil {
			return nil, fmt.Errorf("train: %s images are nil", what)
		}
		if err := x.Err(); err != nil {
			return nil, fmt.Errorf("train: %s images: %w", what, err)
		}
		sh := x.Shape()
		if len(sh) != 4 || sh[1] != 3 || x.DType() != torch.Float32 {
			return nil, fmt.Errorf("train: %s images must be float32 (B, 3, H, W), got %v %v", what, x.DType(), sh)
		}
		return sh, nil
	}
	ss, err := img("sup", sup.Images)
	if err != nil {
		return err
	}
	us, err := img("unsup", unsup)
	if err != nil {
		return err
	}
	if us[2] != ss[2] || us[3] != ss[3] {
		return fmt.Errorf("train: unsup images are %d×%d, sup images %d×%d: both batches must be preprocessed to the same size", us[2], us[3], ss[2], ss[3])
	}
	if us[0] != ss[0] {
		// randGT comes with the sup batch and is compared with the unsup predictions
		return fmt.Errorf("train: unsup batch has %d images, sup batch %d: the histogram target of each sup image is paired with one unsup image", us[0], ss[0])
	}
	for _, l := range []struct {
		what string
		x    *torch.Tensor
	}{{"gt", sup.GT}, {"rand_gt", sup.RandGT}} {
		if l.x == nil {
			return fmt.Errorf("train: sup batch %s is nil", l.what)
		}
		if err := l.x.Err(); err != nil {
			return fmt.Errorf("train: sup batch %s: %w", l.what, err)
		}
		if sh := l.x.Shape(); l.x.DType() != torch.Int64 || len(sh) != 3 || sh[0] != ss[0] || sh[1] != ss[2] || sh[2] != ss[3] {
			return fmt.Errorf("train: sup batch %s must be int64 (B, H, W) = (%d, %d, %d) like the images, got %v %v",
				l.what, ss[0], ss[2], ss[3], l.x.DType(), sh)
		}
		lo, hi, err := labelRange(l.x)
		if err != nil {
			return fmt.Errorf("train: sup batch %s: %w", l.what, err)
		}
		if lo < 0 || hi >= classes {
			return fmt.Errorf("train: sup batch %s labels span [%d, %d] but the segmentor has %d classes (0..%d): "+
				"the label maps and the segmentor disagree on the class count", l.what, lo, hi, classes, classes-1)
		}
	}
	return nil
}
