package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/metrics"
	"github.com/csad-go/csad/csad/report"
	"github.com/csad-go/csad/internal/atomicfile"
)

func init() { rootCmd.AddCommand(newEvalCmd()) }

// evalRow is one category's figures, ×100 as the official README prints them.
type evalRow struct {
	category                      string
	logical, structural, mean, sp float64
}

func newEvalCmd() *cobra.Command {
	var model, data, category, out, device, backend, engine string
	var all, fast, bf16 bool
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score a category's test set and write maps, metrics.json and the report",
		Long: `Score every test image of a category with a model, write the float32 TIFF maps in the
official evaluation's layout (OUT/maps/test/<defect>/NNN.tiff), the scores
(OUT/scores.jsonl), metrics.json (image AUROC logical/structural/mean, AU-sPRO at the
official FPR limits) and the report csad report writes. With -all, -model is a folder of
<category>.csad files and every category under -data that has one is evaluated into
OUT/<category>; the table the official README prints (one row per category, then the
mean) ends the output.`,
		Example: "  csad eval -model runs/tray/model.csad -data data -category tray -out eval/tray\n  csad eval -all -model models -data data -out eval",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" || data == "" || out == "" || (category == "" && !all) {
				return fmt.Errorf("eval: -model, -data, -out and -category (or -all) are required")
			}
			type job struct{ category, model, out string }
			var jobs []job
			if all {
				ents, err := os.ReadDir(data)
				if err != nil {
					return fmt.Errorf("eval: %w", err)
				}
				for _, e := range ents {
					m := filepath.Join(model, e.Name()+".csad")
					if _, err := os.Stat(m); e.IsDir() && err == nil {
						jobs = append(jobs, job{e.Name(), m, filepath.Join(out, e.Name())})
					}
				}
				if len(jobs) == 0 {
					return fmt.Errorf("eval: no category folder under %s has a model <category>.csad in %s", data, model)
				}
			} else {
				jobs = []job{{category, model, out}}
			}
			var rows []evalRow
			for _, j := range jobs {
				row, err := evalCategory(cmd, j.model, filepath.Join(data, j.category), j.out, scoreFlags{fast, bf16, device, backend, engine})
				if err != nil {
					return err
				}
				row.category = j.category
				rows = append(rows, row)
			}
			printEvalTable(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "model file (with -all: a folder of <category>.csad files) (required)")
	f.StringVar(&data, "data", "", "data set root holding the category folders (required)")
	f.StringVar(&category, "category", "", "category to evaluate")
	f.StringVar(&out, "out", "", "output folder (required)")
	f.BoolVar(&all, "all", false, "evaluate every category of -data that has a model in the -model folder")
	f.StringVar(&device, "device", "cpu", "cpu, cuda or cuda:N")
	f.BoolVar(&fast, "fast", false, "score in fast mode (see csad score -fast)")
	f.BoolVar(&bf16, "bf16", false, "with -fast: the student and autoencoder in bfloat16 (see csad score -bf16)")
	f.StringVar(&backend, "backend", "torch", "inference engine for scoring: torch, onnxruntime or tensorrt (see csad score -backend)")
	f.StringVar(&engine, "engine", "", "TensorRT engine file (-backend tensorrt)")
	return cmd
}

// evalCategory runs csad score and csad report for one category.
// scoreFlags are the flags eval hands to csad score.
type scoreFlags struct {
	fast, bf16      bool
	device, backend string
	engine          string
}

func evalCategory(cmd *cobra.Command, model, dir, out string, sf scoreFlags) (evalRow, error) {
	var row evalRow
	if _, err := loco.Open(dir); err != nil {
		return row, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return row, fmt.Errorf("eval: %w", err)
	}
	maps := filepath.Join(out, "maps")
	args := []string{"-model", model, "-json", "-quiet", "-maps", maps, "-device", sf.device, "-backend", sf.backend}
	if sf.fast {
		args = append(args, "-fast")
	}
	if sf.bf16 {
		args = append(args, "-bf16")
	}
	if sf.engine != "" {
		args = append(args, "-engine", sf.engine)
	}
	args = append(args, filepath.Join(dir, loco.Test))
	sc := newScoreCmd()
	var lines bytes.Buffer
	sc.SetOut(&lines)
	sc.SetErr(cmd.ErrOrStderr())
	sc.SetArgs(goStyleFlags(args))
	if err := sc.ExecuteContext(cmd.Context()); err != nil {
		return row, err
	}
	scores := filepath.Join(out, "scores.jsonl")
	if err := atomicfile.WriteFile(scores, lines.Bytes()); err != nil {
		return row, fmt.Errorf("eval: %w", err)
	}
	sum, err := report.Run(report.Options{Dataset: dir, Scores: scores, Maps: maps, Out: out})
	if err != nil {
		return row, err
	}
	recs, err := report.ReadScores(scores)
	if err != nil {
		return row, err
	}
	// The explanations read the detector's statistics through LibTorch, from the .csad file;
	// an .onnx graph alone has no such file.
	if !strings.EqualFold(filepath.Ext(model), ".onnx") {
		if err := appendExplanations(cmd.Context(), model, sf.device, out, recs); err != nil {
			return row, err
		}
	}
	get := func(m map[string]*float64, k string) float64 {
		if v := m[k]; v != nil {
			return 100 * *v
		}
		return 0
	}
	if c := sum.Results.Classification; c != nil {
		row.logical, row.structural, row.mean = get(c.AUCROC, loco.LogicalAnomalies), get(c.AUCROC, loco.StructuralAnomalies), get(c.AUCROC, "mean")
	}
	if l := sum.Results.Localization; l != nil {
		row.sp = get(l.AUCsPRO["mean"], metrics.LimitKey(0.05))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "eval: %s -> %s\n", filepath.Base(dir), filepath.Join(out, "report.md"))
	return row, nil
}

func printEvalTable(w io.Writer, rows []evalRow) {
	fmt.Fprintf(w, "%-22s %8s %10s %8s %14s\n", "category", "logical", "structural", "mean", "AU-sPRO@0.05")
	var sum evalRow
	for _, r := range rows {
		fmt.Fprintf(w, "%-22s %8.3f %10.3f %8.3f %14.3f\n", r.category, r.logical, r.structural, r.mean, r.sp)
		sum.logical, sum.structural, sum.mean, sum.sp = sum.logical+r.logical, sum.structural+r.structural, sum.mean+r.mean, sum.sp+r.sp
	}
	n := float64(len(rows))
	fmt.Fprintf(w, "%-22s %8.3f %10.3f %8.3f %14.3f\n", "mean", sum.logical/n, sum.structural/n, sum.mean/n, sum.sp/n)
}
