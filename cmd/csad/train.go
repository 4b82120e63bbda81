package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

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

func newTrainCmd() *cobra.Command {
	var data, category, out, masks, preset, encoder, stages, penalty, device string
	var seed uint64
	var epochs, supOnly, batch, iterations, imageSize int
	var force bool
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
			if data == "" || category == "" || out == "" {
				return fmt.Errorf("train: -data, -category and -out are required")
			}
			cfg, seg, lgst, err := trainPreset(preset)
			if err != nil {
				return err
			}
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
			o := train.Options{
				Data: filepath.Join(data, category), Out: out, Masks: masks, Config: cfg, Encoder: encoder, Device: device,
				Seed: seed, Seg: seg, LGST: lgst, ThresholdQuantile: thresholdQ, Force: force, PseudoLabel: pseudoLabeller,
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
			last := time.Now()
			o.Seg.Progress = func(epoch, it, iters int, v train.SegLossValues) {
				if time.Since(last) > 5*time.Second || (it == iters-1 && epoch == seg.Epochs-1) {
					last = time.Now()
					fmt.Fprintf(cmd.ErrOrStderr(), "segmentor: epoch %d/%d iteration %d/%d loss %.4f\n", epoch+1, seg.Epochs, it+1, iters, v.Total)
				}
			}
			o.LGST.Progress = func(it, iters int, v train.LGSTLossValues) {
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
	f.StringVar(&masks, "masks", "", "pseudo-labels in the official datasets/masks/<category> layout (default OUT/masks/<category>)")
	f.StringVar(&preset, "preset", "cpu", "sizes and schedule: paper (the official values) or cpu")
	f.StringVar(&encoder, "encoder", "", "torchvision/timm WideResNet-50-2 weights (.pth or .safetensors)")
	f.StringVar(&stages, "stages", "", "comma-separated subset of "+strings.Join(train.Stages, ",")+" (default all)")
	f.Uint64Var(&seed, "seed", 42, "random seed of every stage")
	f.IntVar(&epochs, "epochs", -1, "segmentor epochs (default: the preset's)")
	f.IntVar(&supOnly, "sup-only-epochs", -1, "supervised-only segmentor epochs (default: the preset's)")
	f.IntVar(&batch, "batch", 0, "segmentor batch size (default: the preset's: paper 4, cpu 2)")
	f.BoolVar(&force, "force", false, "rerun stages that are up to date")
	f.IntVar(&iterations, "iterations", 0, "LGST iterations (default: the preset's)")
	f.StringVar(&device, "device", "cpu", "cpu, cuda or cuda:N (CUDA needs a CUDA LibTorch: README, Another LibTorch)")
	f.IntVar(&imageSize, "image-size", 0, "network input side, a multiple of 32 (default 256; maps are a quarter of it)")
	f.StringVar(&penalty, "penalty-images", "", "folder of natural images (PNG/JPEG) for the student's penalty term; without it the term is off")
	f.Float64Var(&thresholdQ, "threshold-quantile", train.DefaultThresholdQuantile, "operating point: this quantile of the good validation scores")
	return cmd
}

// cpuLGSTIterations sizes the CPU preset's LGST stage to a few minutes on 2 cores.
const cpuLGSTIterations = 2000
