package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// teacherStatsStream separates the teacher-statistics shuffles from every other stream derived
// from the same seed.
const teacherStatsStream = 0x7eac4e5

// TeacherStats computes the teacher's per-channel mean μ and standard deviation σ (§3.6) on the
// preprocessed training images (each (3, S, S) float32, imageproc.Preprocess) and stores them in
// net.TeacherMean and net.TeacherStd (1, C, 1, 1). As the official code, it makes two passes over
// a shuffled loader of the given batch size (official 2; the last batch may be smaller), each
// with its own shuffle: μ is the mean over batches of each batch's channel mean over (B, H, W);
// σ² the mean over batches of each batch's channel mean of (t − μ)², and σ its square root. A
// short last batch weighs as much as a full one (a mean of batch means, §8.2 item 14). The
// shuffles come from seed alone: rand.New(rand.NewPCG(seed, 0x7eac4e5)).Perm, first the μ pass's,
// then the σ pass's. The encoder and teacher are left in evaluation mode.
func TeacherStats(ctx context.Context, net *csad.Network, images [][]float32, batch int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, teacherStatsStream))
	orderMean := rng.Perm(len(images))
	return teacherStats(ctx, net, images, batch, orderMean, rng.Perm(len(images)))
}

// teacherStats is TeacherStats with the two passes' image orders given.
func teacherStats(ctx context.Context, net *csad.Network, images [][]float32, batch int, orderMean, orderStd []int) error {
	if net == nil {
		return errors.New("train: teacher statistics need a network")
	}
	if batch < 1 {
		return fmt.Errorf("train: teacher statistics batch size %d: want ≥ 1 (official 2)", batch)
	}
	if err := checkImages("teacher statistics", net.Config(), images); err != nil {
		return err
	}
	nn.SetTraining(net.Encoder, false)
	nn.SetTraining(net.Teacher, false)
	s := torch.NewNoGradScope()
	defer s.Close()
	// pass returns the mean over batches of f(teacher map of the batch).
	pass := func(order []int, f func(t *torch.Tensor) *torch.Tensor) (*torch.Tensor, error) {
		var per []*torch.Tensor
		for lo := 0; lo < len(order); lo += batch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			idx := order[lo:min(lo+batch, len(order))]
			x := net.Input(batchOf(s, net.Config(), images, idx))
			raw := net.Teacher.Forward(net.Encoder.Forward(x))
			m := f(raw)
			raw.Close()
			x.Close()
			if err := m.Err(); err != nil {
				return nil, fmt.Errorf("train: teacher statistics: %w", err)
			}
			per = append(per, m)
		}
		return torch.Stack(per, 0).MeanDims([]int64{0}, false), nil
	}
	dims := []int64{0, 2, 3}
	c := net.Config().TeacherChannels
	mean, err := pass(orderMean, func(t *torch.Tensor) *torch.Tensor { return t.MeanDims(dims, false) })
	if err != nil {
		return err
	}
	mean = mean.Reshape(1, c, 1, 1)
	variance, err := pass(orderStd, func(t *torch.Tensor) *torch.Tensor { return t.Sub(mean).Pow(2).MeanDims(dims, false) })
	if err != nil {
		return err
	}
	std := variance.Reshape(1, c, 1, 1).Sqrt()
	if err := s.Err(); err != nil {
		return fmt.Errorf("train: teacher statistics: %w", err)
	}
	if err := net.TeacherMean.Assign(mean); err != nil {
		return fmt.Errorf("train: teacher statistics: %w", err)
	}
	if err := net.TeacherStd.Assign(std); err != nil {
		return fmt.Errorf("train: teacher statistics: %w", err)
	}
	return nil
}

// checkImages validates preprocessed (3, S, S) images before anything is allocated for them.
func checkImages(what string, cfg csad.Config, images [][]float32) error {
	if len(images) == 0 {
		return fmt.Errorf("train: %s need at least one image, got none", what)
	}
	want := 3 * cfg.ImageSize * cfg.ImageSize
	for i, img := range images {
		if int64(len(img)) != want {
			return fmt.Errorf("train: %s: image %d has %d values, want 3×%d×%d = %d (imageproc.Preprocess to the network's size)",
				what, i, len(img), cfg.ImageSize, cfg.ImageSize, want)
		}
	}
	return nil
}

// batchOf stacks images[idx] into a (len(idx), 3, S, S) tensor in s.
func batchOf(s *torch.Scope, cfg csad.Config, images [][]float32, idx []int) *torch.Tensor {
	size := cfg.ImageSize
	data := make([]float32, 0, int64(len(idx))*3*size*size)
	for _, i := range idx {
		data = append(data, images[i]...)
	}
	return torch.FromSlice(s, data, int64(len(idx)), 3, size, size)
}

// LGSTQuantiles are the map normalisers of §3.7: quantiles 0.9 (start) and 0.995 (end) of the
// local (st) and global (ae) maps over the validation images.
type LGSTQuantiles struct {
	STStart, STEnd, AEStart, AEEnd float32
}

// MapQuantiles computes the map quantiles on the preprocessed validation images (§3.7) and
// stores them in net's QSTStart, QSTEnd, QAEStart and QAEEnd. Each image, alone (batch 1) with
// the student and autoencoder in evaluation mode, gives its local map mean_c((t − μ)/σ − st)²
// and global map mean_c(a − ae)² (64×64 each); the quantiles are torch.quantile's, linear, in
// float32, over all values of all images, as the official map_normalization. torch.quantile
// takes at most 2^24 values, so at most 4096 validation images at 64×64. The student's and
// autoencoder's modes are restored afterwards.
//
// The official training-time code leaves a map unnormalised when q_end − q_start ≤ 1e-6; the
// unified model, which these buffers feed, has no such guard, and neither has MapQuantiles.
func MapQuantiles(ctx context.Context, net *csad.Network, val [][]float32) (LGSTQuantiles, error) {
	var q LGSTQuantiles
	if net == nil {
		return q, errors.New("train: map quantiles need a network")
	}
	cfg := net.Config()
	if err := checkImages("map quantiles", cfg, val); err != nil {
		return q, err
	}
	if n := int64(len(val)) * cfg.FeatureSize * cfg.FeatureSize; n > quantileLimit {
		return q, fmt.Errorf("train: map quantiles over %d validation images are %d values, more than torch.quantile's limit of 2^24; use at most %d images",
			len(val), n, quantileLimit/(cfg.FeatureSize*cfg.FeatureSize))
	}
	defer nn.SetTraining(net.Student, net.Student.Training())
	defer nn.SetTraining(net.AE, net.AE.Training())
	nn.SetTraining(net.Encoder, false)
	nn.SetTraining(net.Teacher, false)
	nn.SetTraining(net.Student, false)
	nn.SetTraining(net.AE, false)

	s := torch.NewInferenceScope()
	defer s.Close()
	var local, global []*torch.Tensor
	for i := range val {
		if err := ctx.Err(); err != nil {
			return q, err
		}
		var ml, mg *torch.Tensor
		err := torch.Do(torch.InferenceMode, func(is *torch.Scope) error {
			x := net.Input(batchOf(is, cfg, val, []int{i}))
			t := normalisedTeacher(net, x)
			st, ae := net.Student.Forward(x)
			a := net.AE.Forward(x)
			ml = s.Own(t.Sub(st).Pow(2).MeanDims([]int64{1}, true))
			mg = s.Own(a.Sub(ae).Pow(2).MeanDims([]int64{1}, true))
			return errors.Join(ml.Err(), mg.Err())
		})
		if err != nil {
			return q, fmt.Errorf("train: map quantiles: validation image %d: %w", i, err)
		}
		local, global = append(local, ml), append(global, mg)
	}
	ms, ma := torch.Cat(local, 0), torch.Cat(global, 0)
	bufs := []struct {
		buf *torch.Tensor
		x   *torch.Tensor
		q   float64
		dst *float32
	}{
		{net.QSTStart, ms, 0.9, &q.STStart}, {net.QSTEnd, ms, 0.995, &q.STEnd},
		{net.QAEStart, ma, 0.9, &q.AEStart}, {net.QAEEnd, ma, 0.995, &q.AEEnd},
	}
	// All four first, so that a failure leaves the network's normalisers as they were.
	vals := make([]*torch.Tensor, len(bufs))
	for i, b := range bufs {
		vals[i] = b.x.Quantile(b.q, nil, false)
		f, err := vals[i].Float32s()
		if err != nil {
			return LGSTQuantiles{}, fmt.Errorf("train: map quantiles: %w", err)
		}
		*b.dst = f[0]
	}
	for i, b := range bufs {
		if err := b.buf.Assign(vals[i]); err != nil {
			return LGSTQuantiles{}, fmt.Errorf("train: map quantiles: %w", err)
		}
	}
	return q, nil
}
