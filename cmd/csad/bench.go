package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/internal/cpupeak"
	"github.com/csad-go/csad/torch"
)

func init() { rootCmd.AddCommand(newBenchCmd()) }

// The columns of 'csad bench', in the order they take turns.
const (
	colExact   = "torch-exact"      // csad.Options{}: LibTorch, PyTorch's NCHW arithmetic bit for bit
	colFast    = "torch-fast"       // csad.Options{Fast: true}
	colBF16    = "torch-bf16"       // csad.Options{Fast: true, BFloat16: true}
	colORT     = "onnxruntime"      // ONNX Runtime on the graph csad.ExportONNX writes
	colORTFast = "onnxruntime-fast" // the same on fast mode's graph (ExportOptions.Fast)
	colPython  = "python"           // eager PyTorch (csad_ref.CSAD, no_grad), the official way
	colPyBF16  = "python-bf16"      // the same under torch.autocast("cpu", torch.bfloat16): torch-bf16's peer
)

var benchColumns = []string{colExact, colFast, colBF16, colORT, colORTFast, colPython, colPyBF16}

// defaultBenchColumns are benchColumns less the bfloat16 ones on a CPU without bfloat16
// arithmetic (csad.CheckBFloat16CPU), so that a plain 'csad bench' succeeds everywhere.
func defaultBenchColumns() []string {
	if csad.CheckBFloat16CPU() != nil {
		return slices.DeleteFunc(slices.Clone(benchColumns), func(c string) bool { return c == colBF16 || c == colPyBF16 })
	}
	return benchColumns
}

// isBFloat16 reports whether column c computes in bfloat16.
func isBFloat16(c string) bool { return c == colBF16 || c == colPyBF16 }

// isPython reports whether column c runs in the Python worker.
func isPython(c string) bool { return c == colPython || c == colPyBF16 }

// maxBenchIters bounds -iters and -warmup, so the latency buffers stay small.
const maxBenchIters = 100_000

// benchSettle is an untimed pause before every call. An engine that has just finished keeps
// its worker threads spinning for a moment (OpenMP's and ONNX Runtime's default wait policy);
// without the pause those threads would compete with the next column's call for the cores.
const benchSettle = 20 * time.Millisecond

// benchOptions are the flags of 'csad bench'.
type benchOptions struct {
	model, python string
	columns       []string
	batches       []int
	threads       int
	iters, warmup int
	rssCalls      int
	seed          uint64
	usePython     bool
	asJSON        bool
	ompPolicy     string // -omp-wait-policy
	rssOnly       string // hidden: run one column alone and print its peak RSS (the RSS phase's child)
}

// benchResult is one column at one batch size.
type benchResult struct {
	Column string `json:"column"`
	Batch  int    `json:"batch"`
	// LatenciesMs are the timed calls, round by round; P50Ms is their median, P99Ms the
	// nearest-rank 99th percentile (with fewer than 100 calls, the slowest).
	LatenciesMs []float64 `json:"latencies_ms"`
	P50Ms       float64   `json:"p50_ms"`
	P99Ms       float64   `json:"p99_ms"`
	ImagesPerS  float64   `json:"images_per_s"`           // batch ÷ p50
	GFLOPS      float64   `json:"gflops"`                 // achieved: convolution FLOPs per image × images/s
	PctConvPeak float64   `json:"pct_conv_peak"`          // of the channels-last convolution peak (bfloat16 columns: of the bfloat16 one)
	PctFMAPeak  float64   `json:"pct_fma_peak,omitempty"` // of the FMA peak (fma_peak)
	// VsPython is the median over rounds of python_time ÷ this column's time in the same round
	// (> 1: faster than eager PyTorch), from Pairs rounds where both calls succeeded.
	VsPython *float64 `json:"vs_python,omitempty"`
	Pairs    int      `json:"pairs,omitempty"`
	// Scores are the first call's per-image scores; MaxAbsDiffScore is their largest
	// difference from Python's.
	Scores          []float64 `json:"scores"`
	MaxAbsDiffScore *float64  `json:"max_abs_diff_score,omitempty"`
	// PeakRSSAlone is VmHWM of a fresh process that loads the model for this column alone and
	// makes -rss-calls calls at this batch size, load included.
	PeakRSSAlone int64  `json:"peak_rss_alone_bytes,omitempty"`
	RSSError     string `json:"rss_error,omitempty"`
	Error        string `json:"error,omitempty"` // the column failed; no figures
}

// convPeak is the throughput of one large convolution on this machine.
type convPeak struct {
	Shape        string  `json:"shape"`
	FLOPs        int64   `json:"flops"`
	ChannelsLast float64 `json:"gflops_channels_last"`
	NCHW         float64 `json:"gflops_nchw"`
	// BFloat16 is the same convolution in bfloat16 (the better of channels-last and NCHW), on a
	// CPU with bfloat16 arithmetic only: the peak of the bfloat16 columns.
	BFloat16 float64 `json:"gflops_bfloat16,omitempty"`
}

// benchReport is the -json output.
type benchReport struct {
	Model       string      `json:"model"`
	Preset      string      `json:"preset"`
	Config      csad.Config `json:"config"`
	Torch       string      `json:"torch"`
	ONNXRuntime string      `json:"onnxruntime,omitempty"`
	PythonTorch string      `json:"python_torch,omitempty"`
	Threads     int         `json:"threads"`
	CPUs        int         `json:"cpus"`
	// LoadAverage is the 1-minute load average when the bench started (0 where unknown);
	// OMPWaitPolicy is OMP_WAIT_POLICY as every column inherits it ("" unset: spin, then sleep).
	LoadAverage   float64  `json:"load_average"`
	OMPWaitPolicy string   `json:"omp_wait_policy"`
	Warmup        int      `json:"warmup"`
	Iters         int      `json:"iters"`
	RSSCalls      int      `json:"rss_calls"`
	Seed          uint64   `json:"seed"`
	FLOPs         int64    `json:"flops_per_image"`
	PythonFLOPs   int64    `json:"python_flops_per_image,omitempty"` // forward hooks on nn.Conv2d
	ConvPeak      convPeak `json:"conv_peak"`
	// FMAPeak is the CPU's float32 multiply-add rate with every operand in a register, on the
	// bench's threads (internal/cpupeak): no engine can exceed it. Absent on a CPU without a
	// kernel for it (FMAPeakError says so).
	FMAPeak      *cpupeak.Peak `json:"fma_peak,omitempty"`
	FMAPeakError string        `json:"fma_peak_error,omitempty"`
	Columns      []string      `json:"columns"`
	Results      []benchResult `json:"results"` // batch by batch, columns in turn order
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench -model MODEL.csad",
		Short: "Measure scoring speed and memory of every engine, against PyTorch on the same model",
		Long: `Measure how fast a .csad model scores on this machine (the speed benchmark of docs/method.md), on
every engine side by side with eager PyTorch:

  torch-exact   LibTorch, PyTorch's evaluation bit for bit (csad score)
  torch-fast    LibTorch fast mode: oneDNN convolutions, prepacked weights (csad score -fast)
  torch-bf16    the same with the student and autoencoder in bfloat16 (csad score -fast -bf16);
                on CPUs with AVX512_BF16 or AMX-BF16 only, left out of the default elsewhere
  onnxruntime   ONNX Runtime on the graph csad export writes, made in memory (-backend onnxruntime)
  onnxruntime-fast
                the same on fast mode's graph: folded BatchNorm, the teacher projected before
                it is resized, fewer taps and resizes (-backend onnxruntime -fast)
  python        eager PyTorch, the official way: csad_ref's CSAD module, load_state_dict strict,
                eval, torch.no_grad, run by -python-bin (Debian's python3-torch; 'make setup')
  python-bf16   the same under torch.autocast("cpu", torch.bfloat16): PyTorch's own mixed
                precision, torch-bf16's peer (bfloat16 CPUs only, like torch-bf16)

For each batch size B, the input (B,3,256,256) is torch.randn after torch.manual_seed(-seed), the
same in every column. Each column makes -warmup untimed calls, then the columns take turns, one
timed call each per round (torch-exact, torch-fast, torch-bf16, onnxruntime, onnxruntime-fast, python,
python-bf16, ...), for
-iters rounds, so that a slow spell of a shared machine falls on every column rather than on one
column's whole run. Python runs as a worker process that makes one call whenever asked.

Reported per column: the median latency (p50) and the p99 (nearest rank: with fewer than 100
calls, the slowest), images/s = B ÷ p50, the achieved GFLOP/s (csad.FLOPs per image × images/s)
and that as a percentage of this machine's convolution peak (a 512→512 3×3 convolution on 64×64,
batch 1, channels-last, same threads; the best of a measurement before the rounds and one after
each batch size) and of its FMA peak (float32 multiply-adds with every operand in a register,
AVX2 or AVX-512, on the same threads, measured alongside: what no float32 engine can exceed;
the bfloat16 columns' percentage is of the same convolution in bfloat16, and the FMA peak does
not bound them). The ceiling line says how many times eager PyTorch's images/s an engine would reach if the model's
convolutions ran at the FMA peak and nothing else took time. "vs python" is the median of the paired ratios: in round
i, Python's time ÷ the column's time; above 1 the column is faster. Medians rather than sums,
so that one outlier call does not decide the verdict. |Δscore| is the largest difference from
Python's scores on the first call.

Peak RSS cannot be told apart per column inside one process: after the timed rounds, each
column runs alone in a fresh process (this binary, or a new Python worker) that loads the model
and makes -rss-calls calls at each batch size; "peak RSS MiB (alone)" is that process's VmHWM,
load included. -rss-calls 0 skips it.

A column that fails (ONNX Runtime's library missing, say) shows its error; the others still run,
and the exit status is 1. -columns picks the columns; -python=false drops Python.

Every column runs under OMP_WAIT_POLICY=passive (-omp-wait-policy; the bench re-runs itself
with it, since OpenMP reads it once, at start-up; Python and the peak-RSS processes inherit it).
Under OpenMP's default, idle threads spin for a while after each parallel region; on a machine
that other processes keep busy that slowed eager PyTorch 10-30 times (the Go columns hardly),
which would be measured as Go's speed. -omp-wait-policy inherit measures the environment's
policy instead; the table warns when that is the default and the load average exceeds the CPUs.

-json prints one object: the settings (model, preset, config, torch, onnxruntime, python_torch,
threads, cpus, load_average, omp_wait_policy, warmup, iters, rss_calls, seed), flops_per_image
and python_flops_per_image, conv_peak, fma_peak (or fma_peak_error), columns, and results: one
entry per batch size and column with latencies_ms (round by round), p50_ms, p99_ms,
images_per_s, gflops, pct_conv_peak, pct_fma_peak,
vs_python and pairs, scores (the first call's), max_abs_diff_score, peak_rss_alone_bytes, and
error or rss_error where that failed.`,
		Example: "  csad bench -model breakfast_box.csad -batch 1,8 -threads 2 -iters 8\n" +
			"  csad bench -model m.csad -columns torch-exact,torch-fast -json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.resolveColumns(cmd.Flags().Changed("columns")); err != nil {
				return err
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model file (.csad; make one with 'csad import')")
	f.StringSliceVar(&o.columns, "columns", defaultBenchColumns(), "columns, comma-separated, in turn order: "+strings.Join(benchColumns, ", "))
	f.IntSliceVar(&o.batches, "batch", []int{1, 8}, fmt.Sprintf("batch sizes, comma-separated, each 1..%d", maxBatch))
	f.IntVar(&o.threads, "threads", 0, fmt.Sprintf("intra-op threads of every column, 1..%d (0: LibTorch's default)", maxThreads()))
	f.IntVar(&o.iters, "iters", 10, fmt.Sprintf("timed rounds per batch size, 1..%d", maxBenchIters))
	f.IntVar(&o.warmup, "warmup", 2, "untimed calls of each column before them")
	f.IntVar(&o.rssCalls, "rss-calls", 2, "calls of each column alone in a fresh process, for its peak RSS (0: skip)")
	f.Uint64Var(&o.seed, "seed", 0, "torch.manual_seed of the random inputs")
	f.BoolVar(&o.usePython, "python", true, "include eager PyTorch (the python column) and compare with it")
	f.StringVar(&o.python, "python-bin", "/usr/bin/python3", "Python with torch for the python column")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object instead of the table")
	f.StringVar(&o.ompPolicy, "omp-wait-policy", "passive", "OMP_WAIT_POLICY of every column: passive, active, or inherit (the environment's)")
	f.StringVar(&o.rssOnly, "rss-only", "", "run one column alone and print its peak RSS as JSON (what the RSS phase runs)")
	if err := f.MarkHidden("rss-only"); err != nil {
		panic(err) // the flag is defined just above
	}
	return cmd
}

// resolveColumns checks -columns and applies -python=false.
func (o *benchOptions) resolveColumns(explicit bool) error {
	if len(o.columns) == 0 {
		return fmt.Errorf("bench: -columns needs at least one of %s", strings.Join(benchColumns, ", "))
	}
	seen := map[string]bool{}
	for _, c := range o.columns {
		if !slices.Contains(benchColumns, c) {
			return fmt.Errorf("bench: -columns: unknown column %q: want some of %s", c, strings.Join(benchColumns, ", "))
		}
		if seen[c] {
			return fmt.Errorf("bench: -columns names %s twice", c)
		}
		seen[c] = true
	}
	if !o.usePython && (seen[colPython] || seen[colPyBF16]) {
		if explicit {
			return errors.New("bench: -python=false contradicts -columns python")
		}
		o.columns = slices.DeleteFunc(slices.Clone(o.columns), isPython)
	}
	if len(o.columns) == 0 {
		return errors.New("bench: -python=false leaves no column: name some with -columns")
	}
	return nil
}

// validate checks everything but the columns before anything is loaded.
func (o benchOptions) validate() error {
	if o.model == "" {
		return errors.New("bench: -model is required")
	}
	if err := checkThreads("bench", o.threads); err != nil {
		return err
	}
	if len(o.batches) == 0 {
		return errors.New("bench: -batch needs at least one size")
	}
	for i, b := range o.batches {
		if err := checkBatch("bench", b); err != nil {
			return err
		}
		if slices.Contains(o.batches[:i], b) {
			return fmt.Errorf("bench: -batch names %d twice", b)
		}
	}
	if o.iters < 1 || o.iters > maxBenchIters {
		return fmt.Errorf("bench: -iters %d is out of range: want 1..%d timed rounds", o.iters, maxBenchIters)
	}
	if o.warmup < 0 || o.warmup > maxBenchIters {
		return fmt.Errorf("bench: -warmup %d is out of range: want 0..%d calls", o.warmup, maxBenchIters)
	}
	if o.rssCalls < 0 || o.rssCalls > maxBenchIters {
		return fmt.Errorf("bench: -rss-calls %d is out of range: want 0..%d calls (0 skips the peak RSS phase)", o.rssCalls, maxBenchIters)
	}
	if !slices.Contains([]string{"passive", "active", "inherit"}, o.ompPolicy) {
		return fmt.Errorf("bench: -omp-wait-policy %q: want passive, active or inherit", o.ompPolicy)
	}
	if o.rssOnly != "" {
		if !slices.Contains(benchColumns, o.rssOnly) || isPython(o.rssOnly) {
			return fmt.Errorf("bench: -rss-only %q: want one of %s, %s, %s, %s, %s", o.rssOnly, colExact, colFast, colBF16, colORT, colORTFast)
		}
		if len(o.batches) != 1 {
			return fmt.Errorf("bench: -rss-only runs one batch size, not %d", len(o.batches))
		}
	}
	if slices.ContainsFunc(o.columns, isPython) {
		if _, err := os.Stat(o.python); err != nil {
			return fmt.Errorf("bench: -python-bin %s not found: the python column needs Python with torch "+
				"(Debian python3-torch; 'make setup' installs it); -python=false leaves it out", o.python)
		}
	}
	// The file last: a flag out of range is named even when the model is not there.
	if _, err := os.Stat(o.model); err != nil {
		return fmt.Errorf("bench: -model: %w", err)
	}
	return nil
}

func runBench(ctx context.Context, out, logw io.Writer, o benchOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(logw, "bench: "+f+"\n", a...) }
	if o.rssOnly != "" {
		return runRSSAlone(ctx, out, o)
	}
	if o.ompPolicy != "inherit" && os.Getenv(ompWaitPolicy) != o.ompPolicy {
		logf("re-running with %s=%s (-omp-wait-policy inherit keeps the environment's)", ompWaitPolicy, o.ompPolicy)
		return reexecWith(ompWaitPolicy, o.ompPolicy)
	}
	if o.threads > 0 {
		torch.SetNumThreads(o.threads)
	}
	threads := torch.NumThreads()

	// Python loads in its own process while Go loads here; nothing is timed yet.
	workers := map[string]*pyColumn{}
	for _, c := range o.columns {
		if isPython(c) {
			logf("%s: starting %s (eager PyTorch, no_grad, %d threads)", c, o.python, threads)
			// The python column also counts the FLOPs; one count is enough.
			w, err := startPyWorker(ctx, o, threads, o.batches, c == colPython, c == colPyBF16, logw)
			workers[c] = &pyColumn{col: c, w: w, err: err}
		}
	}
	cols, h, err := openColumns(o, threads, workers, logf)
	if err != nil {
		for _, w := range workers {
			w.close()
		}
		return err
	}
	if rss, err := procStatusBytes("VmRSS"); err == nil {
		logf("every Go column loaded: this process holds %.0f MiB (each column its own weights)", float64(rss)/(1<<20))
	}
	rep := benchReport{
		Model: o.model, Preset: h.Preset, Config: h.Config, Torch: torch.Version(), Threads: threads,
		Warmup: o.warmup, Iters: o.iters, RSSCalls: o.rssCalls, Seed: o.seed, FLOPs: csad.FLOPs(h.Config),
		Columns: slices.Clone(o.columns), CPUs: runtime.NumCPU(), LoadAverage: loadAverage(),
		OMPWaitPolicy: os.Getenv(ompWaitPolicy),
	}
	runErr := func() error {
		defer closeColumns(cols)
		for _, c := range cols {
			switch c := c.(type) {
			case *ortColumn:
				rep.ONNXRuntime = c.version
			case *pyColumn:
				if c.err == nil && c.col == colPython {
					rep.PythonTorch, rep.PythonFLOPs = c.w.torch, c.w.flops
				}
			}
		}
		// Every column is loaded and Python is idle: the machine's peak, then the rounds.
		logf("convolution peak (512→512 3×3, 64×64, batch 1) on %d threads", threads)
		if rep.ConvPeak, err = measureConvPeak(); err != nil {
			return err
		}
		rep.measureFMAPeak(threads)
		for _, b := range o.batches {
			rs, err := benchBatch(ctx, cols, h.Config.ImageSize, b, o, logf)
			if err != nil {
				return err
			}
			rep.Results = append(rep.Results, rs...)
			// Measured again after every batch size, the best kept: one measurement taken in
			// a slow spell of a shared machine would inflate every "% conv peak".
			p, err := measureConvPeak()
			if err != nil {
				return err
			}
			rep.ConvPeak.ChannelsLast = max(rep.ConvPeak.ChannelsLast, p.ChannelsLast)
			rep.ConvPeak.NCHW = max(rep.ConvPeak.NCHW, p.NCHW)
			rep.ConvPeak.BFloat16 = max(rep.ConvPeak.BFloat16, p.BFloat16)
			rep.measureFMAPeak(threads)
		}
		return nil
	}()
	if runErr != nil {
		return fmt.Errorf("bench: %w", runErr)
	}
	fma := 0.0
	if rep.FMAPeak != nil {
		fma = rep.FMAPeak.GFLOPS
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		if isBFloat16(r.Column) {
			// The FMA peak is float32's: a bfloat16 dot-product instruction does twice its work.
			r.setGFLOPS(rep.FLOPs, rep.ConvPeak.BFloat16, 0)
		} else {
			r.setGFLOPS(rep.FLOPs, rep.ConvPeak.ChannelsLast, fma)
		}
	}
	compareWithPython(rep.Results)
	if o.rssCalls > 0 {
		logf("peak RSS: each column alone in a fresh process, %d calls per batch size", o.rssCalls)
		if err := measureRSSAlone(ctx, rep.Results, o, threads, logw); err != nil {
			return fmt.Errorf("bench: %w", err)
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
		printBench(out, rep)
	}
	return benchVerdict(rep)
}

// benchVerdict is the exit status: an error naming every column that failed, and a FLOP count
// that PyTorch's hooks contradict.
func benchVerdict(rep benchReport) error {
	var failed []string
	for _, r := range rep.Results {
		if r.Error != "" && !slices.Contains(failed, r.Column) {
			failed = append(failed, r.Column)
		}
		if r.RSSError != "" && !slices.Contains(failed, r.Column+" (peak RSS)") {
			failed = append(failed, r.Column+" (peak RSS)")
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("bench: %s failed (the table says why); -columns leaves a column out", strings.Join(failed, ", "))
	}
	if rep.PythonFLOPs != 0 && rep.PythonFLOPs != rep.FLOPs {
		return fmt.Errorf("bench: FLOPs disagree: Go %d, PyTorch hooks %d", rep.FLOPs, rep.PythonFLOPs)
	}
	return nil
}

// benchBatch runs the warm-up and the timed rounds of one batch size, the columns taking turns.
// A column that fails is dropped from later calls and reported with its error.
func benchBatch(ctx context.Context, cols []benchColumn, size int64, batch int, o benchOptions, logf func(string, ...any)) ([]benchResult, error) {
	in, err := newBenchInput(cols, size, batch, o.seed)
	if err != nil {
		return nil, err
	}
	defer in.close()
	res := make([]benchResult, len(cols))
	lat := make([][]float64, len(cols)) // seconds; NaN where the call failed
	for i, c := range cols {
		res[i] = benchResult{Column: c.name(), Batch: batch}
		if err := c.loadErr(); err != nil {
			res[i].Error = err.Error()
		}
		lat[i] = make([]float64, 0, o.iters)
	}
	call := func(i int, timed bool) error {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if res[i].Error != "" {
			if timed {
				lat[i] = append(lat[i], math.NaN())
			}
			return nil
		}
		time.Sleep(benchSettle)
		first := res[i].Scores == nil
		secs, scores, err := cols[i].call(in, first)
		if err != nil {
			res[i].Error = err.Error()
			logf("%s, batch %d: %v (left out from here on)", cols[i].name(), batch, err)
			secs = math.NaN()
		}
		if first && err == nil {
			if len(scores) != batch {
				res[i].Error = fmt.Sprintf("%d scores for a batch of %d", len(scores), batch)
				secs = math.NaN()
			}
			res[i].Scores = scores
		}
		if timed {
			lat[i] = append(lat[i], secs)
		}
		return nil
	}
	logf("batch %d: %d warm-up calls of each column, then %d rounds of %s", batch, o.warmup, o.iters, strings.Join(o.columns, ", "))
	for range o.warmup {
		for i := range cols {
			if err := call(i, false); err != nil {
				return nil, err
			}
		}
	}
	for range o.iters {
		for i := range cols {
			if err := call(i, true); err != nil {
				return nil, err
			}
		}
	}
	for i := range res {
		if res[i].Error != "" {
			res[i].LatenciesMs = nil
			continue
		}
		res[i].setLatencies(lat[i])
		res[i].pairWith(lat, i, cols)
	}
	return res, nil
}

// pairWith stores the paired ratio of column i against the python column, if there is one;
// lat holds every column's seconds, round by round.
func (r *benchResult) pairWith(lat [][]float64, i int, cols []benchColumn) {
	for j, c := range cols {
		if c.name() != colPython || j == i {
			continue
		}
		if z, n := pairedRatioMedian(lat[j], lat[i]); n > 0 {
			r.VsPython, r.Pairs = &z, n
		}
	}
	if cols[i].name() == colPython && len(lat[i]) > 0 {
		one := 1.0
		r.VsPython, r.Pairs = &one, len(lat[i])
	}
}

// pairedRatioMedian is the median over rounds of ref[k] ÷ col[k], over the rounds where both are
// finite and positive, and how many such rounds there were.
func pairedRatioMedian(ref, col []float64) (float64, int) {
	var z []float64
	for k := range min(len(ref), len(col)) {
		p, c := ref[k], col[k]
		if p > 0 && c > 0 && !math.IsInf(p, 0) && !math.IsInf(c, 0) {
			z = append(z, p/c)
		}
	}
	if len(z) == 0 {
		return 0, 0
	}
	return median(z), len(z)
}

// median of values (the mean of the middle two for an even count); values is not changed.
func median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// setLatencies fills the latency and throughput figures from per-call seconds.
func (r *benchResult) setLatencies(secs []float64) {
	r.LatenciesMs = make([]float64, len(secs))
	for i, s := range secs {
		r.LatenciesMs[i] = 1e3 * s
	}
	if len(secs) == 0 {
		return
	}
	sorted := slices.Clone(secs)
	slices.Sort(sorted)
	r.P50Ms = 1e3 * median(sorted)
	r.P99Ms = 1e3 * percentile(sorted, 99)
	if r.P50Ms > 0 {
		r.ImagesPerS = float64(r.Batch) / (r.P50Ms / 1e3)
	}
}

func (r *benchResult) setGFLOPS(flops int64, convPeak, fmaPeak float64) {
	if r.Error != "" {
		return
	}
	r.GFLOPS = float64(flops) * r.ImagesPerS / 1e9
	if convPeak > 0 {
		r.PctConvPeak = 100 * r.GFLOPS / convPeak
	}
	if fmaPeak > 0 {
		r.PctFMAPeak = 100 * r.GFLOPS / fmaPeak
	}
}

// benchBatches is the batch sizes of rs in their order.
func benchBatches(rs []benchResult) []int {
	var bs []int
	for _, r := range rs {
		if !slices.Contains(bs, r.Batch) {
			bs = append(bs, r.Batch)
		}
	}
	return bs
}

// fmaPeakTime is how long each thread runs the FMA kernel per repetition.
const fmaPeakTime = 200 * time.Millisecond

// measureFMAPeak measures the FMA peak on threads threads and keeps the best so far: like the
// convolution peak, measured before the rounds and after each batch size.
func (rep *benchReport) measureFMAPeak(threads int) {
	p, err := cpupeak.Measure(threads, fmaPeakTime)
	switch {
	case err != nil:
		rep.FMAPeakError = err.Error()
	case rep.FMAPeak == nil || p.GFLOPS > rep.FMAPeak.GFLOPS:
		rep.FMAPeak = &p
	}
}

// ceilingVsPython is how many times eager PyTorch's images/s at batch b the FMA peak would
// allow if the convolutions were all there was and ran at that peak; 0 without both figures.
func (rep *benchReport) ceilingVsPython(b int) float64 {
	if rep.FMAPeak == nil || rep.FLOPs <= 0 {
		return 0
	}
	for _, r := range rep.Results {
		if r.Column == colPython && r.Batch == b && r.Error == "" && r.ImagesPerS > 0 {
			return rep.FMAPeak.GFLOPS * 1e9 / float64(rep.FLOPs) / r.ImagesPerS
		}
	}
	return 0
}

// compareWithPython sets |Δscore| of every column against Python's first-call scores.
func compareWithPython(rs []benchResult) {
	for i := range rs {
		r := &rs[i]
		if r.Column == colPython || r.Error != "" {
			continue
		}
		for _, p := range rs {
			if p.Column != colPython || p.Batch != r.Batch || p.Error != "" || len(p.Scores) != len(r.Scores) {
				continue
			}
			d := 0.0
			for j := range r.Scores {
				d = max(d, math.Abs(r.Scores[j]-p.Scores[j]))
			}
			r.MaxAbsDiffScore = &d
		}
	}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
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
	if csad.CheckBFloat16CPU() == nil {
		xb, wb := x.To(torch.BFloat16), w.To(torch.BFloat16)
		cl, err := best(xb.ContiguousAs(torch.ChannelsLast), wb.ContiguousAs(torch.ChannelsLast))
		if err != nil {
			return p, err
		}
		nchw, err := best(xb, wb)
		if err != nil {
			return p, err
		}
		p.BFloat16 = max(cl, nchw)
	}
	return p, s.Err()
}

func printBench(w io.Writer, rep benchReport) {
	policy := rep.OMPWaitPolicy
	if policy == "" {
		policy = "unset"
	}
	fmt.Fprintf(w, "model %s: %s preset, %d classes; LibTorch %s, %d threads, OMP_WAIT_POLICY %s, load average %.1f on %d CPUs\n",
		rep.Model, rep.Preset, rep.Config.Segmentor.Classes, rep.Torch, rep.Threads, policy, rep.LoadAverage, rep.CPUs)
	fmt.Fprintf(w, "%d warm-up calls, then %d rounds of one timed call per column in turn; seed %d\n", rep.Warmup, rep.Iters, rep.Seed)
	fl := fmt.Sprintf("%.2f GFLOP per image (convolutions)", float64(rep.FLOPs)/1e9)
	switch {
	case rep.PythonFLOPs == rep.FLOPs:
		fl += ", PyTorch forward hooks agree exactly"
	case rep.PythonFLOPs != 0:
		fl += fmt.Sprintf(", PyTorch forward hooks count %d (Go %d): MISMATCH", rep.PythonFLOPs, rep.FLOPs)
	}
	fmt.Fprintln(w, fl)
	fmt.Fprintf(w, "conv peak (%s): %.1f GFLOP/s channels-last, %.1f GFLOP/s NCHW",
		rep.ConvPeak.Shape, rep.ConvPeak.ChannelsLast, rep.ConvPeak.NCHW)
	if rep.ConvPeak.BFloat16 > 0 {
		fmt.Fprintf(w, "; in bfloat16 %.1f GFLOP/s", rep.ConvPeak.BFloat16)
	}
	fmt.Fprintln(w)
	if p := rep.FMAPeak; p != nil {
		fmt.Fprintf(w, "FMA peak (%s, %d float32 lanes, %d threads, operands in registers): %.1f GFLOP/s; "+
			"at it this model's convolutions alone take %.0f ms an image, at most %.3f images/s\n",
			p.Kernel, p.Lanes, p.Threads, p.GFLOPS, float64(rep.FLOPs)/p.GFLOPS/1e6, p.GFLOPS*1e9/float64(rep.FLOPs))
	} else if rep.FMAPeakError != "" {
		fmt.Fprintf(w, "FMA peak: not measured: %s\n", rep.FMAPeakError)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "column\tbatch\tp50 ms\tp99 ms\timages/s\tGFLOP/s\t% conv peak\t% FMA peak\tvs python\t|Δscore| max\tpeak RSS MiB (alone)\t")
	var notes []string
	for _, r := range rep.Results {
		rss := "-"
		switch {
		case r.PeakRSSAlone > 0:
			rss = fmt.Sprintf("%.0f", float64(r.PeakRSSAlone)/(1<<20))
		case r.RSSError != "":
			rss = "failed"
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%d\tfailed\t-\t-\t-\t-\t-\t-\t-\t%s\t\n", r.Column, r.Batch, rss)
			notes = append(notes, fmt.Sprintf("%s, batch %d: %s", r.Column, r.Batch, r.Error))
			continue
		}
		vs, d := "-", "-"
		if r.VsPython != nil {
			vs = fmt.Sprintf("%.2f×", *r.VsPython)
		}
		if r.MaxAbsDiffScore != nil {
			d = fmt.Sprintf("%.3g", *r.MaxAbsDiffScore)
		}
		fma := "-"
		if rep.FMAPeak != nil && !isBFloat16(r.Column) {
			fma = fmt.Sprintf("%.1f", r.PctFMAPeak)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.3f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t\n", r.Column, r.Batch, r.P50Ms, r.P99Ms,
			r.ImagesPerS, r.GFLOPS, r.PctConvPeak, fma, vs, d, rss)
		if r.RSSError != "" {
			notes = append(notes, fmt.Sprintf("%s, batch %d, peak RSS: %s", r.Column, r.Batch, r.RSSError))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "images/s: batch ÷ p50; vs python: median over rounds of Python's time ÷ the column's (> 1: faster)")
	var ceil []string
	for _, b := range benchBatches(rep.Results) {
		if c := rep.ceilingVsPython(b); c > 0 {
			ceil = append(ceil, fmt.Sprintf("%.2f× at batch %d", c, b))
		}
	}
	if len(ceil) > 0 {
		fmt.Fprintf(w, "ceiling vs python in float32 (every convolution at the FMA peak, nothing else taking time): %s\n", strings.Join(ceil, ", "))
	}
	if rep.PythonTorch != "" {
		fmt.Fprintf(w, "python: eager PyTorch %s (csad_ref.CSAD, torch.no_grad); |Δscore|: largest difference from its scores, first call\n", rep.PythonTorch)
	}
	if rep.ONNXRuntime != "" {
		fmt.Fprintf(w, "onnxruntime: ONNX Runtime %s on the graph of csad.ExportONNX (with maps), made in memory; -fast: fast mode's graph\n", rep.ONNXRuntime)
	}
	if slices.ContainsFunc(rep.Results, func(r benchResult) bool { return isBFloat16(r.Column) }) {
		fmt.Fprintf(w, "bf16: %s: the student and autoencoder in bfloat16 (csad score -fast -bf16); %s: eager PyTorch "+
			"under torch.autocast(\"cpu\", torch.bfloat16); a bfloat16 column's %% conv peak is of the bfloat16 convolution, "+
			"and the FMA peak (float32) does not apply to it\n", colBF16, colPyBF16)
	}
	if rep.RSSCalls > 0 {
		fmt.Fprintf(w, "peak RSS (alone): VmHWM of a fresh process running only that column, load and %d calls\n", rep.RSSCalls)
	}
	if slices.ContainsFunc(rep.Results, func(r benchResult) bool { return r.PctConvPeak > 100 }) {
		notes = append(notes, "note: above 100 % of the conv peak means other load slowed every measurement of the peak; "+
			"the paired ratios are still comparable, the percentages are not")
	}
	if rep.OMPWaitPolicy == "" && rep.LoadAverage > float64(rep.CPUs) {
		notes = append(notes, fmt.Sprintf("warning: the machine was busy (load average %.1f on %d CPUs) and OMP_WAIT_POLICY is unset: "+
			"OpenMP's spin-waiting then slows eager PyTorch far more than the other columns (10-30× seen); "+
			"the default -omp-wait-policy passive gives every column the same policy", rep.LoadAverage, rep.CPUs))
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

const ompWaitPolicy = "OMP_WAIT_POLICY"

// reexecWith replaces this process by a fresh run of the same command line with the
// environment variable key set to v; it returns only on failure.
func reexecWith(key, v string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: finding this binary to re-run it with %s=%s: %w (-omp-wait-policy inherit skips this)", key, v, err)
	}
	if err := os.Setenv(key, v); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	err = syscall.Exec(exe, os.Args, os.Environ())
	return fmt.Errorf("bench: re-running %s with %s=%s: %w (-omp-wait-policy inherit skips this)", exe, key, v, err)
}

// loadAverage is the 1-minute load average from /proc/loadavg, 0 where unavailable (it only
// decides whether to warn).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return v
}
