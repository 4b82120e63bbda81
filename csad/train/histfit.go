package train

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/cluster"
	"github.com/csad-go/csad/torch"
)

// DetectorFit reports what FitDetector computed.
type DetectorFit struct {
	Train, Validation int       // images used
	D256, D128        []float64 // raw validation distances of the two detectors
	HistMean, HistStd float64   // trimmed statistics of D256 (std floored at 1e-3 → 1)
	QuadMean, QuadStd float64   // ... of D128
}

// FitDetector fits the patch-histogram detector of net (docs/method.md#patch-histogram-detector):
// class-area histograms of the segmentation of every training image, whole and by quadrant, their
// mean and the pseudo-inverse of their covariance (ddof 1, float64, as NumPy's pinv), then the
// trimmed statistics of the validation images' distances. The branch's own normaliser in the
// fused score is set by FuseScores. The background bin is
// zeroed before the fit, as the official fit does; the stored inverse covariance then has a zero
// row and column there and the deployed detector, which counts the bin, gets the same distances.
//
// Validation distances are computed by the deployed detector itself (float32, Network.Forward's
// operators), so that `csad score` reproduces the statistics exactly. Images are preprocessed
// (3, S, S) float32 slices (imageproc.Preprocess).
func FitDetector(ctx context.Context, net *csad.Network, train, val [][]float32) (DetectorFit, error) {
	var fit DetectorFit
	if len(train) < 2 {
		return fit, fmt.Errorf("train: detector fit needs at least 2 training images, got %d", len(train))
	}
	if len(val) < 1 {
		return fit, fmt.Errorf("train: detector fit needs validation images, got none")
	}
	fit.Train, fit.Validation = len(train), len(val)
	whole, quads, err := histograms(ctx, net, train)
	if err != nil {
		return fit, err
	}
	n := net.Config().Segmentor.Classes
	for i := range whole {
		whole[i][0] = 0
		for q := range 4 {
			quads[i][int64(q)*n] = 0
		}
	}
	d := net.Detector
	if err := setGaussian(d.HistMean, d.HistInvCov, whole); err != nil {
		return fit, fmt.Errorf("train: detector fit (whole image): %w", err)
	}
	if err := setGaussian(d.PatchHistMean, d.PatchHistInvCov, quads); err != nil {
		return fit, fmt.Errorf("train: detector fit (quadrants): %w", err)
	}
	// Raw validation distances: the detector with neutral normalisers.
	for _, t := range []*torch.Tensor{d.HistValMean, d.PatchHistValMean} {
		if err := t.FillInPlace(0).Err(); err != nil {
			return fit, err
		}
	}
	for _, t := range []*torch.Tensor{d.HistValStd, d.PatchHistValStd} {
		if err := t.FillInPlace(1).Err(); err != nil {
			return fit, err
		}
	}
	if fit.D256, fit.D128, err = distances(ctx, net, val); err != nil {
		return fit, err
	}
	if fit.HistMean, fit.HistStd, err = trimmed("d256", fit.D256); err != nil {
		return fit, err
	}
	if fit.QuadMean, fit.QuadStd, err = trimmed("d128", fit.D128); err != nil {
		return fit, err
	}
	if err := setScalars(map[*torch.Tensor]float64{
		d.HistValMean: fit.HistMean, d.HistValStd: fit.HistStd,
		d.PatchHistValMean: fit.QuadMean, d.PatchHistValStd: fit.QuadStd,
	}); err != nil {
		return fit, err
	}
	return fit, nil
}

// trimmed is the trimmed z-normaliser with the export's floor: a spread of at most 1e-3 becomes 1.
// When no value lies strictly between the 20th and 80th percentiles (few or tied validation
// scores, where the official code divides by an empty mean) it falls back to the plain mean and
// spread of all of them.
func trimmed(what string, v []float64) (mean, std float64, err error) {
	if len(v) == 0 {
		return 0, 0, fmt.Errorf("train: %s statistics: no validation scores", what)
	}
	mean, std, err = cluster.TrimmedStats(v)
	if errors.Is(err, cluster.ErrInvalidInput) {
		mean, std, err = plainStats(v)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("train: %s statistics: %w", what, err)
	}
	if std <= 1e-3 {
		std = 1
	}
	return mean, std, nil
}

// segment runs the encoder and segmentor on one preprocessed image in s and returns its labels.
func segment(s *torch.Scope, net *csad.Network, img []float32) *torch.Tensor {
	size := net.Config().ImageSize
	x := net.Input(torch.FromSlice(s, img, 1, 3, size, size))
	feat := net.Encoder.Forward(x)
	return net.Segmentor.Forward(feat).Argmax(1, false)
}

// histograms returns every image's whole-image (N) and quadrant (4N) histograms.
func histograms(ctx context.Context, net *csad.Network, imgs [][]float32) (whole, quads [][]float64, err error) {
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		err := torch.Do(torch.InferenceMode, func(s *torch.Scope) error {
			w, q := net.Detector.Histograms(segment(s, net, img))
			wv, err := w.Float64s()
			if err != nil {
				return err
			}
			qv, err := q.Float64s()
			if err != nil {
				return err
			}
			whole, quads = append(whole, wv), append(quads, qv)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("train: segment training image %d: %w", i, err)
		}
	}
	return whole, quads, nil
}

// distances runs the deployed detector on every image and returns its raw distances.
func distances(ctx context.Context, net *csad.Network, imgs [][]float32) (d256, d128 []float64, err error) {
	size := net.Config().ImageSize
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		err := torch.Do(torch.InferenceMode, func(s *torch.Scope) error {
			x := net.Input(torch.FromSlice(s, img, 1, 3, size, size))
			ph := net.Detector.Forward(net.Segmentor.Forward(net.Encoder.Forward(x)), 1)
			a, err := ph.D256.Item()
			if err != nil {
				return err
			}
			b, err := ph.D128.Item()
			if err != nil {
				return err
			}
			d256, d128 = append(d256, a), append(d128, b)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("train: score validation image %d: %w", i, err)
		}
	}
	return d256, d128, nil
}

// setGaussian stores the mean (K, 1) and pseudo-inverse covariance (K, K) of the rows of h.
func setGaussian(mean, invcov *torch.Tensor, h [][]float64) error {
	k := len(h[0])
	mu := make([]float32, k)
	for j := range k {
		var s float64
		for i := range h {
			s += h[i][j]
		}
		mu[j] = float32(s / float64(len(h)))
	}
	p, err := cluster.Pinv(cluster.Covariance(h))
	if err != nil {
		return err
	}
	flat := make([]float32, 0, k*k)
	for _, row := range p {
		for _, v := range row {
			flat = append(flat, float32(v))
		}
	}
	return torch.Do(torch.NoGradMode, func(s *torch.Scope) error {
		if err := mean.Assign(torch.FromSlice(s, mu, int64(k), 1)); err != nil {
			return err
		}
		return invcov.Assign(torch.FromSlice(s, flat, int64(k), int64(k)))
	})
}

// setScalars writes 0-dim buffers.
func setScalars(vals map[*torch.Tensor]float64) error {
	for t, v := range vals {
		if err := t.FillInPlace(v).Err(); err != nil {
			return err
		}
	}
	return nil
}

func plainStats(v []float64) (mean, std float64, err error) {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, 0, fmt.Errorf("validation score %v is not finite", x)
		}
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v))), nil
}
