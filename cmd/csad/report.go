package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad/report"
)

func init() { rootCmd.AddCommand(newReportCmd()) }

func newReportCmd() *cobra.Command {
	var opt report.Options
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Evaluate scores (and anomaly maps) on a LOCO-layout test set",
		Long: `Compute the image-level AUROC of the logical and structural test splits (as
scikit-learn's roc_auc_score) and, with --maps, the AU-sPRO of the official
MVTec LOCO AD evaluation; write report.md, metrics.json (official layout),
roc.png, hist.png and, with maps, worst_cases.png to --out.

The score file has one JSON object per line:
  {"path":"test/good/000.png","score":1.5,"lgst":0.9,"patch_hist":0.6}
(lgst and patch_hist optional). Maps are float32 TIFFs named after the image
path relative to the category folder: MAPS/test/logical_anomalies/000.tiff.`,
		Example: "  csad report --dataset data/tray --scores scores.jsonl --out report/tray\n  csad report --dataset data/tray --scores scores.jsonl --maps maps/tray --out report/tray",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for flag, v := range map[string]string{"dataset": opt.Dataset, "scores": opt.Scores, "out": opt.Out} {
				if v == "" {
					return fmt.Errorf("report: --%s is required", flag)
				}
			}
			sum, err := report.Run(opt)
			if err != nil {
				return err
			}
			if c := sum.Results.Classification; c != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "AUROC logical %.3f structural %.3f mean %.3f\n",
					100**c.AUCROC["logical_anomalies"], 100**c.AUCROC["structural_anomalies"], 100**c.AUCROC["mean"])
			}
			for _, f := range sum.Files {
				fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(opt.Out, f))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Dataset, "dataset", "", "category folder in the MVTec LOCO AD layout, e.g. DIR/breakfast_box (required)")
	f.StringVar(&opt.Scores, "scores", "", "JSON-lines score file (required)")
	f.StringVar(&opt.Maps, "maps", "", "folder of float32 TIFF anomaly maps (optional; enables AU-sPRO and worst_cases.png)")
	f.StringVar(&opt.Out, "out", "", "output folder (required)")
	f.IntVar(&opt.Worst, "worst", 8, "tiles in worst_cases.png")
	return cmd
}
