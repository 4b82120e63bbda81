package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/tiffmap"
)

func init() { rootCmd.AddCommand(newScoreCmd()) }

// input is one image to score and the path its maps get under -maps.
type input struct{ path, rel string }

// listInputs expands files and folders (recursively, PNG and JPEG) in sorted order.
func listInputs(args []string) ([]input, error) {
	var out []input
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, input{a, filepath.Base(a)})
			continue
		}
		var found []input
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".png", ".jpg", ".jpeg":
				if !d.IsDir() {
					// Relative to the folder's parent, so scoring CATEGORY/test gives maps under
					// MAPS/test/<type>/NNN.tiff, the layout 'csad report' and the official evaluation read.
					rel, _ := filepath.Rel(filepath.Dir(filepath.Clean(a)), p)
					found = append(found, input{p, rel})
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(found, func(x, y input) int { return strings.Compare(x.path, y.path) })
		out = append(out, found...)
	}
	return out, nil
}

type scoreLine struct {
	Path      string  `json:"path"`
	Score     float64 `json:"score"`
	LGST      float64 `json:"lgst"`
	PatchHist float64 `json:"patch_hist"`
}

func newScoreCmd() *cobra.Command {
	var model, maps string
	var asJSON bool
	var opts csad.Options
	cmd := &cobra.Command{
		Use:   "score -model MODEL.csad PATH...",
		Short: "Score images (files or folders) with a .csad model",
		Long: `Score images with a .csad model. PATHs are image files or folders (searched recursively for
PNG and JPEG files, in sorted order). Each image gets the fused CSAD score (higher is more
anomalous), the LGST score and the patch-histogram score. With -json the output is one JSON object
per line, {"path":...,"score":...,"lgst":...,"patch_hist":...}, the format 'csad report' reads.

With -maps DIR, each image also gets DIR/<rel>.tiff, its anomaly map as a float32 TIFF the size of
the image (what the official MVTec LOCO evaluation reads), and DIR/<rel>_overlay.png, a heat map
over the image; <rel> is the image's path from the folder argument's parent (test/good/000 when
scoring CATEGORY/test), or its file name for file arguments.

An image that cannot be read is reported on stderr and the others are still scored; the exit
status is then 1.`,
		Example: "  csad score -model breakfast_box.csad -json -maps maps/breakfast_box data/breakfast_box/test > scores.jsonl",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" {
				return fmt.Errorf("score: -model is required")
			}
			inputs, err := listInputs(args)
			if err != nil {
				return fmt.Errorf("score: %w", err)
			}
			if len(inputs) == 0 {
				return fmt.Errorf("score: no PNG or JPEG images in %s", strings.Join(args, " "))
			}
			m, err := csad.Load(model, opts)
			if err != nil {
				return err
			}
			defer m.Close()
			paths := make([]string, len(inputs))
			for i, in := range inputs {
				paths[i] = in.path
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			failed := 0
			// Score in slices so results stream out and memory stays bounded on large folders.
			const chunk = 64
			for start := 0; start < len(paths); start += chunk {
				end := min(start+chunk, len(paths))
				for i, r := range m.ScoreFiles(context.Background(), paths[start:end]) {
					if r.Err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "csad:", r.Err)
						failed++
						continue
					}
					line := scoreLine{r.Path, r.Score, r.LGST, r.PatchHist}
					if asJSON {
						if err := enc.Encode(line); err != nil {
							return err
						}
					} else {
						fmt.Fprintf(out, "%s\tscore %.6f\tlgst %.6f\tpatch_hist %.6f\n", line.Path, line.Score, line.LGST, line.PatchHist)
					}
					if maps != "" {
						if err := writeMaps(maps, inputs[start+i], r); err != nil {
							return err
						}
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("score: %d of %d images could not be scored", failed, len(paths))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "model file (.csad; make one with 'csad import')")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	f.StringVar(&maps, "maps", "", "folder for anomaly maps (float32 TIFF) and heat-map overlays (PNG)")
	f.BoolVar(&opts.Fast, "fast", false, "channels-last LGST branch: ~2× faster, maps within float32 rounding of PyTorch's")
	f.IntVar(&opts.Threads, "threads", 0, "LibTorch intra-op threads (0: LibTorch's default)")
	f.IntVar(&opts.MaxBatch, "batch", 8, "images per forward pass")
	return cmd
}

// writeMaps writes the TIFF anomaly map and the overlay PNG of one image.
func writeMaps(dir string, in input, r csad.FileResult) error {
	stem := filepath.Join(dir, strings.TrimSuffix(in.rel, filepath.Ext(in.rel)))
	if err := os.MkdirAll(filepath.Dir(stem), 0o755); err != nil {
		return err
	}
	if err := tiffmap.WriteFile(stem+".tiff", &tiffmap.Map{Width: r.Width, Height: r.Height, Pix: r.AnomalyMap}); err != nil {
		return err
	}
	// 0 is the validation quantile the maps are normalised to start at; 0.2 is twice the 0.1 the
	// normalisation maps the upper quantile to, so typical maps use the whole colour range.
	return imageproc.WritePNG(stem+"_overlay.png", imageproc.Overlay(r.Image, r.AnomalyMap, r.Width, r.Height, 0, 0.2))
}
