package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/tiffmap"
	"github.com/csad-go/csad/internal/atomicfile"
)

func init() { rootCmd.AddCommand(newScoreCmd()) }

type scoreLine struct {
	Path      string  `json:"path"`
	Score     float64 `json:"score"`
	LGST      float64 `json:"lgst"`
	PatchHist float64 `json:"patch_hist"`
	// Anomalous is the model's decision at its operating point (trained models carry one).
	Anomalous *bool `json:"anomalous,omitempty"`
}

// minSide is the smallest image side scored without a warning: every image is resized to the
// network's 256×256 input, and below this there is too little of it to say anything about.
const minSide = 32

// maxMapSide bounds each side of -map-size.
const maxMapSide = 16384

func newScoreCmd() *cobra.Command {
	var model, maps, mapSize, backend string
	var asJSON, quiet bool
	var maxPixels int
	opts := csad.Options{MaxBatch: 1}
	cmd := &cobra.Command{
		Use:   "score -model MODEL.csad PATH...",
		Short: "Score images (files or folders) with a .csad model",
		Long: `Score images with a .csad model. PATHs are image files or folders (searched recursively for
PNG and JPEG files, in sorted order). Each image gets the fused CSAD score (higher is more
anomalous), the LGST score and the patch-histogram score (docs/method.md). With -json the output
is one JSON object per line, {"path":...,"score":...,"lgst":...,"patch_hist":...}, the format
'csad report' reads; "path" is the image's path as found.

With -maps DIR, each image also gets DIR/<rel>.tiff, its anomaly map as a float32 TIFF (what the
official MVTec LOCO evaluation reads), and DIR/<rel>_overlay.png, a heat map over the image.
<rel> is the image's path from the common root of the PATHs, counting a folder from its parent
and a file from its own folder: scoring CATEGORY/test gives test/<defect>/NNN.tiff, the layout
'csad report' reads; scoring a/000.png b/000.png gives a/000.tiff and b/000.tiff. An image listed
twice, or two images whose maps would share a name (a.png, a.jpg), is an error. The maps have
the image's size unless -map-size says otherwise ('csad report' and the official evaluation
need the image size). Every file is written to a temporary file and renamed into place: a
second run into the same folder replaces the maps of the images it scores, one complete file
at a time, and leaves the files of images it does not score as they were.

An image that cannot be read, is larger than -max-pixels, or gets a score that is not a finite
number is reported on stderr, naming it, and the others are still scored; the exit status is
then 1. Images smaller than 32 pixels on a side are scored with a warning. On a terminal,
stderr shows a progress bar; otherwise a progress line every 5 s of a long run (-quiet: none).
SIGINT or SIGTERM stops the run after the current batch, or 3 s later at most (exit status 130
or 143); the maps written by then are complete and no temporary file is left.`,
		Example: "  csad score -model breakfast_box.csad -json -maps maps/breakfast_box data/breakfast_box/test > scores.jsonl",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" {
				return errors.New("score: -model is required")
			}
			if err := checkThreads("score", opts.Threads); err != nil {
				return err
			}
			if err := checkBatch("score", opts.MaxBatch); err != nil {
				return err
			}
			if err := setBackend("score", &opts, backend); err != nil {
				return err
			}
			if maxPixels < 1 || maxPixels > tiffmap.MaxPixels {
				// The upper end is the largest map a TIFF of this package holds.
				return fmt.Errorf("score: -max-pixels %d: want a pixel count in 1..%d (default %d)", maxPixels, tiffmap.MaxPixels, imageproc.DefaultMaxPixels)
			}
			var mw, mh int
			if mapSize != "" {
				var err error
				if mw, mh, err = parseMapSize(mapSize); err != nil {
					return err
				}
				if maps == "" {
					return errors.New("score: -map-size needs -maps (the folder the maps go to)")
				}
			}
			if maps != "" {
				if st, err := os.Stat(maps); err == nil && !st.IsDir() {
					return fmt.Errorf("score: -maps %s is a file; give a folder", maps)
				}
			}
			inputs, err := listInputs(args, maps, maps != "")
			if err != nil {
				return err
			}
			if len(inputs) == 0 {
				return fmt.Errorf("score: no PNG or JPEG images in %s", strings.Join(args, " "))
			}
			imageproc.SetMaxPixels(maxPixels)
			m, err := csad.Load(model, opts)
			if err != nil {
				return err
			}
			defer m.Close()
			s := &scorer{
				out: cmd.OutOrStdout(), errw: cmd.ErrOrStderr(), asJSON: asJSON,
				maps: maps, mapW: mw, mapH: mh,
				prog:    newProgress(cmd.ErrOrStderr(), len(inputs), quiet),
				decides: m.Header().Threshold != nil,
			}
			s.enc = json.NewEncoder(s.out)
			ctx := cmd.Context()
			// One batch at a time, so results stream out, progress moves and a signal is seen
			// after each forward pass.
			for start := 0; start < len(inputs); start += opts.MaxBatch {
				if ctx.Err() != nil {
					break
				}
				chunk := inputs[start:min(start+opts.MaxBatch, len(inputs))]
				var ok []input
				for _, in := range chunk {
					if s.check(in) {
						ok = append(ok, in)
					}
				}
				paths := make([]string, len(ok))
				for i, in := range ok {
					paths[i] = in.path
				}
				before := s.failed
				for i, r := range m.ScoreFiles(ctx, paths) {
					if ctx.Err() != nil {
						break // the rest carry the cancellation, not an error of their own
					}
					if err := s.emit(ok[i], r); err != nil {
						s.prog.finish()
						return err
					}
				}
				s.prog.add(len(chunk), s.failed-before)
			}
			s.prog.finish()
			if err := interrupted(cmd); err != nil {
				return err
			}
			if s.failed > 0 {
				return fmt.Errorf("score: %d of %d images could not be scored (see above)", s.failed, len(inputs))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "model file (.csad; make one with 'csad import'; -backend onnxruntime also takes an .onnx from 'csad export')")
	f.StringVar(&backend, "backend", "torch", "inference engine: torch (LibTorch, bit for bit the official model), onnxruntime, or tensorrt (with -engine)")
	f.StringVar(&opts.Engine, "engine", "", "TensorRT engine file from build-engine (-backend tensorrt)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	f.StringVar(&maps, "maps", "", "folder for anomaly maps (float32 TIFF) and heat-map overlays (PNG)")
	f.StringVar(&mapSize, "map-size", "", "size WxH of the written maps (default: each image's size)")
	f.StringVar(&opts.Device, "device", "cpu", "cpu, cuda or cuda:N (CUDA needs a CUDA LibTorch: README, Another LibTorch)")
	f.BoolVar(&opts.Fast, "fast", false, "fast mode: oneDNN convolutions on prepacked weights, folded BatchNorm; ~1.3× on the CPU, maps within 2.5e-7, a few segmentation pixels may differ (docs/numerics.md); with -backend onnxruntime, fast mode's graph (csad export -fast)")
	f.BoolVar(&opts.BFloat16, "bf16", false, "with -fast: the student and autoencoder in bfloat16, ~1.7× -fast alone at paper size on CPUs with AVX512_BF16 or AMX; segmentation as -fast, the LGST score within ~1 % (docs/numerics.md#bfloat16)")
	f.IntVar(&opts.Threads, "threads", 0, fmt.Sprintf("LibTorch intra-op threads, 1..%d (0: LibTorch's default)", maxThreads()))
	f.IntVar(&opts.MaxBatch, "batch", 1, fmt.Sprintf("images per forward pass, 1..%d (1: fastest on the CPU, bit for bit the official model)", maxBatch))
	f.IntVar(&maxPixels, "max-pixels", imageproc.DefaultMaxPixels, fmt.Sprintf("refuse images with more pixels (width×height, at most %d), checked on the header before decoding", tiffmap.MaxPixels))
	f.BoolVar(&quiet, "quiet", false, "no progress output on stderr (errors and warnings still print)")
	return cmd
}

// parseMapSize reads -map-size WxH.
func parseMapSize(s string) (int, int, error) {
	var w, h int
	var rest string
	n, _ := fmt.Sscanf(strings.ToLower(s)+" end", "%dx%d %s", &w, &h, &rest)
	if n != 3 || rest != "end" || w < 1 || h < 1 || w > maxMapSide || h > maxMapSide {
		return 0, 0, fmt.Errorf("score: bad -map-size %q: want WxH with both in 1..%d, e.g. 800x600", s, maxMapSide)
	}
	return w, h, nil
}

// scorer turns results into output lines, maps and error messages.
type scorer struct {
	out, errw  io.Writer
	enc        *json.Encoder
	asJSON     bool
	maps       string
	mapW, mapH int // 0: the image's size
	prog       *progress
	failed     int
	decides    bool // the model has a threshold: print the decision
}

// fail reports err as one image's failure.
func (s *scorer) fail(err error) {
	s.failed++
	var b strings.Builder
	printError(&b, err)
	s.prog.message(s.errw, strings.TrimSuffix(b.String(), "\n"))
}

// check reads an image's header: a file that is too large is refused before decoding, a tiny one
// gets a warning. Unreadable files are left to the scorer, whose error says why.
func (s *scorer) check(in input) bool {
	w, h, err := imageproc.ReadSize(in.path)
	switch {
	case errors.Is(err, imageproc.ErrTooLarge):
		s.fail(fmt.Errorf("score: %w; -max-pixels raises the limit", err))
		return false
	case err == nil && (w < minSide || h < minSide):
		s.prog.message(s.errw, fmt.Sprintf("csad: warning: %s is %d×%d, under %d pixels on a side: it is enlarged to the network's 256×256 input and its score means little",
			in.path, w, h, minSide))
	}
	return true
}

// emit handles one result: an error or a non-finite score is that image's failure; otherwise
// its maps are written and then its line printed, so a printed line means its maps exist. The
// error returned is fatal (output cannot be written).
func (s *scorer) emit(in input, r csad.FileResult) error {
	if r.Err != nil {
		s.fail(r.Err)
		return nil
	}
	if r.Result == nil {
		s.fail(fmt.Errorf("score %s: no result", in.path))
		return nil
	}
	if !finite(r.Score) || !finite(r.LGST) || !finite(r.PatchHist) {
		// NaN is not valid JSON, and as a score it would sort arbitrarily in the AUROC.
		s.fail(fmt.Errorf("score %s: result is not a finite number (score %v, lgst %v, patch_hist %v); nothing is printed or written for it: the model file's normalisers may be broken (re-import it) or the image is far outside what the model was fitted on",
			in.path, r.Score, r.LGST, r.PatchHist))
		return nil
	}
	if s.maps != "" {
		if err := s.writeMaps(in, r); err != nil {
			return err
		}
	}
	line := scoreLine{Path: r.Path, Score: r.Score, LGST: r.LGST, PatchHist: r.PatchHist}
	if s.decides {
		line.Anomalous = &r.Anomalous
	}
	if s.asJSON {
		return s.enc.Encode(line)
	}
	decision := ""
	if s.decides {
		decision = fmt.Sprintf("\tanomalous: %v", r.Anomalous)
	}
	_, err := fmt.Fprintf(s.out, "%s\tscore %.6f\tlgst %.6f\tpatch_hist %.6f%s\n", line.Path, line.Score, line.LGST, line.PatchHist, decision)
	return err
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// writeMaps writes the TIFF anomaly map and the overlay PNG of one image, each atomically.
func (s *scorer) writeMaps(in input, r csad.FileResult) error {
	stem := filepath.Join(s.maps, strings.TrimSuffix(in.rel, filepath.Ext(in.rel)))
	if err := os.MkdirAll(filepath.Dir(stem), 0o755); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	amap := &tiffmap.Map{Width: r.Width, Height: r.Height, Pix: r.AnomalyMap}
	if s.mapW != 0 {
		// From the 64×64 maps, as the image-size map is: resizing that one again would blur it.
		small := tiffmap.New(r.MapSide, r.MapSide)
		for i := range small.Pix {
			small.Pix[i] = r.Local[i] + r.Global[i]
		}
		var err error
		if amap, err = small.Resize(s.mapW, s.mapH); err != nil {
			return fmt.Errorf("score: %w", err)
		}
	}
	if err := tiffmap.WriteFile(stem+".tiff", amap); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	// 0 is the validation quantile the maps are normalised to start at; 0.2 is twice the 0.1 the
	// normalisation maps the upper quantile to, so typical maps use the whole colour range.
	ov := imageproc.Overlay(r.Image, amap.Pix, amap.Width, amap.Height, 0, 0.2)
	if err := atomicfile.Write(stem+"_overlay.png", func(w io.Writer) error { return png.Encode(w, ov) }); err != nil {
		return fmt.Errorf("score: write %s_overlay.png: %w", stem, err)
	}
	return nil
}

// setBackend checks -backend and the flags that go with it.
func setBackend(cmd string, opts *csad.Options, name string) error {
	b, err := csad.ParseBackend(name)
	if err != nil {
		return fmt.Errorf("%s: -backend: %w", cmd, err)
	}
	opts.Backend = b
	switch {
	case b == csad.BackendTensorRT && opts.Engine == "":
		return fmt.Errorf("%s: -backend tensorrt needs -engine FILE (make one with build-engine)", cmd)
	case b != csad.BackendTensorRT && opts.Engine != "":
		return fmt.Errorf("%s: -engine is for -backend tensorrt", cmd)
	case opts.BFloat16 && !opts.Fast:
		return fmt.Errorf("%s: -bf16 is a variant of fast mode: add -fast", cmd)
	case opts.BFloat16 && b != csad.BackendTorch:
		return fmt.Errorf("%s: -bf16 is an option of -backend torch's fast mode, not of -backend %s", cmd, b)
	case b == csad.BackendTensorRT && opts.Fast:
		return fmt.Errorf("%s: -fast is an option of -backend torch and onnxruntime: a TensorRT engine is built from a graph already (build-engine -fast)", cmd)
	case b == csad.BackendONNXRuntime && opts.Device != "" && opts.Device != "cpu":
		return fmt.Errorf("%s: -backend onnxruntime runs on the CPU; -device %s is for -backend torch", cmd, opts.Device)
	}
	return nil
}
