package train

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/augment"
	"github.com/csad-go/csad/csad/cluster"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// LGSTOptions are the LGST stage's schedule and data switches (docs/method.md#lgst-training).
type LGSTOptions struct {
	Train  LGSTTrainConfig
	Batch  int // images per step (official 2)
	Jitter augment.ColorJitterOptions
	// Penalty is a folder of natural images for the student's penalty term; empty: no penalty.
	Penalty string
	// CheckpointEvery iterations the training state (weights, Adam state, schedule, iteration)
	// is written atomically to Checkpoint, if set; randomness is re-derived from the seed at
	// each checkpoint, so a resumed run computes exactly what an uninterrupted one does.
	CheckpointEvery int
	Checkpoint      string `json:"-"`
	// Resume continues from Checkpoint when it exists.
	Resume bool `json:"-"`
	// Progress, if set, is called after every iteration.
	Progress func(it, iters int, loss LGSTLossValues) `json:"-"`
}

// DefaultLGSTOptions are the official values: 60 000 iterations of batches of 2.
func DefaultLGSTOptions() LGSTOptions {
	return LGSTOptions{Train: DefaultLGSTTrainConfig(), Batch: 2, Jitter: augment.DefaultColorJitter()}
}

// TrainLGST trains net's local student and autoencoder (docs/method.md#lgst-training): teacher
// statistics on the training images, Train.Iterations steps over shuffled batches (each image
// also as a colour-jittered copy for the autoencoder terms, and one penalty image per step when
// a penalty folder is given), then the map quantiles on the validation images. It keeps the last
// iteration: the official code picks the one with the best test AUROC; we never look at test data.
func TrainLGST(ctx context.Context, net *csad.Network, train []*imageproc.RGB, val [][]float32, o LGSTOptions, seed uint64) (LGSTQuantiles, error) {
	// The whole loop on one OS thread, not only each step: see torch.StayOnThread.
	defer torch.StayOnThread()()
	var q LGSTQuantiles
	size := int(net.Config().ImageSize)
	if len(train) == 0 || len(val) == 0 {
		return q, fmt.Errorf("train: LGST needs training and validation images, got %d and %d", len(train), len(val))
	}
	if o.Batch < 1 {
		return q, fmt.Errorf("train: LGST batch %d: want ≥ 1", o.Batch)
	}
	pre := make([][]float32, len(train))
	for i, img := range train {
		pre[i] = imageproc.Normalize(imageproc.ResizeBilinear(img, size, size))
	}
	if err := TeacherStats(ctx, net, pre, o.Batch, seed); err != nil {
		return q, err
	}
	var pen *PenaltySet
	if o.Penalty != "" {
		var err error
		if pen, err = LoadPenaltyImages(o.Penalty, size); err != nil {
			return q, err
		}
	}
	tr, err := NewLGSTTrainer(net, o.Train)
	if err != nil {
		return q, err
	}
	defer tr.Close()
	every := o.CheckpointEvery
	if every <= 0 {
		every = defaultCheckpointEvery
	}
	start := 0
	if o.Resume && o.Checkpoint != "" {
		if start, err = loadLGSTCheckpoint(o.Checkpoint, net, tr); err != nil {
			return q, err
		}
	}
	n := int64(size)
	for chunk := start / every; chunk*every < o.Train.Iterations; chunk++ {
		// Each chunk draws from generators seeded by (seed, chunk): dropout masks from LibTorch's
		// global one, batches, jitter and penalty images from its own.
		if err := torch.ManualSeed(seed + uint64(chunk)); err != nil {
			return q, err
		}
		rng := rand.New(rand.NewPCG(seed, 0x195+uint64(chunk)))
		var order []int
		end := min((chunk+1)*every, o.Train.Iterations)
		for it := chunk * every; it < end; it++ {
			if err := ctx.Err(); err != nil {
				return q, err
			}
			if len(order) == 0 {
				order = rng.Perm(len(train)) // a new epoch; its last batch may be smaller
			}
			b := order[:min(o.Batch, len(order))]
			order = order[len(b):]
			v, err := lgstIteration(tr, train, pre, pen, b, rng, o, n)
			if err != nil {
				return q, fmt.Errorf("train: LGST iteration %d: %w", it+1, err)
			}
			if o.Progress != nil {
				o.Progress(it, o.Train.Iterations, v)
			}
		}
		if o.Checkpoint != "" && end < o.Train.Iterations {
			if err := saveLGSTCheckpoint(o.Checkpoint, net, tr, end); err != nil {
				return q, err
			}
		}
	}
	nn.SetTraining(net.Student, false)
	nn.SetTraining(net.AE, false)
	return MapQuantiles(ctx, net, val)
}

const defaultCheckpointEvery = 500

// saveLGSTCheckpoint writes the LGST training state: the student's and autoencoder's weights,
// Adam's state, the schedule's epoch and the next iteration.
func saveLGSTCheckpoint(path string, net *csad.Network, tr *LGSTTrainer, next int) error {
	return saveState(path, []namedLayer{{"student", net.Student}, {"autoencoder", net.AE}}, tr.opt,
		map[string]int64{"iteration": int64(next), "last_epoch": int64(tr.sched.LastEpoch)})
}

// loadLGSTCheckpoint restores what saveLGSTCheckpoint wrote and returns the next iteration.
func loadLGSTCheckpoint(path string, net *csad.Network, tr *LGSTTrainer) (int, error) {
	c, err := loadState(path, []namedLayer{{"student", net.Student}, {"autoencoder", net.AE}}, tr.opt, "iteration", "last_epoch")
	if err != nil {
		return 0, err
	}
	tr.sched.LastEpoch = int(c["last_epoch"])
	return int(c["iteration"]), nil
}

func lgstIteration(tr *LGSTTrainer, train []*imageproc.RGB, pre [][]float32, pen *PenaltySet, b []int, rng *rand.Rand, o LGSTOptions, size int64) (LGSTLossValues, error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	var img, aug []float32
	for _, i := range b {
		img = append(img, pre[i]...)
		a, _, err := AugImage(rng, train[i], int(size), o.Jitter)
		if err != nil {
			return LGSTLossValues{}, err
		}
		aug = append(aug, a...)
	}
	k := int64(len(b))
	var penalty *torch.Tensor
	if pen != nil {
		p, err := pen.Image(rng, rng.IntN(pen.Len()))
		if err != nil {
			return LGSTLossValues{}, err
		}
		penalty = tr.net.Input(torch.FromSlice(s, p, 1, 3, size, size))
	}
	return tr.Step(tr.net.Input(torch.FromSlice(s, img, k, 3, size, size)), tr.net.Input(torch.FromSlice(s, aug, k, 3, size, size)), penalty)
}

// Fusion is what FuseScores computed on the validation images.
type Fusion struct {
	LGSTMean, LGSTStd, PHMean, PHStd float64
	Scores                           []float64 // fused validation scores, as csad score computes them
	Threshold, ThresholdQuantile     float64
}

// FuseScores sets net's fusion normalisers (docs/method.md#fusion-and-normalisation): the trimmed
// statistics of the validation images' LGST and patch-histogram scores (a spread ≤ 1e-3 becomes
// 1, as the official export does), both computed by the deployed forward pass, one image per
// call, so csad score reproduces them exactly. The operating point is the quantile q of the fused
// validation scores.
func FuseScores(ctx context.Context, net *csad.Network, val [][]float32, q float64) (Fusion, error) {
	var f Fusion
	if !(q > 0 && q <= 1) {
		return f, fmt.Errorf("train: threshold quantile %v must lie in (0, 1]", q)
	}
	if err := setScalars(map[*torch.Tensor]float64{net.LGSTMean: 0, net.LGSTStd: 1, net.PatchHistMean: 0, net.PatchHistStd: 1}); err != nil {
		return f, err
	}
	lgst, ph, _, err := forwardAll(ctx, net, val)
	if err != nil {
		return f, err
	}
	if f.LGSTMean, f.LGSTStd, err = trimmed("LGST", lgst); err != nil {
		return f, err
	}
	if f.PHMean, f.PHStd, err = trimmed("patch-histogram", ph); err != nil {
		return f, err
	}
	if err := setScalars(map[*torch.Tensor]float64{net.LGSTMean: f.LGSTMean, net.LGSTStd: f.LGSTStd, net.PatchHistMean: f.PHMean, net.PatchHistStd: f.PHStd}); err != nil {
		return f, err
	}
	if _, _, f.Scores, err = forwardAll(ctx, net, val); err != nil {
		return f, err
	}
	f.ThresholdQuantile, f.Threshold = q, cluster.Quantile(f.Scores, q)
	return f, nil
}

// forwardAll runs Network.Forward on each image alone and returns its LGST, patch-histogram and
// fused scores.
func forwardAll(ctx context.Context, net *csad.Network, imgs [][]float32) (lgst, ph, score []float64, err error) {
	size := net.Config().ImageSize
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
		err := torch.Do(torch.InferenceMode, func(s *torch.Scope) error {
			o, err := net.Forward(net.Input(torch.FromSlice(s, img, 1, 3, size, size)))
			if err != nil {
				return err
			}
			for _, p := range []struct {
				t   *torch.Tensor
				dst *[]float64
			}{{o.LGST, &lgst}, {o.PatchHist, &ph}, {o.Score, &score}} {
				v, err := p.t.Item()
				if err != nil {
					return err
				}
				*p.dst = append(*p.dst, v)
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("train: validation image %d: %w", i, err)
		}
	}
	return lgst, ph, score, nil
}
