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

// Forward returns logits (B, N, size, size) for the layer1 and layer3 features.
func (s *Segmentor) Forward(feat Features) *torch.Tensor {
	f := torch.NewFrame(feat.Layer1, feat.Layer3)
	defer f.Close()
	r := s.reduce.Forward(f.Use(feat.Layer1))
	q, h := s.size/16, s.size/4
	x3 := f.Use(feat.Layer3).Interpolate(q, q, torch.Bilinear, false)
	stages := make([]*torch.Tensor, 0, 5)
	for _, c := range s.aspp {
		stages = append(stages, c.Forward(x3))
	}
	pooled := s.imagepool.Forward(x3.AdaptiveAvgPool2d(1, 1)).Interpolate(q, q, torch.Bilinear, false)
	stages = append(stages, pooled)
	x := s.fc1.Forward(torch.Cat(stages, 1)).Interpolate(h, h, torch.Bilinear, false)
	x = torch.Cat([]*torch.Tensor{x, r}, 1)
	x = s.fc2c3.Forward(s.fc2c2.Forward(s.fc2c1.Forward(x)))
	return f.Return(x.Interpolate(s.size, s.size, torch.Bilinear, false))
}

// PatchHistDetector is the export-time FixedPatchClassDetector: class-area histograms of the
// whole segmentation and of its four quadrants, each compared with the training distribution by
// Mahalanobis distance, each distance z-normalised with validation statistics, summed.
type PatchHistDetector struct {
	nn.Module
	HistMean, HistInvCov, PatchHistMean, PatchHistInvCov       *torch.Tensor
	HistValMean, HistValStd, PatchHistValMean, PatchHistValStd *torch.Tensor
	classes, size                                              int64
}

// NewPatchHistDetector allocates the detector's statistics for n classes.
func NewPatchHistDetector(n, size int64) *PatchHistDetector {
	d := &PatchHistDetector{classes: n, size: size}
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

// PatchHist is the detector's result per sample.
type PatchHist struct {
	Score      *torch.Tensor // (B) z(d256) + z(d128)
	Labels     *torch.Tensor // (B, H, W) int64 argmax of the logits
	D256, D128 *torch.Tensor // (B) Mahalanobis distances of the whole-image and quadrant histograms
}

// areaFractions is the mean over the spatial dimensions of a one-hot map (B, H, W, N): the
// class-area fraction of every class (background included) per sample, (B, N).
func areaFractions(oneHot *torch.Tensor) *torch.Tensor {
	return oneHot.MeanDims([]int64{1, 2}, false)
}

// mahalanobis is √(δᵀ (Σ⁺ δ)) for each sample, δ = h − μ as a column: the official detector's
// per-sample products in its order (a batched product groups the sums differently, and the
// pseudo-inverse of a singular covariance makes that grouping visible in the last bits).
func mahalanobis(f *torch.Frame, h *torch.Tensor, batch int64, mean, invcov *torch.Tensor) *torch.Tensor {
	mean, invcov = f.Use(mean), f.Use(invcov)
	ds := make([]*torch.Tensor, batch)
	for i := range batch {
		delta := h.Narrow(0, i, 1).Reshape(-1, 1).Sub(mean)
		ds[i] = delta.Transpose(0, 1).Matmul(invcov.Matmul(delta)).Reshape().Sqrt()
	}
	return torch.Stack(ds, 0)
}

// Histograms returns the class-area histograms of a label map (B, S, S): of the whole map (B, N)
// and of its quadrants top-left, bottom-left, top-right, bottom-right, concatenated (B, 4N). The
// background bin is included, as the deployed detector counts it.
func (d *PatchHistDetector) Histograms(labels *torch.Tensor) (whole, quadrants *torch.Tensor) {
	f := torch.NewFrame(labels)
	defer f.Close()
	// One one-hot map for the whole image and its quadrants, as the reference takes them:
	// the sums of 0/1 values are exact integers in any order, so each mean is the same single
	// rounding as from a one-hot map of the quadrant alone.
	oneHot := f.Use(labels).OneHot(d.classes).To(torch.Float32)
	hh := d.size / 2
	quad := func(r0, c0 int64) *torch.Tensor {
		return areaFractions(oneHot.Narrow(1, r0, hh).Narrow(2, c0, hh))
	}
	patches := torch.Cat([]*torch.Tensor{quad(0, 0), quad(hh, 0), quad(0, hh), quad(hh, hh)}, 1)
	return f.Return(areaFractions(oneHot)), f.Return(patches)
}

// Forward scores logits (B, N, H, W) with H = W = the image size.
func (d *PatchHistDetector) Forward(logits *torch.Tensor, batch int64) PatchHist {
	f := torch.NewFrame(logits)
	defer f.Close()
	labels := f.Use(logits).Argmax(1, false)
	whole, patches := d.Histograms(labels)
	d256 := mahalanobis(f, whole, batch, d.HistMean, d.HistInvCov)
	d128 := mahalanobis(f, patches, batch, d.PatchHistMean, d.PatchHistInvCov)
	z256 := d256.Sub(f.Use(d.HistValMean)).Div(f.Use(d.HistValStd))
	z128 := d128.Sub(f.Use(d.PatchHistValMean)).Div(f.Use(d.PatchHistValStd))
	return PatchHist{Score: f.Return(z256.Add(z128)), Labels: f.Return(labels), D256: f.Return(d256), D128: f.Return(d128)}
}

// Device is where the segmentor's weights are.
func (s *Segmentor) Device() torch.Device { return s.fc2c3.Weight.Device() }
