package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/train"
)

func init() { rootCmd.AddCommand(newTrainCmd()) }

// trainPreset resolves a preset name to network sizes and schedules.
func trainPreset(name string) (csad.Config, train.SegOptions, train.LGSTOptions, error) {
	seg, lgst := train.DefaultSegOptions(), train.DefaultLGSTOptions()
	switch name {
	case "paper":
		return csad.PaperConfig(2), seg, lgst, nil
	case "cpu":
		// The reduced widths train the segmentor on a synthetic category in about a minute on 2
		// cores; fewer epochs leave it at chance (measured: 12 epochs AUROC 0.46, 60 epochs 0.99 on
		// a 24-image tray).
		// Batches of 2 give the few good-histogram images of a small training set more updates.
		seg.Epochs, seg.SupOnlyEpochs, seg.Batch = 60, 25, 2
		lgst.Train.Iterations = cpuLGSTIterations
		return csad.SmallConfig(2), seg, lgst, nil
	}
	return csad.Config{}, seg, lgst, fmt.Errorf("train: unknown preset %q (paper or cpu)", name)
}

// trainConfig is the -config file: every field optional, unknown keys refused. Flags given on
// the command line win over it; it wins over the preset.
type trainConfig struct {
	Preset            string   `json:"preset"`
	ImageSize         int      `json:"image_size"`
	Seed              *uint64  `json:"seed"`
	ThresholdQuantile *float64 `json:"threshold_quantile"`
	Segmentor         struct {
		Epochs, SupOnlyEpochs, Batch *int
		LR, WeightDecay              *float64
	} `json:"segmentor"`
	LGST struct {
		Iterations, Batch *int
		LR, WeightDecay   *float64
		PenaltyImages     string `json:"penalty_images"`
	} `json:"lgst"`
}

func readTrainConfig(path string) (trainConfig, error) {
	var c trainConfig
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("train: -config: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("train: -config %s: %w (keys: preset, image_size, seed, threshold_quantile, segmentor{Epochs, SupOnlyEpochs, Batch, LR, WeightDecay}, lgst{Iterations, Batch, LR, WeightDecay, penalty_images})", path, err)
	}
	return c, nil
}

// apply copies the file's values that the command line did not set.
func (c trainConfig) apply(set func(string) bool, preset *string, imageSize *int, seed *uint64, q *float64, seg *train.SegOptions, lgst *train.LGSTOptions, penalty *string) {
	if c.Preset != "" && !set("preset") {
		*preset = c.Preset
	}
	if c.ImageSize != 0 && !set("image-size") {
		*imageSize = c.ImageSize
	}
	if c.Seed != nil && !set("seed") {
		*seed = *c.Seed
	}
	if c.ThresholdQuantile != nil && !set("threshold-quantile") {
		*q = *c.ThresholdQuantile
	}
	for _, p := range []struct {
		v    *int
		dst  *int
		flag string
	}{{c.Segmentor.Epochs, &seg.Epochs, "epochs"}, {c.Segmentor.SupOnlyEpochs, &seg.SupOnlyEpochs, "sup-only-epochs"},
		{c.Segmentor.Batch, &seg.Batch, "batch"}, {c.LGST.Iterations, &lgst.Train.Iterations, "iterations"}, {c.LGST.Batch, &lgst.Batch, ""}} {
		if p.v != nil && (p.flag == "" || !set(p.flag)) {
			*p.dst = *p.v
		}
	}
	for _, p := range []struct{ v, dst *float64 }{{c.Segmentor.LR, &seg.Train.LR}, {c.Segmentor.WeightDecay, &seg.Train.WeightDecay},
		{c.LGST.LR, &lgst.Train.LR}, {c.LGST.WeightDecay, &lgst.Train.WeightDecay}} {
		if p.v != nil {
			*p.dst = *p.v
		}
	}
	if c.LGST.PenaltyImages != "" && !set("penalty-images") {
		*penalty = c.LGST.PenaltyImages
	}
}

func newTrainCmd() *cobra.Command {
	var data, category, out, masks, preset, encoder, stages, penalty, device, configFile string
	var seed uint64
	var epochs, supOnly, batch, iterations, imageSize, ckptEvery int
	var force, resume, all bool
	var thresholdQ float64
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a CSAD model: pseudo-labels, segmentor, histogram detector, LGST, fusion",
		Long: `Train CSAD on a category in the MVTec LOCO layout (docs/method.md): pseudo-labels of
train/good (or masks made elsewhere, -masks), the component segmentor, the histogram
detector (fitted on train/good, normalised on validation/good), the LGST student and
autoencoder, and the fusion of both branches on validation/good with an operating point
(-threshold-quantile). Writes OUT/model.csad, which csad score uses. Stages write their
outputs and a manifest into -out; a stage whose manifest matches is skipped unless -force.
Test images are never read: there is no model selection on test data.
Without -encoder the encoder is a seeded random WideResNet.`,
		Example: "  csad train -data data -category tray -out runs/tray -preset cpu",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all {
				return trainAll(cmd, data, out)
			}
			if data == "" || category == "" || out == "" {
				return fmt.Errorf("train: -data, -category (or -all) and -out are required")
			}
			var file trainConfig
			if configFile != "" {
				var err error
				if file, err = readTrainConfig(configFile); err != nil {
					return err
				}
				if file.Preset != "" && !cmd.Flags().Changed("preset") {
					preset = file.Preset
				}
			}
			cfg, seg, lgst, err := trainPreset(preset)
			if err != nil {
				return err
			}
			file.apply(cmd.Flags().Changed, &preset, &imageSize, &seed, &thresholdQ, &seg, &lgst, &penalty)
			for name, v := range map[string]int{"epochs": epochs, "sup-only-epochs": supOnly, "batch": batch + 1, "iterations": iterations + 1} {
				if v < -1 {
					return fmt.Errorf("train: -%s is out of range (negative)", name)
				}
			}
			if epochs >= 0 {
				seg.Epochs = epochs
			}
			if supOnly >= 0 {
				seg.SupOnlyEpochs = supOnly
			}
			if batch > 0 {
				seg.Batch = batch
			}
			if iterations > 0 {
				lgst.Train.Iterations = iterations
			}
			if imageSize != 0 {
				cfg = cfg.WithImageSize(int64(imageSize))
				if err := cfg.Validate(); err != nil {
					return fmt.Errorf("train: -image-size: %w", err)
				}
			}
			if !(thresholdQ > 0 && thresholdQ <= 1) {
				return fmt.Errorf("train: -threshold-quantile %v must lie in (0, 1]", thresholdQ)
			}
			seg.Seed = seed
			lgst.Penalty = penalty
			if ckptEvery < 0 {
				return fmt.Errorf("train: -lgst-checkpoint-every %d is negative", ckptEvery)
			}
			lgst.CheckpointEvery = ckptEvery
			o := train.Options{
				Data: filepath.Join(data, category), Out: out, Masks: masks, Config: cfg, Encoder: encoder, Device: device,
				Seed: seed, Seg: seg, LGST: lgst, ThresholdQuantile: thresholdQ, Force: force, Resume: resume, PseudoLabel: pseudoLabeller(encoder),
				Log: func(f string, a ...any) { fmt.Fprintf(cmd.OutOrStdout(), "train: "+f+"\n", a...) },
			}
			if stages != "" {
				for _, s := range strings.Split(stages, ",") {
					if !slices.Contains(train.Stages, s) {
						return fmt.Errorf("train: unknown stage %q (%s)", s, strings.Join(train.Stages, ", "))
					}
					o.Stages = append(o.Stages, s)
				}
			}
			if encoder == "" {
				fmt.Fprintln(cmd.OutOrStdout(), "train: no -encoder: the encoder is a seeded random WideResNet (ImageNet weights improve the segmentation)")
			}
			resolved, err := json.Marshal(map[string]any{"preset": preset, "image_size": cfg.ImageSize, "seed": seed,
				"threshold_quantile": thresholdQ, "segmentor": map[string]any{"epochs": seg.Epochs, "sup_only_epochs": seg.SupOnlyEpochs,
					"batch": seg.Batch, "lr": seg.Train.LR, "weight_decay": seg.Train.WeightDecay},
				"lgst": map[string]any{"iterations": lgst.Train.Iterations, "batch": lgst.Batch, "lr": lgst.Train.LR,
					"weight_decay": lgst.Train.WeightDecay, "penalty_images": penalty}, "device": device})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "train: options %s\n", resolved)
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("train: %w", err)
			}
			// The training log: one JSON object per line (stage events and every iteration's
			// losses), appended, so a rerun adds to the history.
			logFile, err := os.OpenFile(filepath.Join(out, "train.log.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			defer logFile.Close()
			jlog := slog.New(slog.NewJSONHandler(logFile, nil))
			jlog.Info("start", "category", category, "options", json.RawMessage(resolved))
			text := o.Log
			o.Log = func(f string, a ...any) {
				text(f, a...)
				jlog.Info("stage", "msg", fmt.Sprintf(f, a...))
			}
			last := time.Now()
			var segBar, lgstBar *progressbar.ProgressBar
			o.Seg.Progress = func(epoch, it, iters int, v train.SegLossValues) {
				jlog.Info("segmentor", "epoch", epoch+1, "iteration", it+1, "iterations", iters, "loss", v.Total,
					"ce", v.CE, "focal", v.Focal, "dice", v.Dice, "hist", v.Hist, "entropy_sup", v.EntropySup, "entropy_unsup", v.EntropyUnsup)
				if segBar == nil && epoch == 0 && it == 0 {
					segBar = stageBar(cmd.ErrOrStderr(), seg.Epochs*iters, "segmentor")
				}
				if segBar != nil {
					segBar.Add(1)
					return
				}
				if time.Since(last) > 5*time.Second || (it == iters-1 && epoch == seg.Epochs-1) {
					last = time.Now()
					fmt.Fprintf(cmd.ErrOrStderr(), "segmentor: epoch %d/%d iteration %d/%d loss %.4f\n", epoch+1, seg.Epochs, it+1, iters, v.Total)
				}
			}
			o.LGST.Progress = func(it, iters int, v train.LGSTLossValues) {
				jlog.Info("lgst", "iteration", it+1, "iterations", iters, "loss", v.Total, "st", v.ST, "hard", v.Hard,
					"penalty", v.Penalty, "ae", v.AE, "stae", v.STAE)
				if lgstBar == nil {
					lgstBar = stageBar(cmd.ErrOrStderr(), iters, "lgst")
					if lgstBar != nil {
						lgstBar.Set(it)
					}
				}
				if lgstBar != nil {
					lgstBar.Add(1)
					return
				}
				if time.Since(last) > 5*time.Second || it == iters-1 {
					last = time.Now()
					fmt.Fprintf(cmd.ErrOrStderr(), "lgst: iteration %d/%d loss %.4f (st %.4f ae %.4f stae %.4f)\n", it+1, iters, v.Total, v.ST, v.AE, v.STAE)
				}
			}
			start := time.Now()
			net, rep, err := train.Train(cmd.Context(), o)
			if err != nil {
				return err
			}
			net.Close()
			jlog.Info("done", "seconds", rep.Seconds, "threshold", rep.Fusion.Threshold, "validation_split", rep.ValidationSplit)
			var times []string
			for _, st := range train.Stages {
				if sec, ok := rep.Seconds[st]; ok {
					times = append(times, fmt.Sprintf("%s %.0fs", st, sec))
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "train: done in %s (%s)\n", time.Since(start).Round(time.Second), strings.Join(times, ", "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data set root (the folder holding <category>/) (required)")
	f.StringVar(&category, "category", "", "category name (required)")
	f.StringVar(&out, "out", "", "run folder for stage outputs and manifests (required)")
	f.StringVar(&masks, "masks", "", "a masks root made elsewhere (official datasets/masks/<category> layout, e.g. SAM-HQ + Grounding DINO): clustered instead of segmenting, only read")
	f.StringVar(&preset, "preset", "cpu", "sizes and schedule: paper (the official values) or cpu")
	f.StringVar(&encoder, "encoder", "", "torchvision/timm WideResNet-50-2 weights (.pth or .safetensors)")
	f.StringVar(&stages, "stages", "", "comma-separated subset of "+strings.Join(train.Stages, ",")+" (default all)")
	f.Uint64Var(&seed, "seed", 42, "random seed of every stage")
	f.IntVar(&epochs, "epochs", -1, "segmentor epochs (default: the preset's)")
	f.IntVar(&supOnly, "sup-only-epochs", -1, "supervised-only segmentor epochs (default: the preset's)")
	f.IntVar(&batch, "batch", 0, "segmentor batch size (default: the preset's: paper 4, cpu 2)")
	f.BoolVar(&all, "all", false, "train every category under -data (with train/good) into OUT/<category>")
	f.BoolVar(&force, "force", false, "rerun stages that are up to date, and start an unfinished stage over")
	f.IntVar(&ckptEvery, "lgst-checkpoint-every", 500, "LGST iterations between checkpoints (for -resume)")
	f.BoolVar(&resume, "resume", false, "continue an interrupted run (kill -9 included) from its last checkpoint")
	f.IntVar(&iterations, "iterations", 0, "LGST iterations (default: the preset's)")
	f.StringVar(&configFile, "config", "", "JSON file of training options (see csad train --help; flags win over it)")
	f.StringVar(&device, "device", "cpu", "cpu, cuda or cuda:N (CUDA needs a CUDA LibTorch: README, Another LibTorch)")
	f.IntVar(&imageSize, "image-size", 0, "network input side, a multiple of 32 (default 256; maps are a quarter of it)")
	f.StringVar(&penalty, "penalty-images", "", "folder of natural images (PNG/JPEG) for the student's penalty term; without it the term is off")
	f.Float64Var(&thresholdQ, "threshold-quantile", train.DefaultThresholdQuantile, "operating point: this quantile of the good validation scores")
	return cmd
}

// cpuLGSTIterations sizes the CPU preset's LGST stage to a few minutes on 2 cores.
const cpuLGSTIterations = 4000

// trainAll runs csad train for every category folder under data, with the flags given.
func trainAll(cmd *cobra.Command, data, out string) error {
	if data == "" || out == "" {
		return fmt.Errorf("train: -data and -out are required")
	}
	ents, err := os.ReadDir(data)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var flags []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "all" && f.Name != "category" && f.Name != "out" {
			flags = append(flags, "-"+f.Name+"="+f.Value.String())
		}
	})
	n := 0
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(data, e.Name(), "train", "good")); !e.IsDir() || err != nil {
			continue
		}
		n++
		fmt.Fprintf(cmd.OutOrStdout(), "train: category %s\n", e.Name())
		sub := newTrainCmd()
		sub.SetOut(cmd.OutOrStdout())
		sub.SetErr(cmd.ErrOrStderr())
		sub.SetArgs(append(flags, "-category="+e.Name(), "-out="+filepath.Join(out, e.Name())))
		if err := sub.ExecuteContext(cmd.Context()); err != nil {
			return fmt.Errorf("train: %s: %w", e.Name(), err)
		}
	}
	if n == 0 {
		return fmt.Errorf("train: no category folder with train/good under %s", data)
	}
	return nil
}

// stageBar is a progress bar with an ETA for a training stage when w is a terminal; nil
// otherwise (the stage then prints a line every few seconds).
func stageBar(w io.Writer, total int, stage string) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total <= 0 {
		return nil
	}
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(stage),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
}
