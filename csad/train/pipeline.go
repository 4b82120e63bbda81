package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Stage names, in the order they run.
const (
	StagePseudoLabels = "pseudo-labels"
	StageSegmentor    = "segmentor"
	StageHistogram    = "histogram"
	StageLGST         = "lgst"
	StageFusion       = "fusion"
)

// Stages lists the training stages in order; PHStages are the Patch Histogram branch's.
var (
	Stages   = []string{StagePseudoLabels, StageSegmentor, StageHistogram, StageLGST, StageFusion}
	PHStages = []string{StagePseudoLabels, StageSegmentor, StageHistogram}
)

// ModelFile is the trained model a complete run writes into its folder; LGSTCheckpointFile the
// LGST stage's resumable state while it runs.
const (
	ModelFile               = "model.csad"
	LGSTCheckpointFile      = "lgst.checkpoint.pth"
	SegmentorCheckpointFile = "segmentor.checkpoint.pth"
)

// Options configure Train.
type Options struct {
	Data string // a category folder in the MVTec LOCO layout
	Out  string // the run folder: stage outputs and manifests
	// Masks is a masks root made elsewhere (the official datasets/masks layout, e.g. by SAM-HQ +
	// Grounding DINO): the pseudo-labels stage then clusters those masks instead of segmenting.
	// It is only read; the stage writes Out/masks/<category> either way.
	Masks   string
	Config  csad.Config // network sizes; the class count comes from the pseudo-labels
	Encoder string      // optional torchvision/timm WideResNet weights; else a seeded random encoder
	Device  string      // "cpu" (default), "cuda" or "cuda:N"
	Seed    uint64
	Seg     SegOptions
	LGST    LGSTOptions
	// ThresholdQuantile of the good validation scores is the model's operating point.
	ThresholdQuantile float64
	Stages            []string // a subset of Stages; empty: all
	Resume            bool
	Force             bool // rerun stages that are up to date
	// PseudoLabel makes the pseudo-labels of the category folder data into masks
	// (…/masks/<category>), from the masks under external when that is set.
	PseudoLabel func(ctx context.Context, data, masks, external string, seed uint64) error `json:"-"`
	// Log, if set, receives one line per stage event.
	Log func(format string, args ...any) `json:"-"`
}

// NetworkFile is the run folder's network state after the last stage that changed it.
const NetworkFile = "network.safetensors"

// Report is what a training run computed.
type Report struct {
	Detector DetectorFit
	Maps     LGSTQuantiles
	Fusion   Fusion
	Seconds  map[string]float64 // per stage run (skipped stages are absent)
	// ValidationSplit: the category had no validation/good and part of train/good served.
	ValidationSplit bool
}

// Train runs the training stages (docs/method.md): pseudo-labels, segmentor, histogram detector
// (the Patch Histogram branch), LGST, fusion, and with the last one writes Out/model.csad. Each
// stage reads files and writes files with a manifest; a stage whose manifest matches its options
// and inputs is skipped unless Force, and once a stage has run every later one runs too. It
// returns the trained network (the caller closes it; nil when only the pseudo-labels and
// segmentor stages were asked for). Test images are never read.
func Train(ctx context.Context, o Options) (*csad.Network, Report, error) {
	// The whole loop on one OS thread, not only each step: see torch.StayOnThread.
	defer torch.StayOnThread()()
	rep := Report{Seconds: map[string]float64{}}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dev, err := torch.ParseDevice(o.Device)
	if err != nil {
		return nil, rep, fmt.Errorf("train: %w", err)
	}
	ds, err := loco.Open(o.Data, loco.AllowMissingValidation())
	if err != nil {
		return nil, rep, err
	}
	allTrain, heldOut := ds.Train, map[string]bool{}
	if len(ds.Validation) == 0 {
		// No validation/good: a seeded share of train/good stands in, as the fusion and the
		// detector need images the networks were not trained on.
		if len(ds.Train) < 4 {
			return nil, rep, fmt.Errorf("train: %s has no validation/good and only %d training images to split", ds.Dir, len(ds.Train))
		}
		allTrain = ds.Train
		ds.Train, ds.Validation = splitValidation(ds.Train, o.Seed)
		for _, v := range ds.Validation {
			heldOut[v.Path] = true
		}
		rep.ValidationSplit = true
		logf("validation: %s has no validation/good: %d of %d train/good images (seeded) are held out for validation",
			ds.Dir, len(ds.Validation), len(ds.Train)+len(ds.Validation))
	}
	masks := filepath.Join(o.Out, "masks", ds.Category)
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, rep, fmt.Errorf("train: %w", err)
	}
	run := func(stage string) bool { return len(o.Stages) == 0 || slices.Contains(o.Stages, stage) }
	forced := o.Force
	netPath := filepath.Join(o.Out, NetworkFile)

	if run(StagePseudoLabels) {
		opts, _ := json.Marshal(map[string]any{"seed": o.Seed})
		m := Manifest{Stage: StagePseudoLabels, Options: opts, Outputs: []string{masks}}
		inputs := []string{trainFolder(ds)}
		if o.Masks != "" {
			inputs = append(inputs, filepath.Join(o.Masks, ds.Category))
		}
		if m.Inputs, err = digest(inputs...); err != nil {
			return nil, rep, err
		}
		if !forced && upToDate(o.Out, m) {
			logf("%s: up to date", StagePseudoLabels)
		} else {
			if o.PseudoLabel == nil {
				return nil, rep, fmt.Errorf("train: no pseudo-label generator given")
			}
			start := time.Now()
			if err := o.PseudoLabel(ctx, o.Data, masks, o.Masks, o.Seed); err != nil {
				return nil, rep, err
			}
			m.Seconds = time.Since(start).Seconds()
			if err := writeManifest(o.Out, m); err != nil {
				return nil, rep, err
			}
			forced, rep.Seconds[StagePseudoLabels] = true, m.Seconds
			logf("%s: %.1f s", StagePseudoLabels, m.Seconds)
		}
	}

	segOpts := o.Seg
	segOpts.Progress = nil
	if run(StageSegmentor) {
		opts, err := json.Marshal(map[string]any{"config": o.Config, "seg": segOpts, "seed": o.Seed, "encoder": o.Encoder})
		if err != nil {
			return nil, rep, err
		}
		m := Manifest{Stage: StageSegmentor, Options: opts, Outputs: []string{netPath}}
		if m.Inputs, err = digest(trainFolder(ds), masks); err != nil {
			return nil, rep, fmt.Errorf("%w (%v)", errStageOrder, err)
		}
		segCkpt := filepath.Join(o.Out, SegmentorCheckpointFile)
		unfinished, err := unfinishedStage(o, StageSegmentor, segCkpt)
		if err != nil {
			return nil, rep, err
		}
		if !forced && !unfinished && upToDate(o.Out, m) {
			logf("%s: up to date", StageSegmentor)
		} else {
			start := time.Now()
			segOpts := o.Seg
			segOpts.Checkpoint, segOpts.Resume = segCkpt, unfinished && o.Resume
			if segOpts.Resume {
				logf("%s: resuming from %s", StageSegmentor, segCkpt)
			}
			full := *ds
			full.Train = allTrain
			data, err := LoadSegData(&full, masks, int(o.Config.ImageSize), heldOut)
			if err != nil {
				return nil, rep, err
			}
			cfg := o.Config
			cfg.Segmentor.Classes = data.Classes
			net, err := csad.NewInitialised(cfg, o.Seed)
			if err != nil {
				return nil, rep, err
			}
			if o.Encoder != "" {
				if err := csad.LoadEncoderWeights(net, o.Encoder); err != nil {
					net.Close()
					return nil, rep, err
				}
			}
			if err := net.To(dev); err != nil {
				net.Close()
				return nil, rep, err
			}
			logf("%s: %d good-histogram images, %d others, %d classes, %d epochs", StageSegmentor, len(data.Sup), len(data.Unsup), data.Classes, o.Seg.Epochs)
			if _, err := TrainSegmentor(ctx, net, data, segOpts); err != nil {
				net.Close()
				return nil, rep, err
			}
			err = saveNetwork(netPath, net)
			net.Close()
			if err != nil {
				return nil, rep, err
			}
			m.Seconds = time.Since(start).Seconds()
			if err := writeManifest(o.Out, m); err != nil {
				return nil, rep, err
			}
			forced, rep.Seconds[StageSegmentor] = true, m.Seconds
			if err := os.Remove(segCkpt); err != nil && !os.IsNotExist(err) {
				return nil, rep, fmt.Errorf("train: %w", err)
			}
			logf("%s: %.1f s", StageSegmentor, m.Seconds)
		}
	}

	if !run(StageHistogram) && !run(StageLGST) && !run(StageFusion) {
		return nil, rep, nil // only the first stages were asked for: no network to hand back
	}
	net, err := loadNetwork(netPath)
	if err != nil {
		return nil, rep, fmt.Errorf("%w (%v)", errStageOrder, err)
	}
	if err := net.To(dev); err != nil {
		net.Close()
		return nil, rep, err
	}
	size := int(o.Config.ImageSize)
	var val [][]float32
	if run(StageHistogram) || run(StageLGST) || run(StageFusion) {
		if val, err = preprocessAll(ds.Validation, size); err != nil {
			net.Close()
			return nil, rep, err
		}
	}
	fail := func(err error) (*csad.Network, Report, error) {
		net.Close()
		return nil, rep, err
	}
	if run(StageHistogram) {
		start := time.Now()
		train, err := preprocessAll(ds.Train, size)
		if err != nil {
			return fail(err)
		}
		if rep.Detector, err = FitDetector(ctx, net, train, val); err != nil {
			return fail(err)
		}
		if err := saveNetwork(netPath, net); err != nil {
			return fail(err)
		}
		rep.Seconds[StageHistogram] = time.Since(start).Seconds()
		logf("%s: %d train, %d validation images, %.1f s", StageHistogram, rep.Detector.Train, rep.Detector.Validation, rep.Seconds[StageHistogram])
	}
	if run(StageLGST) {
		opts, err := json.Marshal(map[string]any{"lgst": o.LGST, "seed": o.Seed})
		if err != nil {
			return fail(err)
		}
		m := Manifest{Stage: StageLGST, Options: opts, Outputs: []string{netPath}}
		inputs := []string{trainFolder(ds)}
		if !rep.ValidationSplit {
			inputs = append(inputs, filepath.Join(ds.Dir, loco.Validation, loco.Good))
		}
		if m.Inputs, err = digest(inputs...); err != nil {
			return fail(err)
		}
		ckpt := filepath.Join(o.Out, LGSTCheckpointFile)
		unfinished, err := unfinishedStage(o, StageLGST, ckpt)
		if err != nil {
			return fail(err)
		}
		if !forced && !unfinished && upToDate(o.Out, m) {
			logf("%s: up to date", StageLGST)
		} else {
			start := time.Now()
			lo := o.LGST
			lo.Checkpoint, lo.Resume = ckpt, unfinished && o.Resume
			if lo.Resume {
				logf("%s: resuming from %s", StageLGST, ckpt)
			}
			var imgs []*imageproc.RGB
			for _, s := range ds.Train {
				img, err := imageproc.Load(s.Path)
				if err != nil {
					return fail(fmt.Errorf("train: %w", err))
				}
				imgs = append(imgs, img)
			}
			if o.LGST.Penalty == "" {
				logf("%s: no penalty images (-penalty-images): the student's penalty term is off", StageLGST)
			}
			logf("%s: %d iterations of batch %d", StageLGST, o.LGST.Train.Iterations, o.LGST.Batch)
			if rep.Maps, err = TrainLGST(ctx, net, imgs, val, lo, o.Seed); err != nil {
				return fail(err)
			}
			if err := saveNetwork(netPath, net); err != nil {
				return fail(err)
			}
			m.Seconds = time.Since(start).Seconds()
			if err := writeManifest(o.Out, m); err != nil {
				return fail(err)
			}
			forced, rep.Seconds[StageLGST] = true, m.Seconds
			if err := os.Remove(ckpt); err != nil && !os.IsNotExist(err) {
				return fail(fmt.Errorf("train: %w", err))
			}
			logf("%s: %.1f s", StageLGST, m.Seconds)
		}
	}
	if run(StageFusion) {
		start := time.Now()
		q := o.ThresholdQuantile
		if q == 0 {
			q = DefaultThresholdQuantile
		}
		if rep.Fusion, err = FuseScores(ctx, net, val, q); err != nil {
			return fail(err)
		}
		if err := saveNetwork(netPath, net); err != nil {
			return fail(err)
		}
		if err := writeModel(filepath.Join(o.Out, ModelFile), net, ds.Category, o, rep.Fusion); err != nil {
			return fail(err)
		}
		rep.Seconds[StageFusion] = time.Since(start).Seconds()
		logf("%s: threshold %.4g (quantile %.3g of %d validation scores), %.1f s -> %s", StageFusion, rep.Fusion.Threshold, q, len(val), rep.Seconds[StageFusion], filepath.Join(o.Out, ModelFile))
	}
	return net, rep, nil
}

// DefaultThresholdQuantile places the operating point at the 99th percentile of the good
// validation images' fused scores: about one false alarm in a hundred good parts.
const DefaultThresholdQuantile = 0.99

// writeModel writes the .csad model file with the resolved options and the operating point.
func writeModel(path string, net *csad.Network, category string, o Options, f Fusion) error {
	opts := o
	opts.PseudoLabel, opts.Log = nil, nil
	resolved, err := json.Marshal(opts)
	if err != nil {
		return err
	}
	h, err := csad.NewHeader(net, category, csad.Provenance{Tool: "csad train", Source: o.Data,
		Note: "trained by csad-go (no test data seen; last epoch/iteration kept)"})
	if err != nil {
		return err
	}
	th := f.Threshold
	h.Threshold, h.ThresholdQuantile, h.Training = &th, f.ThresholdQuantile, resolved
	return csad.SaveModel(path, net, h)
}

func trainFolder(ds *loco.Dataset) string { return filepath.Join(ds.Dir, loco.Train, loco.Good) }

func preprocessAll(samples []loco.Sample, size int) ([][]float32, error) {
	out := make([][]float32, 0, len(samples))
	for _, s := range samples {
		img, err := imageproc.Load(s.Path)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		out = append(out, imageproc.Preprocess(img, size))
	}
	return out, nil
}

func saveNetwork(path string, net *csad.Network) error {
	return torch.SaveTensorsMeta(path, nn.StateDict(net), map[string]string{"config": string(net.Config().JSON())})
}

func loadNetwork(path string) (*csad.Network, error) {
	s := torch.NewScope()
	defer s.Close()
	ts, meta, err := torch.LoadTensorsMeta(s, path)
	if err != nil {
		return nil, err
	}
	cfg, err := csad.ParseConfig([]byte(meta["config"]))
	if err != nil {
		return nil, err
	}
	net, err := csad.NewNetwork(cfg)
	if err != nil {
		return nil, err
	}
	if err := nn.LoadStateDict(net, ts, true); err != nil {
		net.Close()
		return nil, err
	}
	return net, nil
}

// ScorePatchHist scores preprocessed images with the Patch Histogram branch alone: the
// detector's z(d256) + z(d128), as Network.Forward computes it.
func ScorePatchHist(ctx context.Context, net *csad.Network, imgs [][]float32) ([]float64, error) {
	size := net.Config().ImageSize
	out := make([]float64, 0, len(imgs))
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := torch.Do(torch.InferenceMode, func(s *torch.Scope) error {
			x := net.Input(torch.FromSlice(s, img, 1, 3, size, size))
			v, err := net.Detector.Forward(net.Segmentor.Forward(net.Encoder.Forward(x)), 1).Score.Item()
			out = append(out, v)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("train: patch-histogram score of image %d: %w", i, err)
		}
	}
	return out, nil
}

// splitValidation holds out a seeded 15 % (at least 2) of the training images, keeping the
// listing order within each part.
func splitValidation(train []loco.Sample, seed uint64) (rest, val []loco.Sample) {
	n := max(2, len(train)*15/100)
	held := map[int]bool{}
	for _, i := range rand.New(rand.NewPCG(seed, 0x7a1)).Perm(len(train))[:n] {
		held[i] = true
	}
	for i, s := range train {
		if held[i] {
			val = append(val, s)
		} else {
			rest = append(rest, s)
		}
	}
	return rest, val
}

// unfinishedStage reports whether a stage left a checkpoint behind (it was interrupted). With
// Force the checkpoint is discarded; without Resume or Force the run is refused.
func unfinishedStage(o Options, stage, ckpt string) (bool, error) {
	if _, err := os.Stat(ckpt); err != nil {
		return false, nil
	}
	if o.Force {
		if err := os.Remove(ckpt); err != nil {
			return false, fmt.Errorf("train: %w", err)
		}
		return false, nil
	}
	if !o.Resume {
		return false, fmt.Errorf("train: %s holds an unfinished %s stage (%s): continue it with -resume, or start it over with -force", o.Out, stage, ckpt)
	}
	return true, nil
}
