package train

import (
	"context"
	"encoding/json"
	"fmt"
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
)

// Stages lists the Patch Histogram branch's stages in order.
var Stages = []string{StagePseudoLabels, StageSegmentor, StageHistogram}

// PHOptions configure TrainPatchHistogram.
type PHOptions struct {
	Data    string      // a category folder in the MVTec LOCO layout
	Out     string      // the run folder: stage outputs and manifests
	Masks   string      // pseudo-labels; default Out/masks/<category>
	Config  csad.Config // network sizes; the class count comes from the pseudo-labels
	Encoder string      // optional torchvision/timm WideResNet weights; else a seeded random encoder
	Seed    uint64
	Seg     SegOptions
	Stages  []string // a subset of Stages; empty: all
	Force   bool     // rerun stages that are up to date
	// PseudoLabel makes the pseudo-labels of Data into Masks (the pseudo-labels stage).
	PseudoLabel func(ctx context.Context, data, masks string, seed uint64) error
	// Log, if set, receives one line per stage event.
	Log func(format string, args ...any)
}

// NetworkFile is the run folder's network state after the last stage that changed it.
const NetworkFile = "network.safetensors"

// TrainPatchHistogram runs the Patch Histogram branch's stages (docs/method.md#patch-histogram):
// pseudo-labels, segmentor training, detector fit. Each stage reads files and writes files with
// a manifest; a stage whose manifest matches its options and inputs is skipped unless Force.
// It returns the trained network (the caller closes it) and the detector fit.
func TrainPatchHistogram(ctx context.Context, o PHOptions) (*csad.Network, DetectorFit, error) {
	var fit DetectorFit
	ds, err := loco.Open(o.Data)
	if err != nil {
		return nil, fit, err
	}
	if o.Masks == "" {
		o.Masks = filepath.Join(o.Out, "masks", ds.Category)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fit, fmt.Errorf("train: %w", err)
	}
	run := func(stage string) bool { return len(o.Stages) == 0 || slices.Contains(o.Stages, stage) }
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	netPath := filepath.Join(o.Out, NetworkFile)

	if run(StagePseudoLabels) {
		opts, _ := json.Marshal(map[string]any{"seed": o.Seed})
		m := Manifest{Stage: StagePseudoLabels, Options: opts, Outputs: []string{o.Masks}}
		if m.Inputs, err = digest(trainFolder(ds)); err != nil {
			return nil, fit, err
		}
		if !o.Force && upToDate(o.Out, m) {
			logf("%s: up to date", StagePseudoLabels)
		} else {
			if o.PseudoLabel == nil {
				return nil, fit, fmt.Errorf("train: no pseudo-label generator given")
			}
			start := time.Now()
			if err := o.PseudoLabel(ctx, o.Data, o.Masks, o.Seed); err != nil {
				return nil, fit, err
			}
			m.Seconds = time.Since(start).Seconds()
			if err := writeManifest(o.Out, m); err != nil {
				return nil, fit, err
			}
			logf("%s: %.1f s", StagePseudoLabels, m.Seconds)
		}
	}

	segOpts := o.Seg
	segOpts.Progress = nil
	if run(StageSegmentor) {
		opts, err := json.Marshal(map[string]any{"config": o.Config, "seg": segOpts, "seed": o.Seed, "encoder": o.Encoder})
		if err != nil {
			return nil, fit, err
		}
		m := Manifest{Stage: StageSegmentor, Options: opts, Outputs: []string{netPath}}
		if m.Inputs, err = digest(trainFolder(ds), o.Masks); err != nil {
			return nil, fit, fmt.Errorf("%w (%v)", errStageOrder, err)
		}
		if !o.Force && upToDate(o.Out, m) {
			logf("%s: up to date", StageSegmentor)
		} else {
			start := time.Now()
			data, err := LoadSegData(ds, o.Masks, int(o.Config.ImageSize))
			if err != nil {
				return nil, fit, err
			}
			cfg := o.Config
			cfg.Segmentor.Classes = data.Classes
			net, err := csad.NewInitialised(cfg, o.Seed)
			if err != nil {
				return nil, fit, err
			}
			if o.Encoder != "" {
				if err := csad.LoadEncoderWeights(net, o.Encoder); err != nil {
					net.Close()
					return nil, fit, err
				}
			}
			logf("%s: %d good-histogram images, %d others, %d classes, %d epochs", StageSegmentor, len(data.Sup), len(data.Unsup), data.Classes, o.Seg.Epochs)
			if _, err := TrainSegmentor(ctx, net, data, o.Seg); err != nil {
				net.Close()
				return nil, fit, err
			}
			err = saveNetwork(netPath, net)
			net.Close()
			if err != nil {
				return nil, fit, err
			}
			m.Seconds = time.Since(start).Seconds()
			if err := writeManifest(o.Out, m); err != nil {
				return nil, fit, err
			}
			logf("%s: %.1f s", StageSegmentor, m.Seconds)
		}
	}

	net, err := loadNetwork(netPath)
	if err != nil {
		return nil, fit, fmt.Errorf("%w (%v)", errStageOrder, err)
	}
	if run(StageHistogram) {
		start := time.Now()
		train, err := preprocessAll(ds.Train, int(o.Config.ImageSize))
		if err == nil {
			var val [][]float32
			if val, err = preprocessAll(ds.Validation, int(o.Config.ImageSize)); err == nil {
				fit, err = FitDetector(ctx, net, train, val)
			}
		}
		if err == nil {
			err = saveNetwork(netPath, net)
		}
		if err != nil {
			net.Close()
			return nil, fit, err
		}
		logf("%s: %d train, %d validation images, %.1f s", StageHistogram, fit.Train, fit.Validation, time.Since(start).Seconds())
	}
	return net, fit, nil
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
			x := torch.FromSlice(s, img, 1, 3, size, size)
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
