package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
)

// quantileLimit is the most elements torch.quantile accepts (2^24): it sorts in float32 index
// arithmetic and refuses larger inputs.
const quantileLimit = 1 << 24

// LGSTLossWeights weigh the three LGST losses in the total (§3.5 step 7).
type LGSTLossWeights struct {
	ST, AE, STAE float64
}

// LGSTTrainConfig is the LGST optimiser, schedule and objective (§3.5).
type LGSTTrainConfig struct {
	LR, WeightDecay float64 // Adam over student + autoencoder, L2 weight decay as torch.optim.Adam
	// Iterations is the planned length of training: StepLR divides the rate by 10 every
	// int(0.95·Iterations) steps (once, in a run of Iterations steps).
	Iterations   int
	HardQuantile float64 // the student's st loss averages the errors at or above this quantile
	Weights      LGSTLossWeights
}

// DefaultLGSTTrainConfig is the official setting: Adam(lr 2e-4, weight_decay 1e-4), 60 000
// iterations (the rate drops to 2e-5 after 57 000), hard mining at the 0.999 quantile, all loss
// weights 1.
func DefaultLGSTTrainConfig() LGSTTrainConfig {
	return LGSTTrainConfig{LR: 2e-4, WeightDecay: 1e-4, Iterations: 60000, HardQuantile: 0.999,
		Weights: LGSTLossWeights{ST: 1, AE: 1, STAE: 1}}
}

// stepSize is StepLR's step_size, int(0.95·iterations) evaluated in float64 as Python does.
func (c LGSTTrainConfig) stepSize() int { return int(0.95 * float64(c.Iterations)) }

func (c LGSTTrainConfig) validate() error {
	if !(c.LR > 0) || !(c.WeightDecay >= 0) || math.IsInf(c.LR, 0) || math.IsInf(c.WeightDecay, 0) {
		return fmt.Errorf("train: LGST learning rate must be > 0 and weight decay ≥ 0, got %v and %v (DefaultLGSTTrainConfig has the official 2e-4 and 1e-4)",
			c.LR, c.WeightDecay)
	}
	if c.stepSize() < 1 {
		return fmt.Errorf("train: LGST iterations %d give a learning-rate step of int(0.95·%d) = %d; want at least 2 iterations",
			c.Iterations, c.Iterations, c.stepSize())
	}
	if !(c.HardQuantile > 0 && c.HardQuantile < 1) {
		return fmt.Errorf("train: LGST hard-mining quantile %v must lie in (0, 1) (official 0.999)", c.HardQuantile)
	}
	for _, w := range []float64{c.Weights.ST, c.Weights.AE, c.Weights.STAE} {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("train: LGST loss weights %+v must be finite", c.Weights)
		}
	}
	return nil
}

// LGSTLossValues are one step's losses, evaluated before the update. ST = Hard + Penalty (0
// without a penalty image); Total = w_st·ST + w_ae·AE + w_stae·STAE.
type LGSTLossValues struct {
	Total, ST, Hard, Penalty, AE, STAE float64
}

// LGSTTrainer trains net's local student and autoencoder against its frozen teacher, one
// iteration of §3.5 per Step. It owns its Adam state and schedule (Close frees the state), not
// the network. It is not safe for concurrent use.
type LGSTTrainer struct {
	cfg   LGSTTrainConfig
	net   *csad.Network
	opt   *optim.Adam
	sched *optim.StepLR
}

// NewLGSTTrainer prepares LGST training of net with Adam over the student's and then the
// autoencoder's parameters (the official itertools.chain order) and the StepLR schedule of cfg.
// net's teacher statistics must be set (TeacherStats) before the first Step: the trainer checks
// that σ is positive and finite.
func NewLGSTTrainer(net *csad.Network, cfg LGSTTrainConfig) (*LGSTTrainer, error) {
	if net == nil {
		return nil, errors.New("train: LGST training needs a network (csad.NewInitialised builds one)")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkTeacherStd(net); err != nil {
		return nil, err
	}
	var params []*torch.Tensor
	for _, l := range []nn.Layer{net.Student, net.AE} {
		for _, p := range nn.Parameters(l) {
			params = append(params, p.Tensor)
		}
	}
	adam := optim.DefaultAdam()
	adam.LR, adam.WeightDecay = cfg.LR, cfg.WeightDecay
	opt := optim.NewAdam(params, adam)
	return &LGSTTrainer{cfg: cfg, net: net, opt: opt, sched: optim.NewStepLR(opt, cfg.stepSize(), 0.1)}, nil
}

func checkTeacherStd(net *csad.Network) error {
	std, err := net.TeacherStd.Float32s()
	if err != nil {
		return fmt.Errorf("train: teacher std: %w", err)
	}
	for c, v := range std {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("train: teacher std of channel %d is %v: compute the teacher statistics (train.TeacherStats) before LGST training", c, v)
		}
	}
	return nil
}

// Optimizer is the trainer's Adam, for saving and restoring its state.
func (t *LGSTTrainer) Optimizer() *optim.Adam { return t.opt }

// Scheduler is the trainer's StepLR, for saving and restoring the step count.
func (t *LGSTTrainer) Scheduler() *optim.StepLR { return t.sched }

// Close frees the optimiser state. It is idempotent.
func (t *LGSTTrainer) Close() error {
	if t == nil || t.opt == nil {
		return nil
	}
	return t.opt.Close()
}

// Step runs one training iteration (§3.5) on a batch of preprocessed images (B, 3, S, S), their
// colour-jittered copies augImage (same shape) and an optional penalty batch (P, 3, S, S; nil
// for none):
//
//  1. t = (Teacher(image) − μ)/σ without gradients (encoder and teacher in eval mode);
//  2. st = Student(image).st; D = (t − st)²; Hard = mean(D[D ≥ quantile(D, 0.999)]);
//  3. Penalty = mean(Student(penalty).st²); ST = Hard + Penalty;
//  4. t_a = (Teacher(augImage) − μ)/σ without gradients; ae = Student(augImage).ae;
//     a = AE(augImage), dropout active;
//  5. AE = mean((t_a − a)²); STAE = mean((a − ae)²), with no detach, so it trains both networks;
//  6. the weighted total; zero grad, backward, Adam step, StepLR step.
//
// Student and autoencoder are put in training mode. The dropout masks come from LibTorch's
// global generator (torch.ManualSeed), as PyTorch's do. Everything the step makes is freed
// before it returns.
func (t *LGSTTrainer) Step(image, augImage, penalty *torch.Tensor) (LGSTLossValues, error) {
	if err := t.checkStep(image, augImage, penalty); err != nil {
		return LGSTLossValues{}, err
	}
	// One OS thread for the whole graph: LibTorch numbers autograd nodes per thread and sums
	// the gradients of the student's weights (used by three forwards) in that order (see
	// SegTrainer.Step).
	defer torch.StayOnThread()()
	net := t.net
	nn.SetTraining(net.Encoder, false)
	nn.SetTraining(net.Teacher, false)
	nn.SetTraining(net.Student, true)
	nn.SetTraining(net.AE, true)
	s := torch.NewScope()
	defer s.Close()

	tImg, err := t.teacher(s, image)
	if err != nil {
		return LGSTLossValues{}, err
	}
	st, ae := net.Student.Forward(image.Share(s))
	ae.Close() // the st loss reads the st head only
	d := tImg.Sub(st).Pow(2)
	dHard := d.Quantile(t.cfg.HardQuantile, nil, false)
	hard := d.Index(d.Ge(dHard)).Mean()
	lossST := hard
	var pen *torch.Tensor
	if penalty != nil {
		ps, pa := net.Student.Forward(penalty.Share(s))
		pa.Close()
		pen = ps.Pow(2).Mean()
		lossST = hard.Add(pen)
	}

	tAug, err := t.teacher(s, augImage)
	if err != nil {
		return LGSTLossValues{}, err
	}
	ast, aae := net.Student.Forward(augImage.Share(s))
	ast.Close()
	a := net.AE.Forward(augImage.Share(s))
	lossAE := tAug.Sub(a).Pow(2).Mean()
	lossSTAE := a.Sub(aae).Pow(2).Mean()
	w := t.cfg.Weights
	total := lossST.MulScalar(w.ST).Add(lossAE.MulScalar(w.AE)).Add(lossSTAE.MulScalar(w.STAE))
	if err := s.Err(); err != nil {
		return LGSTLossValues{}, fmt.Errorf("train: LGST losses: %w", err)
	}
	if err := t.opt.ZeroGrad(); err != nil {
		return LGSTLossValues{}, fmt.Errorf("train: zero grad: %w", err)
	}
	if err := total.Backward(); err != nil {
		return LGSTLossValues{}, fmt.Errorf("train: backward: %w", err)
	}
	if err := t.opt.Step(); err != nil {
		return LGSTLossValues{}, fmt.Errorf("train: %w", err)
	}
	t.sched.Step()

	var v LGSTLossValues
	type item struct {
		dst *float64
		x   *torch.Tensor
	}
	items := []item{{&v.Total, total}, {&v.ST, lossST}, {&v.Hard, hard}, {&v.AE, lossAE}, {&v.STAE, lossSTAE}}
	if pen != nil {
		items = append(items, item{&v.Penalty, pen})
	}
	for _, it := range items {
		if *it.dst, err = it.x.Item(); err != nil {
			return LGSTLossValues{}, fmt.Errorf("train: LGST loss value: %w", err)
		}
	}
	return v, nil
}

// teacher returns the normalised teacher map (t − μ)/σ of x, computed without gradients and
// handed to the grad scope s.
func (t *LGSTTrainer) teacher(s *torch.Scope, x *torch.Tensor) (*torch.Tensor, error) {
	var out *torch.Tensor
	err := torch.Do(torch.NoGradMode, func(ns *torch.Scope) error {
		out = s.Own(normalisedTeacher(t.net, x.Share(ns)))
		return out.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("train: teacher: %w", err)
	}
	return out, nil
}

// normalisedTeacher is (Teacher(Encoder(x)) − μ)/σ in x's scope.
func normalisedTeacher(net *csad.Network, x *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	raw := net.Teacher.Forward(net.Encoder.Forward(f.Use(x)))
	return f.Return(raw.Sub(f.Use(net.TeacherMean)).Div(f.Use(net.TeacherStd)))
}

// checkStep validates a step's inputs before anything runs, so a bad batch changes no weight.
func (t *LGSTTrainer) checkStep(image, augImage, penalty *torch.Tensor) error {
	cfg := t.net.Config()
	img := func(what string, x *torch.Tensor) ([]int64, error) {
		if x == nil {
			return nil, fmt.Errorf("train: LGST %s batch is nil", what)
		}
		if err := x.Err(); err != nil {
			return nil, fmt.Errorf("train: LGST %s batch: %w", what, err)
		}
		sh := x.Shape()
		if len(sh) != 4 || sh[0] < 1 || sh[1] != 3 || sh[2] != cfg.ImageSize || sh[3] != cfg.ImageSize || x.DType() != torch.Float32 {
			return nil, fmt.Errorf("train: LGST %s batch must be float32 (B, 3, %d, %d) with B ≥ 1, got %v %v: preprocess images with imageproc.Preprocess",
				what, cfg.ImageSize, cfg.ImageSize, x.DType(), sh)
		}
		return sh, nil
	}
	is, err := img("image", image)
	if err != nil {
		return err
	}
	as, err := img("augmented image", augImage)
	if err != nil {
		return err
	}
	if as[0] != is[0] {
		return fmt.Errorf("train: LGST augmented batch has %d images, image batch %d: each image needs its jittered copy", as[0], is[0])
	}
	if penalty != nil {
		if _, err := img("penalty", penalty); err != nil {
			return err
		}
	}
	if n := is[0] * cfg.TeacherChannels * cfg.FeatureSize * cfg.FeatureSize; n > quantileLimit {
		return fmt.Errorf("train: LGST hard mining over a batch of %d gives %d values, more than torch.quantile's limit of 2^24; use batches of at most %d images",
			is[0], n, quantileLimit/(cfg.TeacherChannels*cfg.FeatureSize*cfg.FeatureSize))
	}
	return nil
}
