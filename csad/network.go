package csad

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/cpu"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Network is the unified CSAD model (the official CSAD_ONNX module), parameter for parameter
// and with the same state-dict names, so the official ckpt/pytorch_models/<category>.pth loads
// into it directly.
type Network struct {
	nn.Module
	cfg Config

	TeacherMean, TeacherStd                        *torch.Tensor // (1, C, 1, 1)
	QSTStart, QSTEnd, QAEStart, QAEEnd             *torch.Tensor // map quantiles, 0-dim
	LGSTMean, LGSTStd, PatchHistMean, PatchHistStd *torch.Tensor // score normalisers, 0-dim

	Encoder   *Encoder
	Teacher   *TeacherHead
	Student   *LocalStudent
	AE        *AutoEncoder
	Segmentor *Segmentor
	Detector  *PatchHistDetector

	fast *fastWeights // fast mode's derived weights (fast.go, UseChannelsLast); nil in exact mode
	// fastOnly: the branches' own tensors were freed once folded (keepOnlyFast), and only the
	// fast forward pass can run.
	fastOnly bool
	// bf16: fast mode runs the student's and the autoencoder's convolutions in bfloat16
	// (UseBFloat16).
	bf16 bool
}

// errFastOnly is what a network that kept only fast mode's weights answers to everything else.
var errFastOnly = errors.New("csad: this network kept only fast mode's weights (a Model loaded with Options.Fast frees the originals once folded): load the model without Fast for the exact forward pass, training, saving or exporting")

// NewNetwork allocates a zeroed network of cfg in evaluation mode; load weights next.
func NewNetwork(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Network{cfg: cfg}
	m := &n.Module
	z := func(name string, shape ...int64) *torch.Tensor {
		return m.RegisterBuffer(name, torch.Zeros(nil, shape, torch.Float32))
	}
	c := cfg.TeacherChannels
	n.TeacherMean, n.TeacherStd = z("teacher_mean", 1, c, 1, 1), z("teacher_std", 1, c, 1, 1)
	n.QSTStart, n.QSTEnd, n.QAEStart, n.QAEEnd = z("q_st_start"), z("q_st_end"), z("q_ae_start"), z("q_ae_end")
	n.LGSTMean, n.LGSTStd = z("lgst_mean"), z("lgst_std")
	n.PatchHistMean, n.PatchHistStd = z("patch_hist_mean"), z("patch_hist_std")
	n.Encoder = nn.RegisterModule(m, "encoder", NewEncoder(cfg))
	n.Teacher = nn.RegisterModule(m, "teacher", NewTeacherHead(cfg))
	n.Student = nn.RegisterModule(m, "local_st", NewLocalStudent(cfg))
	n.AE = nn.RegisterModule(m, "autoencoder", NewAutoEncoder(cfg))
	n.Segmentor = nn.RegisterModule(m, "segmentor", NewSegmentor(cfg))
	n.Detector = nn.RegisterModule(m, "patch_hist_detector", NewPatchHistDetector(cfg.Segmentor.Classes, cfg.ImageSize))
	nn.SetTraining(n, false)
	if err := nn.Err(n); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Config returns the network's sizes.
func (n *Network) Config() Config { return n.cfg }

// Outputs are the per-sample results of a forward pass; every tensor has batch size B first.
type Outputs struct {
	Score     *torch.Tensor // (B) fused: z(LGST) + z(patch histogram)
	LGST      *torch.Tensor // (B) max of the normalised local+global map
	PatchHist *torch.Tensor // (B) z(d256) + z(d128), before its own normalisation
	D256      *torch.Tensor // (B) Mahalanobis distance of the whole-image histogram
	D128      *torch.Tensor // (B) Mahalanobis distance of the quadrant histograms
	Local     *torch.Tensor // (B, 64, 64) normalised local (student–teacher) map
	Global    *torch.Tensor // (B, 64, 64) normalised global (student–autoencoder) map
	Labels    *torch.Tensor // (B, 256, 256) int64 component segmentation
}

// Forward scores a preprocessed batch x (B, 3, S, S), S the image size, as the official unified
// model does (docs/method.md#unified-forward). x must belong to a scope: the outputs go there,
// every intermediate is freed before Forward returns. A failed operation anywhere (out of memory,
// a mis-shaped input) comes back as the error, with no outputs.
func (n *Network) Forward(x *torch.Tensor) (Outputs, error) {
	f := torch.NewFrame(x)
	defer f.Close()
	if err := f.Err(); err != nil {
		return Outputs{}, fmt.Errorf("csad: forward: %w", err)
	}
	if err := n.checkInput(x); err != nil {
		return Outputs{}, err
	}
	batch, err := x.Size(0)
	if err != nil {
		return Outputs{}, fmt.Errorf("csad: forward: %w", err)
	}
	x = f.Use(x)
	var (
		ph           PatchHist
		t, st, ae, a *torch.Tensor // t normalised
	)
	if fw := n.useFast(); fw != nil {
		ph, t, st, ae, a = fw.forward(n, x, batch)
	} else if n.fastOnly {
		return Outputs{}, errFastOnly
	} else {
		feat := n.Encoder.Forward(x)
		ph = n.Detector.Forward(n.Segmentor.Forward(feat), batch)
		// The encoder features and each normalisation step are dropped once used, as PyTorch's
		// reference counting drops them, so they do not add to the student's and autoencoder's
		// peak.
		t = n.Teacher.Forward(feat)
		feat.Close()
		t = f.Next(t, t.Sub(f.Use(n.TeacherMean)))
		t = f.Next(t, t.Div(f.Use(n.TeacherStd)))
		st, ae = n.Student.Forward(x)
		a = n.AE.Forward(x)
	}

	// The local map compares the student with the teacher, the global one with the autoencoder;
	// each is normalised by its validation quantiles.
	ml := t.Sub(st).Pow(2).MeanDims([]int64{1}, false)
	mg := ae.Sub(a).Pow(2).MeanDims([]int64{1}, false)
	qst0, qae0 := f.Use(n.QSTStart), f.Use(n.QAEStart)
	local := ml.Sub(qst0).MulScalar(0.1).Div(f.Use(n.QSTEnd).Sub(qst0))
	global := mg.Sub(qae0).MulScalar(0.1).Div(f.Use(n.QAEEnd).Sub(qae0))
	lgst := local.Add(global).Amax([]int64{1, 2}, false)
	score := lgst.Sub(f.Use(n.LGSTMean)).Div(f.Use(n.LGSTStd)).
		Add(ph.Score.Sub(f.Use(n.PatchHistMean)).Div(f.Use(n.PatchHistStd)))

	o := Outputs{
		Score: f.Return(score), LGST: f.Return(lgst), PatchHist: f.Return(ph.Score),
		D256: f.Return(ph.D256), D128: f.Return(ph.D128),
		Local: f.Return(local), Global: f.Return(global), Labels: f.Return(ph.Labels),
	}
	if err := o.err(); err != nil {
		o.Close()
		return Outputs{}, fmt.Errorf("csad: forward: %w", err)
	}
	return o, nil
}

// checkInput validates x's shape before anything is allocated for it.
func (n *Network) checkInput(x *torch.Tensor) error {
	if err := x.Err(); err != nil {
		return fmt.Errorf("csad: forward: input: %w", err)
	}
	sh, s := x.Shape(), n.cfg.ImageSize
	if len(sh) != 4 || sh[0] < 1 || sh[1] != 3 || sh[2] != s || sh[3] != s {
		return fmt.Errorf("csad: forward: input has shape %v, want (B, 3, %d, %d) with B ≥ 1: preprocess images with imageproc.Preprocess", sh, s, s)
	}
	if x.DType() != torch.Float32 {
		return fmt.Errorf("csad: forward: input has dtype %v, want float32", x.DType())
	}
	if d := n.Device(); !x.Device().Equal(d) {
		return fmt.Errorf("csad: forward: input is on %v, the network on %v: move it with Network.Input", x.Device(), d)
	}
	return nil
}

func (o Outputs) tensors() []*torch.Tensor {
	return []*torch.Tensor{o.Score, o.LGST, o.PatchHist, o.D256, o.D128, o.Local, o.Global, o.Labels}
}

func (o Outputs) err() error {
	for _, t := range o.tensors() {
		if err := t.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Close frees the outputs (they also go when their scope closes).
func (o Outputs) Close() {
	for _, t := range o.tensors() {
		t.Close()
	}
}

// Device is where the network's weights are: those of its normalisers, which every mode keeps.
func (n *Network) Device() torch.Device { return n.LGSTMean.Device() }

// To moves every weight and statistic to d (torch.ParseDevice reads "cpu", "cuda", "cuda:N").
func (n *Network) To(d torch.Device) error {
	if n.fastOnly {
		return errFastOnly
	}
	if err := nn.MoveTo(n, d); err != nil {
		return fmt.Errorf("csad: %w", err)
	}
	if n.fast != nil {
		return n.refold()
	}
	return nil
}

// Input moves a batch made on the host (torch.FromSlice) to the network's device; on the CPU it
// is x itself.
func (n *Network) Input(x *torch.Tensor) *torch.Tensor {
	if d := n.Device(); !x.Device().Equal(d) {
		return x.ToDevice(d)
	}
	return x
}

// UseChannelsLast switches the network to fast mode for inference (Options.Fast): every
// convolution runs as oneDNN's own with its weight laid out once for its kernel, on maps kept in
// oneDNN's blocked layout from one convolution to the next (the name is from the first version,
// which chose channels-last or NCHW per convolution), with each BatchNorm folded into its
// convolution and a few exact algebraic shortcuts (fast.go). The
// results are the exact mode's up to float32 rounding: maps within about 1e-7, and because the
// segmentation is an argmax, now and then a pixel where two logits nearly tie takes the other
// class, which moves the patch-histogram score by a little (docs/numerics.md#fast-mode).
//
// The fast weights are derived copies kept outside the module tree: the parameters, the state
// dict, saving and exporting are unchanged. They are a snapshot of the weights at this call, so
// call it again after changing them: it refolds (and is otherwise idempotent). Fast mode is for
// inference: UseChannelsLast refuses a network in training mode, and a forward pass made while
// any branch is in training mode runs the exact operators on the real parameters instead.
func (n *Network) UseChannelsLast() error {
	if n.branchesTraining() {
		return errTrainingMode
	}
	n.bf16 = false
	return n.refold()
}

// UseBFloat16 is UseChannelsLast with the student's and the autoencoder's convolutions (two
// thirds of the model's arithmetic) in bfloat16, on CPUs that multiply bfloat16 natively
// (AVX512_BF16 or AMX), where oneDNN does twice the float32 work per cycle: 2.2–2.4× eager
// PyTorch at paper size on the machine the README measures, against 1.3× for float32 fast mode
// (Options.BFloat16). The encoder, the segmentor and the teacher stay float32, so the
// segmentation and the patch-histogram score are float32 fast mode's; the student's and the
// autoencoder's maps carry bfloat16's 8-bit significand at every layer (oneDNN accumulates in
// float32 and rounds each output), which moves the LGST score by up to about 1 %
// (docs/numerics.md#bfloat16). It fails on a CPU without those instructions, where oneDNN
// would emulate them slower than float32.
func (n *Network) UseBFloat16() error {
	if err := CheckBFloat16CPU(); err != nil {
		return err
	}
	if n.branchesTraining() {
		return errTrainingMode
	}
	n.bf16 = true
	if err := n.refold(); err != nil {
		n.bf16 = false
		return err
	}
	return nil
}

// CheckBFloat16CPU says why this CPU cannot run bfloat16 fast mode (Options.BFloat16), or nil
// when it has bfloat16 arithmetic of its own.
func CheckBFloat16CPU() error {
	if cpu.X86.HasAVX512BF16 || cpu.X86.HasAMXBF16 {
		return nil
	}
	return errors.New("csad: bfloat16 fast mode needs a CPU with AVX512_BF16 or AMX-BF16 instructions (AMD Zen 4 and later, Intel Cooper Lake, Sapphire Rapids and later); this one has neither, and emulated bfloat16 is slower than float32: use fast mode without BFloat16")
}

// fastLGST is the element type of fast mode's student and autoencoder.
func (n *Network) fastLGST() torch.DType {
	if n.bf16 {
		return torch.BFloat16
	}
	return torch.Float32
}

var errTrainingMode = errors.New("csad: fast mode is for inference, and the network is in training mode: call nn.SetTraining(net, false) first")

// keepOnlyFast is UseChannelsLast for a network nothing else will use (a Model loaded with
// Options.Fast): each branch's own tensors are freed as soon as its fast weights exist, so
// that fast mode holds one copy of the weights, not two, and the two are never all alive at
// once. Only the fast forward pass runs afterwards; everything else returns errFastOnly.
func (n *Network) keepOnlyFast(bf16 bool) error {
	if bf16 {
		if err := CheckBFloat16CPU(); err != nil {
			return err
		}
	}
	if n.branchesTraining() {
		return errTrainingMode
	}
	if n.fastOnly {
		if n.bf16 != bf16 {
			return errFastOnly
		}
		return nil
	}
	n.bf16 = bf16
	n.fastOnly = true // from the first freed tensor on, nothing but the fast pass may run
	return n.fold(true)
}

// Close frees all weights.
func (n *Network) Close() error {
	if n == nil {
		return nil
	}
	n.fast.close()
	n.fast = nil
	return nn.Close(n)
}

// NewInitialised builds a network of cfg with PyTorch's default initialisation drawn after
// torch.ManualSeed(seed), unit BatchNorm statistics and neutral normalisers (means 0, standard
// deviations and quantile ranges 1): the starting point for training rather than a scorer.
func NewInitialised(cfg Config, seed uint64) (*Network, error) {
	net, err := NewNetwork(cfg)
	if err != nil {
		return nil, err
	}
	if err := torch.ManualSeed(seed); err != nil {
		net.Close()
		return nil, err
	}
	// In-place initialisation of parameters that require gradients must not be recorded:
	// handles in a no-grad scope write the same tensors outside autograd, as torch.no_grad().
	ns := torch.NewNoGradScope()
	defer ns.Close()
	sd := nn.StateDict(net)
	byName := make(map[string]*torch.Tensor, len(sd))
	for i, p := range sd {
		sd[i].Tensor = p.Tensor.Share(ns)
		byName[p.Name] = sd[i].Tensor
	}
	for _, p := range sd {
		name, t := p.Name, p.Tensor
		var err error
		switch {
		case strings.HasSuffix(name, ".weight") && t.Dim() == 4:
			err = nn.DefaultInit(t, byName[strings.TrimSuffix(name, ".weight")+".bias"])
		case strings.HasSuffix(name, ".weight") && t.Dim() == 1, // BatchNorm scale
			strings.HasSuffix(name, "running_var"), strings.HasSuffix(name, "_std"),
			name == "q_st_end", name == "q_ae_end":
			err = t.FillInPlace(1).Err()
		}
		if err != nil {
			net.Close()
			return nil, fmt.Errorf("csad: initialise %s: %w", name, err)
		}
	}
	if err := nn.Err(net); err != nil {
		net.Close()
		return nil, err
	}
	return net, nil
}
