package csad

import (
	"context"
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/torch"
)

// Regions of the patch-histogram detector: the whole image, then the quadrants in its order.
var Regions = []string{"whole image", "top-left", "bottom-left", "top-right", "bottom-right"}

// Contribution is one histogram entry's part of a Mahalanobis distance: the area share of one
// component class in one region, against the training images' mean, and the fraction of the
// squared distance it accounts for, δ_j·(Σ⁺δ)_j / δᵀΣ⁺δ (the fractions of one detector sum to 1;
// one can be negative where classes move together).
type Contribution struct {
	Region    string
	Class     int
	Area      float64 // the class's share of the region's pixels in this image
	TrainMean float64 // ... on average over the training images
	Share     float64
}

// Explanation says where the Patch Histogram branch sees an anomaly in one image.
type Explanation struct {
	D256, D128 float64        // the two distances (before normalisation)
	Whole      []Contribution // the whole-image detector's entries, largest |Share| first
	Quadrants  []Contribution // the quadrant detector's entries, largest |Share| first
	// Segmentation is the component class of every pixel of the network input.
	Segmentation []uint8
}

// ExplainPatchHist segments img and breaks both of the detector's distances down by class and
// region (docs/method.md#patch-histogram-detector).
func (m *Model) ExplainPatchHist(ctx context.Context, img image.Image) (*Explanation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.rt != nil {
		return nil, errNoTorchNetwork
	}
	if m.net == nil {
		return nil, ErrClosed
	}
	net := m.net
	size := net.cfg.ImageSize
	s := torch.NewInferenceScope()
	defer s.Close()
	x := net.Input(torch.FromSlice(s, imageproc.Preprocess(img, int(size)), 1, 3, size, size))
	var logits *torch.Tensor
	if fw := net.useFast(); fw != nil {
		// As the fast pass segments, so that the explanation is of the score it gave.
		feat := fw.encoder(x.Contiguous().ToMkldnn(torch.Float32))
		logits = fw.segmentor(feat, size)
		feat.Close()
	} else {
		logits = net.Segmentor.Forward(net.Encoder.Forward(x))
	}
	labels := logits.Argmax(1, false)
	whole, quads := net.Detector.Histograms(labels)
	var e Explanation
	seg, err := labels.To(torch.Uint8).Bytes()
	if err != nil {
		return nil, fmt.Errorf("csad: explain: %w", err)
	}
	e.Segmentation = seg
	d := net.Detector
	var d2 float64
	if e.Whole, d2, err = contributions(whole, d.HistMean, d.HistInvCov, Regions[:1]); err != nil {
		return nil, err
	}
	e.D256 = math.Sqrt(max(d2, 0)) // round-off can make a zero distance slightly negative
	if e.Quadrants, d2, err = contributions(quads, d.PatchHistMean, d.PatchHistInvCov, Regions[1:]); err != nil {
		return nil, err
	}
	e.D128 = math.Sqrt(max(d2, 0))
	return &e, nil
}

func contributions(h, mean, invcov *torch.Tensor, regions []string) ([]Contribution, float64, error) {
	hv, err := h.Float64s()
	if err != nil {
		return nil, 0, fmt.Errorf("csad: explain: %w", err)
	}
	mu, err := mean.Float64s()
	if err != nil {
		return nil, 0, err
	}
	p, err := invcov.Float64s()
	if err != nil {
		return nil, 0, err
	}
	k := len(hv)
	if len(mu) != k || len(p) != k*k || k%len(regions) != 0 {
		return nil, 0, fmt.Errorf("csad: explain: histogram of %d entries, mean %d, inverse covariance %d", k, len(mu), len(p))
	}
	delta := make([]float64, k)
	for j := range k {
		delta[j] = hv[j] - mu[j]
	}
	var d2 float64
	c := make([]float64, k)
	for j := range k {
		var v float64
		for i := range k {
			v += p[j*k+i] * delta[i]
		}
		c[j] = delta[j] * v
		d2 += c[j]
	}
	n := k / len(regions)
	var out []Contribution
	for j := range k {
		if j%n == 0 {
			continue // the background bin has a zero row in the fitted inverse covariance
		}
		share := 0.0
		if d2 != 0 {
			share = c[j] / d2
		}
		out = append(out, Contribution{Region: regions[j/n], Class: j % n, Area: hv[j], TrainMean: mu[j], Share: share})
	}
	slices.SortStableFunc(out, func(a, b Contribution) int {
		switch {
		case math.Abs(a.Share) > math.Abs(b.Share):
			return -1
		case math.Abs(a.Share) < math.Abs(b.Share):
			return 1
		}
		return 0
	})
	return out, d2, nil
}
