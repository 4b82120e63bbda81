package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad/synth"
)

func init() { rootCmd.AddCommand(newSynthCmd()) }

func newSynthCmd() *cobra.Command {
	opt := synth.DefaultOptions()
	var out, cat, size string
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Generate a synthetic data set in the MVTec LOCO AD layout",
		Long: `Generate synthetic categories in the MVTec LOCO AD folder layout, with pixel
ground truth and defects_config.json. Categories (` + strings.Join(synth.Categories(), ", ") + `):
each is a scene whose normal images obey a rule; logical anomalies break
the rule, structural anomalies (scratch, hole, contamination, broken_part)
damage a part. The same seed and options give byte-identical files.`,
		Example: "  csad synth --out data --category all --seed 7\n  csad synth --out data --category tray --size 640x512 --train 200",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("synth: --out is required")
			}
			w, h, err := parseSize(size)
			if err != nil {
				return err
			}
			opt.Width, opt.Height = w, h
			cats := []string{cat}
			if cat == "all" {
				cats = synth.Categories()
			}
			for _, c := range cats {
				t0 := time.Now()
				if err := synth.Generate(out, c, opt); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d images in %.1fs\n", c,
					opt.Train+opt.Validation+opt.TestGood+opt.TestLogical+opt.TestStructural, time.Since(t0).Seconds())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "root folder; each category is written to OUT/<category> (required)")
	f.StringVar(&cat, "category", "all", "category name or 'all' ("+strings.Join(synth.Categories(), ", ")+")")
	f.Uint64Var(&opt.Seed, "seed", opt.Seed, "random seed")
	f.StringVar(&size, "size", fmt.Sprintf("%dx%d", opt.Width, opt.Height), "image size WxH")
	f.IntVar(&opt.Train, "train", opt.Train, "training images (train/good)")
	f.IntVar(&opt.Validation, "val", opt.Validation, "validation images (validation/good)")
	f.IntVar(&opt.TestGood, "test-good", opt.TestGood, "good test images")
	f.IntVar(&opt.TestLogical, "test-logical", opt.TestLogical, "logical-anomaly test images")
	f.IntVar(&opt.TestStructural, "test-structural", opt.TestStructural, "structural-anomaly test images")
	f.IntVar(&opt.Workers, "workers", 0, "images drawn in parallel (0: all CPUs); does not change the output")
	return cmd
}

func parseSize(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w < 32 || h < 32 || w > 8192 || h > 8192 {
		return 0, 0, fmt.Errorf("synth: bad --size %q: want WxH with both in 32..8192, e.g. 320x256", s)
	}
	return w, h, nil
}
