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

// trainPreset resolves a preset name to network sizes and segmentor schedule.
func trainPreset(name string) (csad.Config, train.SegOptions, error) {
	seg := train.DefaultSegOptions()
	switch name {
	case "paper":
		return csad.PaperConfig(2), seg, nil
	case "cpu":
		// The reduced widths train the segmentor on a synthetic category in minutes on 2 cores.
		seg.Epochs, seg.SupOnlyEpochs = 12, 5
		return csad.SmallConfig(2), seg, nil
	}
	return csad.Config{}, seg, fmt.Errorf("train: unknown preset %q (paper or cpu)", name)
}

func newTrainCmd() *cobra.Command {
	var data, category, out, masks, preset, encoder, stages string
	var seed uint64
	var epochs, supOnly, batch int
	var force bool
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train the Patch Histogram branch: pseudo-labels, segmentor, histogram detector",
		Long: `Train CSAD's Patch Histogram branch on a category in the MVTec LOCO layout
(docs/method.md#patch-histogram): pseudo-labels of train/good (or masks made
elsewhere, -masks), the component segmentor, and the histogram detector fitted on
train/good and normalised on validation/good. Stages write their outputs and a
manifest into -out; a stage whose manifest matches is skipped unless -force.
Test images are never read: there is no model selection on test data.
Without -encoder the encoder is a seeded random WideResNet.`,
		Example: "  csad train -data data -category tray -out runs/tray -preset cpu",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" || category == "" || out == "" {
				return fmt.Errorf("train: -data, -category and -out are required")
			}
			cfg, seg, err := trainPreset(preset)
			if err != nil {
				return err
			}
			for name, v := range map[string]*int{"epochs": &epochs, "sup-only-epochs": &supOnly, "batch": &batch} {
				if *v < -1 || (*v == 0 && name == "batch") {
					return fmt.Errorf("train: -%s %d is out of range", name, *v)
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
			seg.Seed = seed
			o := train.PHOptions{
				Data: filepath.Join(data, category), Out: out, Masks: masks, Config: cfg, Encoder: encoder,
				Seed: seed, Seg: seg, Force: force, PseudoLabel: pseudoLabeller,
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
			start := time.Now()
			net, fit, err := train.TrainPatchHistogram(cmd.Context(), o)
			if err != nil {
				return err
			}
			net.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "train: patch-histogram branch in %s (%s); detector normalisers d256 %.4g±%.4g, d128 %.4g±%.4g\n",
				time.Since(start).Round(time.Second), filepath.Join(out, train.NetworkFile), fit.HistMean, fit.HistStd, fit.QuadMean, fit.QuadStd)
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
	f.IntVar(&batch, "batch", 0, "segmentor batch size (default: the preset's, 4)")
	f.BoolVar(&force, "force", false, "rerun stages that are up to date")
	return cmd
}
