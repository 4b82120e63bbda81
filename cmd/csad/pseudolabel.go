package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad/pseudolabel"
)

func init() { rootCmd.AddCommand(newPseudoLabelCmd()) }

// pseudoLabeller is csad train's pseudo-labels stage: the classical segmentation and clustering
// of csad/pseudolabel, writing masks (…/masks/<category>) for the category folder data.
// With encoder weights (csad train -encoder) it clusters on the official CNN feature.
// Masks made elsewhere (external, a masks root) are validated and clustered, never written.
func pseudoLabeller(encoder string) func(ctx context.Context, data, masks, external string, seed uint64) error {
	return func(ctx context.Context, data, masks, external string, seed uint64) error {
		_, err := pseudolabel.Run(ctx, pseudolabel.Options{
			DataRoot: filepath.Dir(data), Category: filepath.Base(data), Out: filepath.Dir(masks), Masks: external,
			Seed: seed, Encoder: encoder,
		})
		return err
	}
}

func newPseudoLabelCmd() *cobra.Command {
	var o pseudolabel.Options
	cmd := &cobra.Command{
		Use:   "pseudo-label",
		Short: "Make component pseudo-labels of a category's train/good images",
		Long: `Segment every train/good image into components without a learned model, describe
each component (area, Lab colour and spread, shape moments), cluster them into classes
(MeanShift), keep the images whose class histogram is typical (HDBSCAN), and write the
result in the official datasets/masks/<category> layout (docs/method.md#pseudo-labels):
NNN/{grounding_mask,refined_masks,filtered_cluster_map}.png, background.jpg, colour
visualisations, and info/. With -masks, masks made elsewhere (e.g. by the official SAM-HQ +
Grounding DINO script) are validated and clustered instead of segmenting.`,
		Example: "  csad pseudo-label -data data -category tray -out masks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.DataRoot == "" || o.Category == "" || o.Out == "" {
				return fmt.Errorf("pseudo-label: -data, -category and -out are required")
			}
			start := time.Now()
			s, err := pseudolabel.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pseudo-label: %s: %d images, %d components, %d classes %v, %d good-histogram images, %.1f s -> %s\n",
				s.Category, len(s.Images), s.Components, s.Classes, s.ClassComponents, len(s.GoodIndices), time.Since(start).Seconds(), s.Dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataRoot, "data", "", "data set root (the folder holding <category>/) (required)")
	f.StringVar(&o.Category, "category", "", "category name (required)")
	f.StringVar(&o.Out, "out", "", "masks root: writes OUT/<category> (required)")
	f.StringVar(&o.Masks, "masks", "", "masks root made elsewhere (official layout) to cluster instead of segmenting")
	f.StringVar(&o.Encoder, "encoder", "", "wide_resnet50_2 checkpoint with layer4 (torchvision/timm): cluster on the official CNN feature instead of the model-free descriptors")
	f.Float64Var(&o.Bandwidth, "bandwidth", 0, fmt.Sprintf("MeanShift bandwidth (default %g on the standardised descriptors, 3.5 on the CNN feature)", pseudolabel.DefaultBandwidth))
	f.BoolVar(&o.FilterHist, "filter-hist", false, "keep only the largest histogram cluster's good images (the official filter_hist)")
	f.Uint64Var(&o.Seed, "seed", 42, "random seed")
	return cmd
}
