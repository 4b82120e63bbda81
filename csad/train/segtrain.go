package train

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/augment"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// SegSample is one training image of the segmentor at the network's size S: the image as 8-bit
// RGB (S·S·3, row-major), its pseudo-label map (class per pixel, 0 background), and for LSA its
// component map and background map (non-zero = background).
type SegSample struct {
	Image, Labels, Components, Background []uint8
}

// SegData is the segmentor's training set: Sup are the images with a good histogram (trained
// on their labels, with LSA and augmentation), Unsup the others (entropy and histogram terms).
type SegData struct {
	Size        int
	Sup         []SegSample
	Unsup       [][]uint8 // images only
	Classes     int64
	Description string // for the log: where the labels came from
}

// SegOptions are the segmentor stage's sizes and switches (docs/method.md#segmentor-training).
type SegOptions struct {
	Epochs, SupOnlyEpochs, Batch int
	Train                        SegTrainConfig
	LSA                          augment.LSAOptions
	NoLSA                        bool
	Seed                         uint64
	// Progress, if set, is called after every iteration.
	Progress func(epoch, iter, iters int, loss SegLossValues) `json:"-"`
	// Checkpoint, if set, receives the state after every epoch (atomically); with Resume an
	// existing one is continued. Each epoch draws from generators seeded by (Seed, epoch), so a
	// resumed run computes what an uninterrupted one does.
	Checkpoint string `json:"-"`
	Resume     bool   `json:"-"`
}

// DefaultSegOptions are the official values: 120 epochs, of which 50 supervised only, batches of
// 4, Adam(0.01, 1e-5), LSA always.
func DefaultSegOptions() SegOptions {
	return SegOptions{Epochs: 120, SupOnlyEpochs: 50, Batch: 4, Train: DefaultSegTrainConfig(), LSA: augment.DefaultLSAOptions(), Seed: 42}
}

// TrainSegmentor trains net's segmentor on data as the official loop does (an epoch is
// ⌊|sup|/batch⌋ iterations of one sup and one unsup batch) and leaves it in evaluation mode.
// There is no model selection: the official code picks the epoch with the best test AUROC; we
// never look at test data, and keep the last epoch (the loss plateaus well before it).
// Randomness (shuffles, LSA, augmentation) comes from Seed alone.
func TrainSegmentor(ctx context.Context, net *csad.Network, data SegData, o SegOptions) ([]SegLossValues, error) {
	// The whole loop on one OS thread, not only each step: see torch.StayOnThread.
	defer torch.StayOnThread()()
	if err := data.validate(net); err != nil {
		return nil, err
	}
	if o.Batch < 1 || o.Epochs < 0 || o.SupOnlyEpochs < 0 {
		return nil, fmt.Errorf("train: segmentor batch %d, epochs %d, supervised-only epochs %d: want batch ≥ 1 and epochs ≥ 0", o.Batch, o.Epochs, o.SupOnlyEpochs)
	}
	batch := min(o.Batch, len(data.Sup))
	trainer, err := NewSegTrainer(net.Encoder, net.Segmentor, o.Train)
	if err != nil {
		return nil, err
	}
	defer trainer.Close()
	defer nn.SetTraining(net.Segmentor, false)
	// With no image outside the good-histogram set the unsupervised terms see sup images
	// (un-augmented): the official loader would have nothing to draw from and stop.
	unsupImgs := data.Unsup
	if len(unsupImgs) == 0 {
		for _, s := range data.Sup {
			unsupImgs = append(unsupImgs, s.Image)
		}
	}
	parts := []namedLayer{{"segmentor", net.Segmentor}}
	first := 0
	if o.Resume && o.Checkpoint != "" {
		c, err := loadState(o.Checkpoint, parts, trainer.opt, "epoch")
		if err != nil {
			return nil, err
		}
		first = int(c["epoch"])
	}
	iters := len(data.Sup) / batch
	var history []SegLossValues
	for epoch := first; epoch < o.Epochs; epoch++ {
		// An epoch is one pass over the sup set (drop_last), so a fresh shuffle per epoch is the
		// official infinite loader; the unsup loader restarts with it.
		rng := rand.New(rand.NewPCG(o.Seed, 0x5e6+uint64(epoch)))
		sup := newLoader(rng, len(data.Sup), batch)
		unsup := newLoader(rng, len(unsupImgs), min(batch, len(unsupImgs)))
		for it := range iters {
			if err := ctx.Err(); err != nil {
				return history, err
			}
			v, err := segIteration(trainer, data, unsupImgs, sup.next(), unsup.next(), rng, o, epoch < o.SupOnlyEpochs)
			if err != nil {
				return history, fmt.Errorf("train: segmentor epoch %d iteration %d: %w", epoch+1, it+1, err)
			}
			history = append(history, v)
			if o.Progress != nil {
				o.Progress(epoch, it, iters, v)
			}
		}
		if o.Checkpoint != "" && epoch+1 < o.Epochs {
			if err := saveState(o.Checkpoint, parts, trainer.opt, map[string]int64{"epoch": int64(epoch + 1)}); err != nil {
				return history, err
			}
		}
	}
	return history, nil
}

func segIteration(tr *SegTrainer, data SegData, unsupImgs [][]uint8, supIdx, unsupIdx []int, rng *rand.Rand, o SegOptions, supOnly bool) (SegLossValues, error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	size := int64(data.Size)
	var imgs []float32
	var gts, rands []int64
	for _, i := range supIdx {
		img, gt, err := augmentSample(rng, data, data.Sup[i], o)
		if err != nil {
			return SegLossValues{}, err
		}
		imgs = append(imgs, normalise(img, data.Size)...)
		gts = append(gts, widen(gt)...)
		rands = append(rands, widen(data.Sup[rng.IntN(len(data.Sup))].Labels)...)
	}
	var uimgs []float32
	for _, i := range unsupIdx {
		uimgs = append(uimgs, normalise(unsupImgs[i], data.Size)...)
	}
	b, ub := int64(len(supIdx)), int64(len(unsupIdx))
	sb := SupBatch{
		Images: tr.input(torch.FromSlice(s, imgs, b, 3, size, size)),
		GT:     tr.input(torch.FromSlice(s, gts, b, size, size)),
		RandGT: tr.input(torch.FromSlice(s, rands, b, size, size)),
	}
	return tr.Step(sb, tr.input(torch.FromSlice(s, uimgs, ub, 3, size, size)), supOnly)
}

// augmentSample is the sup set's __getitem__: LSA (always, as every official config sets
// LSA_ratio 1), then a random similarity transform and brightness/contrast, each with p 0.5.
func augmentSample(rng *rand.Rand, data SegData, sm SegSample, o SegOptions) (img, gt []uint8, err error) {
	img, gt = sm.Image, sm.Labels
	if !o.NoLSA {
		if img, gt, _, err = augment.LSA(rng, img, gt, sm.Components, sm.Background, data.Size, data.Size, o.LSA); err != nil {
			return nil, nil, err
		}
	}
	if img, gt, err = augment.ShiftScaleRotate(rng, img, gt, data.Size, data.Size, augment.DefaultShiftScaleRotate()); err != nil {
		return nil, nil, err
	}
	if img, err = augment.RandomBrightnessContrast(rng, img, augment.DefaultBrightnessContrast()); err != nil {
		return nil, nil, err
	}
	return img, gt, nil
}

func normalise(rgb []uint8, size int) []float32 {
	return imageproc.Normalize(&imageproc.RGB{W: size, H: size, Pix: rgb})
}

func widen(l []uint8) []int64 {
	out := make([]int64, len(l))
	for i, v := range l {
		out[i] = int64(v)
	}
	return out
}

func (d SegData) validate(net *csad.Network) error {
	cfg := net.Config()
	if int64(d.Size) != cfg.ImageSize {
		return fmt.Errorf("train: segmentor data is %d px, the network takes %d", d.Size, cfg.ImageSize)
	}
	if d.Classes != cfg.Segmentor.Classes {
		return fmt.Errorf("train: the pseudo-labels have %d classes (with background), the network's segmentor %d", d.Classes, cfg.Segmentor.Classes)
	}
	if len(d.Sup) == 0 {
		return fmt.Errorf("train: no image with a good histogram to train the segmentor on (%s)", d.Description)
	}
	px := d.Size * d.Size
	for i, s := range d.Sup {
		if len(s.Image) != 3*px || len(s.Labels) != px || len(s.Components) != px || len(s.Background) != px {
			return fmt.Errorf("train: segmentor sample %d has the wrong size", i)
		}
		for _, v := range s.Labels {
			if int64(v) >= d.Classes {
				return fmt.Errorf("train: segmentor sample %d has label %d, only %d classes", i, v, d.Classes)
			}
		}
	}
	for i, u := range d.Unsup {
		if len(u) != 3*px {
			return fmt.Errorf("train: unsupervised image %d has the wrong size", i)
		}
	}
	return nil
}

// loader deals shuffled batches forever, dropping the incomplete last batch of each pass, as
// the official infinite DataLoader(shuffle=True, drop_last=True) does.
type loader struct {
	rng      *rand.Rand
	n, batch int
	perm     []int
	pos      int
}

func newLoader(rng *rand.Rand, n, batch int) *loader {
	return &loader{rng: rng, n: n, batch: batch, pos: n}
}

func (l *loader) next() []int {
	if l.pos+l.batch > l.n {
		l.perm, l.pos = l.rng.Perm(l.n), 0
	}
	b := l.perm[l.pos : l.pos+l.batch]
	l.pos += l.batch
	return b
}

// input moves a host batch to the segmentor's device.
func (t *SegTrainer) input(x *torch.Tensor) *torch.Tensor {
	if d := t.seg.Device(); !x.Device().Equal(d) {
		return x.ToDevice(d)
	}
	return x
}
