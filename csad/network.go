package csad

import (
	"fmt"
	"strings"

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

	channelsLast bool // set by UseChannelsLast
}

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
	n.Detector = nn.RegisterModule(m, "patch_hist_detector", NewPatchHistDetector(cfg.Segmentor.Classes))
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

// Forward scores a preprocessed batch x (B, 3, 256, 256) as §7.2 of the method describes. x must
// belong to a scope: the results and every intermediate live there.
func (n *Network) Forward(x *torch.Tensor) Outputs {
	f := n.Encoder.Forward(x)
	var o Outputs
	logits := n.Segmentor.Forward(f)
	o.PatchHist, o.Labels, o.D256, o.D128 = n.Detector.Forward(logits)
	logits.Close()
	pooled, xl := n.Teacher.pooled(f), x
	for _, t := range f {
		t.Close()
	}
	if n.channelsLast {
		pooled = torch.Chain(pooled, func(p *torch.Tensor) *torch.Tensor { return p.ContiguousAs(torch.ChannelsLast) })
		xl = x.ContiguousAs(torch.ChannelsLast)
	}
	t := torch.Chain(pooled, func(p *torch.Tensor) *torch.Tensor {
		return n.Teacher.Proj.Forward(p).Sub(n.TeacherMean).Div(n.TeacherStd)
	})
	pooled.Close()
	st, ae := n.Student.Forward(xl)
	a := n.AE.Forward(xl)
	if xl != x {
		xl.Close()
	}
	sqDiffMean := func(in []*torch.Tensor) []*torch.Tensor {
		return []*torch.Tensor{in[0].Sub(in[1]).Pow(2).MeanDims([]int64{1}, false)}
	}
	ml := torch.Block(sqDiffMean, t, st)[0]
	mg := torch.Block(sqDiffMean, ae, a)[0]
	for _, t := range []*torch.Tensor{t, st, ae, a} {
		t.Close()
	}
	// Operations on weights alone belong to no scope; x's scope takes them.
	own := x.Scope().Own
	o.Local = ml.Sub(n.QSTStart).MulScalar(0.1).Div(own(n.QSTEnd.Sub(n.QSTStart)))
	o.Global = mg.Sub(n.QAEStart).MulScalar(0.1).Div(own(n.QAEEnd.Sub(n.QAEStart)))
	o.LGST = o.Local.Add(o.Global).Amax([]int64{1, 2}, false)
	o.Score = o.LGST.Sub(n.LGSTMean).Div(n.LGSTStd).Add(o.PatchHist.Sub(n.PatchHistMean).Div(n.PatchHistStd))
	return o
}

// UseChannelsLast re-lays the weights of the LGST branch (teacher projection, student,
// autoencoder; most of the model's arithmetic) in channels-last order, where LibTorch's oneDNN
// convolutions run about 2.5× faster on the CPU, and makes Forward run that branch in it. Its
// maps then differ from PyTorch's eager NCHW evaluation by float32 rounding (about 1e-7); the
// encoder and segmentor stay as PyTorch runs them, so the segmentation and the patch-histogram
// score stay bit for bit identical.
func (n *Network) UseChannelsLast() error {
	if n.channelsLast {
		return nil
	}
	var convs []*nn.Conv2d
	convs = append(convs, n.Teacher.Proj, n.Student.Conv1, n.Student.Conv2, n.Student.Conv3, n.Student.Conv4,
		n.Student.Conv5, n.Student.ConvST, n.Student.ConvAE)
	convs = append(convs, n.AE.Enc[:]...)
	convs = append(convs, n.AE.Dec[:]...)
	for _, c := range convs {
		cl := c.Weight.ContiguousAs(torch.ChannelsLast)
		err := c.Weight.ReplaceWith(cl)
		cl.Close()
		if err != nil {
			return fmt.Errorf("csad: channels-last weights: %w", err)
		}
	}
	n.channelsLast = true
	return nil
}

// Close frees all weights.
func (n *Network) Close() error {
	if n == nil {
		return nil
	}
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
	sd := nn.StateDict(net)
	byName := make(map[string]*torch.Tensor, len(sd))
	for _, p := range sd {
		byName[p.Name] = p.Tensor
	}
	for _, p := range sd {
		name, t := p.Name, p.Tensor
		switch {
		case strings.HasSuffix(name, ".weight") && t.Dim() == 4:
			nn.DefaultInit(t, byName[strings.TrimSuffix(name, ".weight")+".bias"])
		case strings.HasSuffix(name, ".weight") && t.Dim() == 1, // BatchNorm scale
			strings.HasSuffix(name, "running_var"), strings.HasSuffix(name, "_std"),
			name == "q_st_end", name == "q_ae_end":
			t.FillInPlace(1)
		}
	}
	return net, nn.Err(net)
}
