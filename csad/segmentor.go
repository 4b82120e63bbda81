package csad

import (
	"strconv"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Segmentor is the DeepLab-v3+ style component segmentor on encoder features: ASPP on layer3,
// a decoder joining it with reduced layer1 features, logits for every class at the input size.
type Segmentor struct {
	nn.Module
	reduce, fc1, fc2c1, fc2c2 *convBnReLU
	fc2c3                     *nn.Conv2d
	aspp                      [4]*convBnReLU // c0..c3
	imagepool                 *convBnReLU
	size                      int64
}

type container struct{ nn.Module }

// NewSegmentor builds the segmentor of cfg.
func NewSegmentor(cfg Config) *Segmentor {
	sc := cfg.Segmentor
	in1, in3 := cfg.Encoder.Out[0], cfg.Encoder.Out[2]
	s := &Segmentor{size: cfg.ImageSize}
	aspp := nn.RegisterModule(&s.Module, "aspp", &container{})
	stages := nn.RegisterModule(&aspp.Module, "stages", &container{})
	s.aspp[0] = nn.RegisterModule(&stages.Module, "c0", newConvBnReLU(in3, sc.Width, 1, 0, 1, true))
	for i, d := range sc.Dilations {
		s.aspp[i+1] = nn.RegisterModule(&stages.Module, "c"+strconv.Itoa(i+1), newConvBnReLU(in3, sc.Width, 3, d, d, true))
	}
	pool := nn.RegisterModule(&stages.Module, "imagepool", &container{})
	s.imagepool = nn.RegisterModule(&pool.Module, "conv", newConvBnReLU(in3, sc.Width, 1, 0, 1, true))
	s.reduce = nn.RegisterModule(&s.Module, "reduce", newConvBnReLU(in1, sc.Reduce, 1, 0, 1, true))
	s.fc1 = nn.RegisterModule(&s.Module, "fc1", newConvBnReLU(5*sc.Width, sc.Width, 1, 0, 1, true))
	fc2 := nn.RegisterModule(&s.Module, "fc2", &container{})
	s.fc2c1 = nn.RegisterModule(&fc2.Module, "conv1", newConvBnReLU(sc.Width+sc.Reduce, sc.Width, 3, 1, 1, true))
	s.fc2c2 = nn.RegisterModule(&fc2.Module, "conv2", newConvBnReLU(sc.Width, sc.Width, 3, 1, 1, true))
	s.fc2c3 = nn.RegisterModule(&fc2.Module, "conv3", conv(sc.Width, sc.Classes, 1, nn.Conv2dConfig{}))
	return s
}

// Forward returns logits (B, N, size, size); its intermediates are freed on return.
func (s *Segmentor) Forward(f [3]*torch.Tensor) *torch.Tensor {
	return torch.Block(func(in []*torch.Tensor) []*torch.Tensor {
		return []*torch.Tensor{s.forward(in[0], in[1])}
	}, f[0], f[2])[0]
}

func (s *Segmentor) forward(f0, f2 *torch.Tensor) *torch.Tensor {
	r := s.reduce.Forward(f0)
	q, h := s.size/16, s.size/4
	x3 := f2.Interpolate(q, q, torch.Bilinear, false)
	stages := make([]*torch.Tensor, 0, 5)
	for _, c := range s.aspp {
		stages = append(stages, c.Forward(x3))
	}
	pooled := s.imagepool.Forward(x3.AdaptiveAvgPool2d(1, 1)).Interpolate(q, q, torch.Bilinear, false)
	stages = append(stages, pooled)
	x := s.fc1.Forward(torch.Cat(stages, 1)).Interpolate(h, h, torch.Bilinear, false)
	x = torch.Cat([]*torch.Tensor{x, r}, 1)
	x = s.fc2c3.Forward(s.fc2c2.Forward(s.fc2c1.Forward(x)))
	return x.Interpolate(s.size, s.size, torch.Bilinear, false)
}

// PatchHistDetector is the export-time FixedPatchClassDetector: class-area histograms of the
// whole segmentation and of its four quadrants, each compared with the training distribution by
// Mahalanobis distance, each distance z-normalised with validation statistics, summed.
type PatchHistDetector struct {
	nn.Module
	HistMean, HistInvCov, PatchHistMean, PatchHistInvCov       *torch.Tensor
	HistValMean, HistValStd, PatchHistValMean, PatchHistValStd *torch.Tensor
	classes                                                    int64
}

// NewPatchHistDetector allocates the detector's statistics for n classes.
func NewPatchHistDetector(n int64) *PatchHistDetector {
	d := &PatchHistDetector{classes: n}
	m := &d.Module
	z := func(shape ...int64) *torch.Tensor { return torch.Zeros(nil, shape, torch.Float32) }
	d.HistMean = m.RegisterBuffer("hist_mean", z(n, 1))
	d.HistInvCov = m.RegisterBuffer("hist_invcov", z(n, n))
	d.PatchHistMean = m.RegisterBuffer("patch_hist_mean", z(4*n, 1))
	d.PatchHistInvCov = m.RegisterBuffer("patch_hist_invcov", z(4*n, 4*n))
	d.HistValMean = m.RegisterBuffer("hist_val_mean", z())
	d.HistValStd = m.RegisterBuffer("hist_val_std", z())
	d.PatchHistValMean = m.RegisterBuffer("patch_hist_val_mean", z())
	d.PatchHistValStd = m.RegisterBuffer("patch_hist_val_std", z())
	return d
}

// histogram is the class-area fraction of every class (background included) per sample.
func (d *PatchHistDetector) histogram(labels *torch.Tensor) *torch.Tensor {
	return labels.OneHot(d.classes).To(torch.Float32).MeanDims([]int64{1, 2}, false)
}

// mahalanobis is √(δᵀ Σ⁺ δ) per sample, δ = h − μ, batched.
func mahalanobis(h, mean, invcov *torch.Tensor) *torch.Tensor {
	delta := h.Sub(h.Scope().Own(mean.Reshape(1, -1)))
	q := delta.Unsqueeze(1).Matmul(invcov).Matmul(delta.Unsqueeze(2))
	return q.Reshape(-1).Sqrt()
}

// Forward scores logits (B, N, H, W); it also returns the label map and both raw distances.
func (d *PatchHistDetector) Forward(logits *torch.Tensor) (score, labels, d256, d128 *torch.Tensor) {
	r := torch.Block(func(in []*torch.Tensor) []*torch.Tensor {
		s, l, a, b := d.forward(in[0])
		return []*torch.Tensor{s, l, a, b}
	}, logits)
	return r[0], r[1], r[2], r[3]
}

func (d *PatchHistDetector) forward(logits *torch.Tensor) (score, labels, d256, d128 *torch.Tensor) {
	labels = logits.Argmax(1, false)
	sz := labels.Shape()
	hh, hw := sz[1]/2, sz[2]/2
	quad := func(r0, c0 int64) *torch.Tensor {
		return d.histogram(labels.Narrow(1, r0, hh).Narrow(2, c0, hw))
	}
	patches := torch.Cat([]*torch.Tensor{quad(0, 0), quad(hh, 0), quad(0, hw), quad(hh, hw)}, 1)
	d256 = mahalanobis(d.histogram(labels), d.HistMean, d.HistInvCov)
	d128 = mahalanobis(patches, d.PatchHistMean, d.PatchHistInvCov)
	score = d256.Sub(d.HistValMean).Div(d.HistValStd).Add(d128.Sub(d.PatchHistValMean).Div(d.PatchHistValStd))
	return score, labels, d256, d128
}
