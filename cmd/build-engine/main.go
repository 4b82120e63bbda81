// Command build-engine builds a TensorRT engine from a .csad model or from its ONNX graph:
//
//	build-engine -in model.csad|model.onnx -out model.engine [-fp16] [-fast] [-min-batch N] [-opt-batch N]
//	    [-max-batch N] [-workspace MiB] [-timing-cache FILE] [-version-compatible]
//	    [-hardware-compatibility none|ampere+|same-compute-capability] [-plan] [-maps=false]
//
// From a .csad file it exports the ONNX graph in memory first (csad.ExportONNX); the engine
// header then records the model's category and normalisers, as it does from an .onnx file's
// "csad.header" metadata. The engine file is our header (TensorRT version, GPU, batch profile,
// inputs and outputs, model) followed by TensorRT's plan, written atomically; with -plan it is
// TensorRT's plan alone, as Triton's tensorrt_plan backend reads it.
//
// It needs a binary built with the tensorrt tag (make trt-build TENSORRT_ROOT=...) and an
// NVIDIA GPU; without the tag it checks its flags and then says how to get one. Errors are
// printed to stderr as "build-engine: <message>" and the exit status is 1 (2 for bad flags).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/trt"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// A TensorRT build cannot be interrupted: the process ends here, leaving no partial
		// engine or timing cache (their temporary files are removed).
		s := <-sigs
		fmt.Fprintf(os.Stderr, "build-engine: stopped by %v; no partial file is left\n", s)
		atomicfile.RemoveTemps()
		code := 130
		if s == syscall.SIGTERM {
			code = 143
		}
		os.Exit(code)
	}()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is the command line.
type config struct {
	in, out, timingCache, hardware, log       string
	minBatch, optBatch, maxBatch              int
	workspace                                 int64
	device                                    int
	fp16, fast, tf32, versionCompatible, plan bool
	maps, verbose                             bool
}

// usageError is a bad command line: exit status 2.
type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = buildEngine(cfg, stdout, stderr)
	}
	if err == nil {
		return 0
	}
	msg := err.Error()
	for _, p := range []string{"build-engine: ", "trt: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	fmt.Fprintln(stderr, "build-engine: "+msg)
	var te *trt.Error
	if errors.As(err, &te) && te.Log != "" {
		fmt.Fprint(stderr, "TensorRT's messages:\n"+indent(errorLines(te.Log)))
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("build-engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: build-engine -in model.csad|model.onnx -out model.engine [flags]\n\n"+
			"Builds a TensorRT engine (needs a binary built with the tensorrt tag and an NVIDIA GPU).\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.in, "in", "", "the `model`: a .csad file, or an .onnx graph from 'csad export'")
	fs.StringVar(&c.out, "out", "", "the engine `file` to write")
	fs.BoolVar(&c.fp16, "fp16", false, "half precision: from a .csad file, export the graph in FP16 (TensorRT 11 takes precision from the graph); on TensorRT 10 also the builder flag")
	fs.BoolVar(&c.fast, "fast", false, "from a .csad file, export fast mode's graph: folded BatchNorm, the teacher projected before resizing, fewer taps and resizes (csad export -fast)")
	fs.BoolVar(&c.tf32, "tf32", false, "allow TF32 in float32 convolutions (off: FP32 engines match the LibTorch backend)")
	fs.IntVar(&c.minBatch, "min-batch", 1, "the smallest batch the engine runs")
	fs.IntVar(&c.optBatch, "opt-batch", 0, "the batch the engine is tuned for (0: -min-batch)")
	fs.IntVar(&c.maxBatch, "max-batch", 0, "the largest batch the engine runs (0: the larger of -min-batch and -opt-batch)")
	fs.Int64Var(&c.workspace, "workspace", 0, "TensorRT's scratch memory limit in `MiB` (0: TensorRT's default, the GPU's memory)")
	fs.StringVar(&c.timingCache, "timing-cache", "", "a timing cache `file`, read if present and updated: faster rebuilds on the same GPU and TensorRT")
	fs.BoolVar(&c.versionCompatible, "version-compatible", false, "an engine that later TensorRT versions of the same major version run too")
	fs.StringVar(&c.hardware, "hardware-compatibility", "none", "GPUs besides this one's kind that the engine runs on: "+levels())
	fs.BoolVar(&c.plan, "plan", false, "write TensorRT's plan alone, without our header (for Triton's tensorrt_plan backend)")
	fs.BoolVar(&c.maps, "maps", true, "from a .csad file, export the per-pixel outputs too (the csad tensorrt backend needs them)")
	fs.IntVar(&c.device, "device", 0, "the CUDA device to build on")
	fs.BoolVar(&c.verbose, "verbose", false, "print every TensorRT message, verbose ones included")
	fs.StringVar(&c.log, "log", "", "write TensorRT's build messages to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected argument %q: every input is a flag (-in, -out)", fs.Arg(0))}
	}
	if err := c.check(); err != nil {
		return c, usageError{err}
	}
	return c, nil
}

func levels() string {
	names := make([]string, len(trt.HardwareLevels))
	for i, h := range trt.HardwareLevels {
		names[i] = string(h)
	}
	return strings.Join(names, ", ")
}

// isCSAD tells a .csad model from an ONNX graph by name.
func (c config) isCSAD() bool { return strings.EqualFold(filepath.Ext(c.in), ".csad") }

// check validates the command line before anything is read or built.
func (c config) check() error {
	switch {
	case c.in == "":
		return errors.New("-in is required: a .csad model or an .onnx graph")
	case c.out == "":
		return errors.New("-out is required: the engine file to write")
	}
	ext := strings.ToLower(filepath.Ext(c.in))
	if ext != ".csad" && ext != ".onnx" {
		return fmt.Errorf("-in %s: want a .csad model or an .onnx graph (from 'csad export')", c.in)
	}
	st, err := os.Stat(c.in)
	if err != nil {
		return fmt.Errorf("-in: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("-in %s is not a file", c.in)
	}
	if abs(c.in) == abs(c.out) {
		return fmt.Errorf("-out %s is the input: name another file", c.out)
	}
	if err := dirExists("-out", c.out); err != nil {
		return err
	}
	if c.minBatch < 1 || c.minBatch > trt.MaxBatch {
		return fmt.Errorf("-min-batch %d is out of range: want 1..%d", c.minBatch, trt.MaxBatch)
	}
	if c.optBatch != 0 && (c.optBatch < c.minBatch || c.optBatch > trt.MaxBatch) {
		return fmt.Errorf("-opt-batch %d is out of range: want -min-batch (%d)..%d, or 0 for -min-batch", c.optBatch, c.minBatch, trt.MaxBatch)
	}
	if c.maxBatch != 0 && (c.maxBatch < max(c.minBatch, c.optBatch) || c.maxBatch > trt.MaxBatch) {
		return fmt.Errorf("-max-batch %d is out of range: want max(-min-batch, -opt-batch) (%d)..%d, or 0 for that", c.maxBatch, max(c.minBatch, c.optBatch), trt.MaxBatch)
	}
	if c.workspace < 0 || c.workspace > trt.MaxWorkspaceMiB {
		return fmt.Errorf("-workspace %d MiB is out of range: want 1..%d, or 0 for TensorRT's default", c.workspace, trt.MaxWorkspaceMiB)
	}
	if _, err := trt.ParseHardwareCompatibility(c.hardware); err != nil {
		return fmt.Errorf("-hardware-compatibility: %w", err)
	}
	if c.device < 0 {
		return fmt.Errorf("-device %d: CUDA devices are numbered from 0", c.device)
	}
	if c.timingCache != "" {
		if err := dirExists("-timing-cache", c.timingCache); err != nil {
			return err
		}
	}
	if c.log != "" {
		if err := dirExists("-log", c.log); err != nil {
			return err
		}
	}
	if !c.maps && !c.isCSAD() {
		return errors.New("-maps=false applies to a .csad input only: an .onnx graph has the outputs it was exported with")
	}
	if c.fast && !c.isCSAD() {
		return errors.New("-fast applies to a .csad input only: export the .onnx graph with 'csad export -fast'")
	}
	return nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func dirExists(flagName, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("%s %s: the folder %s does not exist", flagName, path, dir)
	}
	return nil
}

func buildEngine(c config, stdout, stderr io.Writer) error {
	// Without TensorRT or a GPU there is nothing to do: say so before exporting the graph.
	rt, err := trt.Probe(c.device)
	if err != nil {
		return err
	}
	graph, model, err := loadGraph(c, stderr)
	if err != nil {
		return err
	}
	hw, err := trt.ParseHardwareCompatibility(c.hardware)
	if err != nil {
		return err
	}
	built, err := trt.Build(graph, trt.BuildOptions{
		MinBatch: c.minBatch, OptBatch: c.optBatch, MaxBatch: c.maxBatch, WorkspaceMiB: c.workspace,
		TimingCache: c.timingCache, FP16: c.fp16, TF32: c.tf32, VersionCompatible: c.versionCompatible,
		Hardware: hw, Device: c.device, Verbose: c.verbose, Model: model,
	})
	if err != nil {
		return err
	}
	if c.verbose {
		fmt.Fprint(stderr, built.Log)
	} else {
		fmt.Fprint(stderr, errorLines(built.Log))
	}
	if c.log != "" {
		if err := atomicfile.WriteFile(c.log, []byte(built.Log)); err != nil {
			return fmt.Errorf("-log: %w", err)
		}
	}
	if c.plan {
		err = built.WritePlan(c.out)
	} else {
		err = built.WriteFile(c.out)
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(c.out)
	if err != nil {
		return err
	}
	summary(stdout, c, built, rt, st.Size())
	return nil
}

// loadGraph returns the ONNX graph to build and what the engine header records of its model.
func loadGraph(c config, stderr io.Writer) ([]byte, *trt.ModelInfo, error) {
	if !c.isCSAD() {
		graph, err := os.ReadFile(c.in)
		if err != nil {
			return nil, nil, err
		}
		info, ok, err := trt.ModelInfoFromONNX(graph)
		if err != nil {
			return nil, nil, fmt.Errorf("-in %s: %w", c.in, err)
		}
		if !ok {
			fmt.Fprintf(stderr, "build-engine: warning: %s has no %q metadata (not from 'csad export'): the engine header records no model\n", c.in, csad.ONNXHeaderKey)
		}
		return graph, &info, nil
	}
	net, h, err := csad.LoadModel(c.in)
	if err != nil {
		return nil, nil, err
	}
	graph, err := csad.ExportONNX(net, h, csad.ExportOptions{FP16: c.fp16, Maps: c.maps, Fast: c.fast})
	net.Close() // the weights are in the graph now; TensorRT needs the memory more
	if err != nil {
		return nil, nil, fmt.Errorf("export %s to ONNX: %w", c.in, err)
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, nil, fmt.Errorf("-in %s: the model header: %w", c.in, err)
	}
	return graph, &trt.ModelInfo{Category: h.Category, Normalisers: h.Normalise, Header: hj}, nil
}

func summary(w io.Writer, c config, b *trt.Built, rt trt.Runtime, size int64) {
	h := b.Header
	kind := "engine"
	if c.plan {
		kind = "raw TensorRT plan (no csad header)"
	}
	fmt.Fprintf(w, "%s: %s of %.1f MiB, built in %s\n", c.out, kind, float64(size)/(1<<20), b.Duration.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  TensorRT %s on %s, CUDA runtime %d.%d\n", h.TensorRT, h.GPU, rt.CUDARuntime/1000, rt.CUDARuntime%1000/10)
	in := h.Inputs[0]
	fmt.Fprintf(w, "  profile: %s on %s %v\n", h.Profile, in.Name, in.Shape)
	prec := "FP32 (TF32 off)"
	if h.TF32 {
		prec = "FP32 with TF32"
	}
	if h.FP16 {
		prec = "FP16"
	}
	fmt.Fprintf(w, "  precision: %s; version-compatible: %v; hardware compatibility: %s\n", prec, h.VersionCompatible, h.Hardware)
	var outs []string
	for _, o := range h.Outputs {
		outs = append(outs, fmt.Sprintf("%s %s %v", o.Name, o.DType, o.Shape))
	}
	fmt.Fprintf(w, "  outputs: %s\n", strings.Join(outs, ", "))
	if h.Category != "" {
		fmt.Fprintf(w, "  model: category %s, %d normalisers\n", h.Category, len(h.Normalisers))
	}
}

// errorLines keeps the warnings and errors of a TensorRT log.
func errorLines(log string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(log, "\n") {
		if strings.HasPrefix(l, "W ") || strings.HasPrefix(l, "E ") || strings.HasPrefix(l, "F ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
