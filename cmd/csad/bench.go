package main

// #include <malloc.h>
import "C"

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/pyref"
	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/torch"
)

// benchRefPy is the Python side: it imports csad_ref (package pyref), written next to it.
//
//go:embed bench_ref.py
var benchRefPy []byte

func init() { rootCmd.AddCommand(newBenchCmd()) }

// benchOptions are the flags of 'csad bench'.
type benchOptions struct {
	model, mode, python string
	batches             []int
	threads             int
	iters, warmup       int
	seed                uint64
	usePython, fast     bool
	asJSON              bool
}

// benchRun is one implementation (exact, fast or python) at one batch size.
type benchRun struct {
	Mode         string    `json:"mode"` // exact, fast (Go) or python (eager PyTorch, no_grad)
	Batch        int       `json:"batch"`
	Iters        int       `json:"iters"`
	P50Ms        float64   `json:"p50_ms"`
	P99Ms        float64   `json:"p99_ms"`
	MeanMs       float64   `json:"mean_ms"`
	ImagesPerS   float64   `json:"images_per_s"`
	PeakRSS      int64     `json:"peak_rss_bytes"`
	PeakRSSReset bool      `json:"peak_rss_reset"` // false: VmHWM since process start
	GFLOPS       float64   `json:"gflops"`         // achieved: FLOPs · images/s
	PctConvPeak  float64   `json:"pct_conv_peak"`  // of the channels-last conv peak
	Scores       []float64 `json:"-"`
	// Go rows only, when Python ran:
	PythonImagesPerS float64  `json:"python_images_per_s,omitempty"`
	RatioVsPython    float64  `json:"ratio_vs_python,omitempty"` // Go images/s ÷ Python images/s
	MaxAbsDiffScore  *float64 `json:"max_abs_diff_score,omitempty"`
}

// convPeak is the throughput of one large convolution on this machine.
type convPeak struct {
	Shape        string  `json:"shape"`
	FLOPs        int64   `json:"flops"`
	ChannelsLast float64 `json:"gflops_channels_last"`
	NCHW         float64 `json:"gflops_nchw"`
}

// benchReport is the -json output.
type benchReport struct {
	Model       string      `json:"model"`
	Preset      string      `json:"preset"`
	Config      csad.Config `json:"config"`
	Torch       string      `json:"torch"`
	Threads     int         `json:"threads"`
	Warmup      int         `json:"warmup"`
	Iters       int         `json:"iters"`
	Seed        uint64      `json:"seed"`
	FLOPs       int64       `json:"flops_per_image"`
	PythonFLOPs int64       `json:"python_flops_per_image,omitempty"` // forward hooks on nn.Conv2d
	PythonTorch string      `json:"python_torch,omitempty"`
	ConvPeak    convPeak    `json:"conv_peak"`
	Go          []benchRun  `json:"go"`
	Python      []benchRun  `json:"python,omitempty"`
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench -model MODEL.csad",
		Short: "Measure scoring speed and memory, against PyTorch on the same model",
		Long: `Measure how fast a .csad model scores, the method's speed benchmark (docs/method.md) on this machine.

For each batch size B, random preprocessed inputs (B,3,256,256) are drawn with torch.randn after
torch.manual_seed(-seed); -warmup calls, then -iters timed calls of the network's forward pass,
each in its own inference scope (closed, so freeing is timed too). Reported per call: latency p50
and p99 (ms), images/s (B·iters over the summed time), peak RSS (VmHWM, reset before each batch
size where the kernel allows, after returning freed heap memory to the system), the achieved
GFLOP/s (the model's convolution FLOPs per image, see csad.FLOPs, times images/s) and that as
a percentage of this machine's convolution throughput (a 512→512 3×3 convolution on 64×64,
batch 1, channels-last, same threads). p99 is the nearest-rank percentile: with fewer than 100
timed calls, the slowest call.

Modes: exact (PyTorch's NCHW evaluation, bit for bit) and fast (channels-last LGST branch, as
'csad score -fast'); both by default, one with -mode or -fast.

With -python (default) the same model file is run by eager PyTorch, the official way (csad_ref's
CSAD module, load_state_dict strict, eval, torch.no_grad, the same inputs, threads and counts), by
-python-bin (Debian's python3-torch; 'make setup' installs it); the table then shows Python's
images/s, Go ÷ Python, and the largest score difference on the first timed call. -python=false
skips it.`,
		Example: "  csad bench -model breakfast_box.csad -batch 1,8 -threads 4 -iters 20\n" +
			"  csad bench -model m.csad -fast -python=false -json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("fast") && o.fast {
				if cmd.Flags().Changed("mode") && o.mode != "fast" {
					return fmt.Errorf("bench: -fast contradicts -mode %s", o.mode)
				}
				o.mode = "fast"
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model file (.csad; make one with 'csad import')")
	f.IntSliceVar(&o.batches, "batch", []int{1, 8}, fmt.Sprintf("batch sizes, comma-separated, each 1..%d", maxBatch))
	f.IntVar(&o.threads, "threads", 0, fmt.Sprintf("LibTorch intra-op threads, Go and Python alike, 1..%d (0: LibTorch's default)", maxThreads()))
	f.IntVar(&o.iters, "iters", 10, "timed calls per batch size")
	f.IntVar(&o.warmup, "warmup", 2, "untimed calls before them")
	f.Uint64Var(&o.seed, "seed", 0, "torch.manual_seed of the random inputs")
	f.StringVar(&o.mode, "mode", "both", "exact, fast or both")
	f.BoolVar(&o.fast, "fast", false, "only the fast (channels-last) mode: short for -mode fast")
	f.BoolVar(&o.usePython, "python", true, "also run the model in eager PyTorch and compare")
	f.StringVar(&o.python, "python-bin", "/usr/bin/python3", "Python with torch for the comparison")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object instead of the table")
	return cmd
}

func runBench(ctx context.Context, out, logw io.Writer, o benchOptions) error {
	if o.model == "" {
		return errors.New("bench: -model is required")
	}
	if err := checkThreads("bench", o.threads); err != nil {
		return err
	}
	var modes []string
	switch o.mode {
	case "both":
		modes = []string{"exact", "fast"}
	case "exact", "fast":
		modes = []string{o.mode}
	default:
		return fmt.Errorf("bench: -mode must be exact, fast or both, not %q", o.mode)
	}
	if len(o.batches) == 0 {
		return errors.New("bench: -batch needs at least one size")
	}
	for _, b := range o.batches {
		if err := checkBatch("bench", b); err != nil {
			return err
		}
	}
	if o.iters < 1 || o.warmup < 0 {
		return fmt.Errorf("bench: -iters must be ≥ 1 and -warmup ≥ 0")
	}
	if o.usePython {
		if _, err := os.Stat(o.python); err != nil {
			return fmt.Errorf("bench: %s not found: the PyTorch comparison needs Python with torch "+
				"(Debian python3-torch; 'make setup' installs it); -python=false skips it", o.python)
		}
	}
	logf := func(f string, a ...any) { fmt.Fprintf(logw, "bench: "+f+"\n", a...) }

	m, err := csad.Load(o.model, csad.Options{Threads: o.threads, Fast: modes[0] == "fast"})
	if err != nil {
		return err
	}
	defer m.Close()
	h := m.Header()
	rep := benchReport{
		Model: o.model, Preset: h.Preset, Config: h.Config, Torch: torch.Version(), Threads: torch.NumThreads(),
		Warmup: o.warmup, Iters: o.iters, Seed: o.seed, FLOPs: csad.FLOPs(h.Config),
	}
	logf("convolution peak (512→512 3×3, 64×64, batch 1) on %d threads", rep.Threads)
	if rep.ConvPeak, err = measureConvPeak(); err != nil {
		return err
	}
	for _, mode := range modes {
		if mode == "fast" {
			// Exact ran first on the same weights; re-lay them as Options.Fast would have.
			if err := m.Network().UseChannelsLast(); err != nil {
				return err
			}
		}
		for _, b := range o.batches {
			logf("%s, batch %d: %d warm-up + %d timed calls", mode, b, o.warmup, o.iters)
			r, err := benchGo(ctx, m, h.Config.ImageSize, b, o)
			if err != nil {
				return fmt.Errorf("bench: %s batch %d: %w", mode, b, err)
			}
			r.Mode = mode
			rep.Go = append(rep.Go, r)
		}
	}
	m.Close() // free the Go model's memory before Python loads its own
	for i := range rep.Go {
		rep.Go[i].setGFLOPS(rep.FLOPs, rep.ConvPeak.ChannelsLast)
	}

	var pyErr error
	if o.usePython {
		logf("python: %s (eager PyTorch, no_grad, %d threads)", o.python, rep.Threads)
		pyErr = benchPython(ctx, &rep, o, logw)
		if pyErr == nil {
			for i := range rep.Python {
				rep.Python[i].setGFLOPS(rep.FLOPs, rep.ConvPeak.ChannelsLast)
			}
			for i := range rep.Go {
				g := &rep.Go[i]
				for _, p := range rep.Python {
					if p.Batch != g.Batch {
						continue
					}
					g.PythonImagesPerS = p.ImagesPerS
					if p.ImagesPerS > 0 {
						g.RatioVsPython = g.ImagesPerS / p.ImagesPerS
					}
					if len(p.Scores) == len(g.Scores) && len(g.Scores) > 0 {
						d := 0.0
						for j := range g.Scores {
							d = max(d, math.Abs(g.Scores[j]-p.Scores[j]))
						}
						g.MaxAbsDiffScore = &d
					}
				}
			}
		}
	}

	if ctx.Err() != nil {
		return context.Cause(ctx) // a half-finished table would read as a result
	}
	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printBench(out, rep, pyErr)
	}
	if pyErr != nil {
		return fmt.Errorf("bench: python comparison failed: %w", pyErr)
	}
	if rep.PythonFLOPs != 0 && rep.PythonFLOPs != rep.FLOPs {
		return fmt.Errorf("bench: FLOPs disagree: Go %d, PyTorch hooks %d", rep.FLOPs, rep.PythonFLOPs)
	}
	return nil
}

// benchGo times one batch size on the model as it is now laid out.
func benchGo(ctx context.Context, m *csad.Model, size int64, batch int, o benchOptions) (benchRun, error) {
	r := benchRun{Batch: batch, Iters: o.iters}
	if err := torch.ManualSeed(o.seed); err != nil {
		return r, err
	}
	x := torch.Randn(nil, []int64{int64(batch), 3, size, size}, torch.Float32)
	defer x.Close()
	if err := x.Err(); err != nil {
		return r, err
	}
	// call runs one forward pass in a scope of its own; x joins the scope for the call (so
	// every result lands there) and leaves it before the scope frees everything else.
	call := func(scores bool) ([]float64, error) {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		s := torch.NewInferenceScope()
		s.Own(x)
		defer func() {
			s.Keep(x)
			s.Close()
		}()
		o, err := m.ScoreTensor(x)
		if err != nil || !scores {
			return nil, err
		}
		return o.Score.Float64s()
	}
	r.PeakRSSReset = resetPeakRSS()
	for range o.warmup {
		if _, err := call(false); err != nil {
			return r, err
		}
	}
	lat := make([]time.Duration, o.iters)
	for i := range lat {
		t0 := time.Now()
		sc, err := call(i == 0)
		lat[i] = time.Since(t0)
		if err != nil {
			return r, err
		}
		if i == 0 {
			r.Scores = sc
		}
	}
	r.PeakRSS = peakRSS()
	secs := make([]float64, len(lat))
	for i, d := range lat {
		secs[i] = d.Seconds()
	}
	r.setLatencies(secs)
	return r, nil
}

// setLatencies fills the latency and throughput figures from per-call seconds.
func (r *benchRun) setLatencies(secs []float64) {
	r.Iters = len(secs)
	if len(secs) == 0 {
		return
	}
	sorted := slices.Clone(secs)
	slices.Sort(sorted)
	total := 0.0
	for _, s := range secs {
		total += s
	}
	r.P50Ms = 1e3 * percentile(sorted, 50)
	r.P99Ms = 1e3 * percentile(sorted, 99)
	r.MeanMs = 1e3 * total / float64(len(secs))
	if total > 0 {
		r.ImagesPerS = float64(r.Batch*len(secs)) / total
	}
}

func (r *benchRun) setGFLOPS(flops int64, peak float64) {
	r.GFLOPS = float64(flops) * r.ImagesPerS / 1e9
	if peak > 0 {
		r.PctConvPeak = 100 * r.GFLOPS / peak
	}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// resetPeakRSS resets VmHWM to the current RSS (Linux ≥ 4.0); false where not allowed. It first
// hands glibc's free heap memory back to the system, so the peak of one batch size does not
// start from what an earlier, larger one left cached.
func resetPeakRSS() bool {
	C.malloc_trim(0)
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is VmHWM of /proc/self/status in bytes (0 where unavailable).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// measureConvPeak times a 512→512 3×3 convolution on a 64×64 map, batch 1, in both layouts:
// the best of a few calls after one warm-up.
func measureConvPeak() (convPeak, error) {
	const c, hw, k, reps = 512, 64, 3, 4
	p := convPeak{Shape: "512→512 3×3 pad 1, 64×64, batch 1, float32", FLOPs: 2 * hw * hw * c * c * k * k}
	s := torch.NewInferenceScope()
	defer s.Close()
	if err := torch.ManualSeed(1); err != nil {
		return p, err
	}
	w := torch.Randn(s, []int64{c, c, k, k}, torch.Float32)
	x := torch.Randn(s, []int64{1, c, hw, hw}, torch.Float32)
	opts := torch.Conv2dOptions{Padding: [2]int64{1, 1}}
	best := func(x, w *torch.Tensor) (float64, error) {
		b := math.Inf(1)
		for i := range reps + 1 {
			t0 := time.Now()
			y := x.Conv2d(w, nil, opts)
			d := time.Since(t0).Seconds()
			if err := y.Err(); err != nil {
				return 0, err
			}
			y.Close()
			if i > 0 {
				b = min(b, d)
			}
		}
		return float64(p.FLOPs) / b / 1e9, nil
	}
	var err error
	if p.ChannelsLast, err = best(x.ContiguousAs(torch.ChannelsLast), w.ContiguousAs(torch.ChannelsLast)); err != nil {
		return p, err
	}
	if p.NCHW, err = best(x, w); err != nil {
		return p, err
	}
	return p, s.Err()
}

// pyResult is what bench_ref.py prints.
type pyResult struct {
	Torch   string `json:"torch"`
	Threads int    `json:"threads"`
	FLOPs   int64  `json:"flops"`
	Results []struct {
		Batch        int       `json:"batch"`
		Latencies    []float64 `json:"latencies_s"`
		PeakRSS      int64     `json:"peak_rss_bytes"`
		PeakRSSReset bool      `json:"peak_rss_reset"`
		Scores       []float64 `json:"scores"`
	} `json:"results"`
}

// benchPython writes bench_ref.py and csad_ref.py to a temporary folder and runs them on the
// same model file and settings.
func benchPython(ctx context.Context, rep *benchReport, o benchOptions, logw io.Writer) error {
	dir, err := os.MkdirTemp("", "csad-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "bench_ref.py")
	if err := atomicfile.WriteFile(script, benchRefPy); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, pyref.FileName), pyref.Source); err != nil {
		return err
	}
	bs := make([]string, len(o.batches))
	for i, b := range o.batches {
		bs[i] = strconv.Itoa(b)
	}
	// The context kills Python on SIGINT/SIGTERM, so the temporary folder is still removed.
	cmd := exec.CommandContext(ctx, o.python, "-B", script, "--model", o.model, "--batches", strings.Join(bs, ","),
		"--threads", strconv.Itoa(rep.Threads), "--warmup", strconv.Itoa(o.warmup),
		"--iters", strconv.Itoa(o.iters), "--seed", strconv.FormatUint(o.seed, 10), "--flops")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(logw, &stderr)
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "No module named 'torch'") {
			return fmt.Errorf("%s has no torch: install Debian python3-torch ('make setup'), or pass -python=false", o.python)
		}
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("%s bench_ref.py: %w: %s", o.python, err, msg)
	}
	var pr pyResult
	if err := json.Unmarshal(stdout.Bytes(), &pr); err != nil {
		return fmt.Errorf("bench_ref.py output: %w", err)
	}
	rep.PythonTorch, rep.PythonFLOPs = pr.Torch, pr.FLOPs
	for _, r := range pr.Results {
		b := benchRun{Mode: "python", Batch: r.Batch, PeakRSS: r.PeakRSS, PeakRSSReset: r.PeakRSSReset, Scores: r.Scores}
		b.setLatencies(r.Latencies)
		rep.Python = append(rep.Python, b)
	}
	return nil
}

func printBench(w io.Writer, rep benchReport, pyErr error) {
	fmt.Fprintf(w, "model %s: %s preset, %d classes; LibTorch %s, %d threads; %d warm-up + %d timed calls, seed %d\n",
		rep.Model, rep.Preset, rep.Config.Segmentor.Classes, rep.Torch, rep.Threads, rep.Warmup, rep.Iters, rep.Seed)
	fl := fmt.Sprintf("%.2f GFLOP per image (convolutions)", float64(rep.FLOPs)/1e9)
	switch {
	case rep.PythonFLOPs == rep.FLOPs:
		fl += ", PyTorch forward hooks agree exactly"
	case rep.PythonFLOPs != 0:
		fl += fmt.Sprintf(", PyTorch forward hooks count %d (Go %d): MISMATCH", rep.PythonFLOPs, rep.FLOPs)
	}
	fmt.Fprintln(w, fl)
	fmt.Fprintf(w, "conv peak (%s): %.1f GFLOP/s channels-last, %.1f GFLOP/s NCHW\n\n",
		rep.ConvPeak.Shape, rep.ConvPeak.ChannelsLast, rep.ConvPeak.NCHW)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	py := len(rep.Python) > 0
	head := "mode\tbatch\tp50 ms\tp99 ms\timages/s\tpeak RSS MiB\tGFLOP/s\t% conv peak\t"
	if py {
		head += "python images/s\tgo/python\t|Δscore| max\t"
	}
	fmt.Fprintln(tw, head)
	row := func(r benchRun) {
		rss := fmt.Sprintf("%.0f", float64(r.PeakRSS)/(1<<20))
		if !r.PeakRSSReset {
			rss += "*"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.3f\t%s\t%.1f\t%.1f\t", r.Mode, r.Batch, r.P50Ms, r.P99Ms, r.ImagesPerS,
			rss, r.GFLOPS, r.PctConvPeak)
		if py {
			if r.Mode == "python" {
				fmt.Fprint(tw, "\t\t\t")
			} else {
				d := "-"
				if r.MaxAbsDiffScore != nil {
					d = fmt.Sprintf("%.3g", *r.MaxAbsDiffScore)
				}
				fmt.Fprintf(tw, "%.3f\t%.2f×\t%s\t", r.PythonImagesPerS, r.RatioVsPython, d)
			}
		}
		fmt.Fprintln(tw)
	}
	for _, r := range rep.Go {
		row(r)
	}
	for _, r := range rep.Python {
		row(r)
	}
	tw.Flush()
	notes := []string{}
	if slices.ContainsFunc(append(slices.Clone(rep.Go), rep.Python...), func(r benchRun) bool { return !r.PeakRSSReset }) {
		notes = append(notes, "* peak RSS since process start (the kernel refused to reset VmHWM)")
	}
	if py {
		notes = append(notes, fmt.Sprintf("python: eager PyTorch %s (csad_ref.CSAD, torch.no_grad); |Δscore|: Go vs Python scores of the first timed call", rep.PythonTorch))
	}
	if pyErr != nil {
		notes = append(notes, "python comparison failed: "+pyErr.Error())
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}
