package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/triton"
	"github.com/csad-go/csad/trt"
)

func init() { rootCmd.AddCommand(newExportCmd()) }

// The opsets -opset accepts, those csad.ExportONNX writes: 17 is the newest that Debian's onnx
// checker knows; 13 is the first with every operator the graph needs in its current form.
const (
	minOpset     = 13
	maxOpset     = 17
	defaultOpset = csad.ONNXDefaultOpset
)

// defaultMaxBatch is Triton's max_batch_size unless -max-batch says otherwise: a paper-size
// batch of 8 needs about 1.8 GiB, which any serving GPU has.
const defaultMaxBatch = 8

type exportFlags struct {
	model, format, out, name, engine string
	opts                             csad.ExportOptions
	maxBatch                         int
	preferred                        []int
	queueDelay                       time.Duration
}

// defaultQueueDelay is how long Triton holds a request to gather a batch: a tenth of a
// millisecond costs nothing next to a forward pass and lets cameras that fire together share
// one.
const defaultQueueDelay = 100 * time.Microsecond

// preferredBatches are the powers of two from 2 up to max, and max itself: the sizes Triton's
// dynamic batcher tries to form.
func preferredBatches(max int) []int {
	var p []int
	for b := 2; b < max; b *= 2 {
		p = append(p, b)
	}
	return append(p, max)
}

func newExportCmd() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export -model MODEL.csad [-format onnx|triton] -out PATH",
		Short: "Export a .csad model as ONNX or as a Triton Inference Server model",
		Long: `Export a .csad model for serving.

-format onnx (the default) writes one self-contained .onnx file (-out, default MODEL.onnx beside
the model): input "input" (batch,3,S,S) float32, normalised as for 'csad score', with a dynamic
batch axis; outputs "score", "lgst" and "patch_hist" (batch,) float32, and with -maps also
"anomaly_map" (batch,1,F,F), "segmentation" (batch,S,S) int32, "local_map" and "global_map"
(batch,F,F). The .csad header is kept in the model's metadata ("csad.header"). -fp16 stores
the weights and computes in float16; input and outputs stay float32. -fast writes fast mode's
graph: BatchNorm folded into the convolutions, the teacher projected before it is resized and
pooled, 1×1 convolutions for the ASPP taps that read only padding, no resizes to a map's own
size (about 5 GFLOP less an image at the paper's sizes; results within float32 rounding of
the plain graph's, docs/onnx.md).

-format triton writes a Triton model repository (-out, the repository folder):
OUT/NAME/config.pbtxt and OUT/NAME/1/model.onnx, served by ONNX Runtime. -maps is on by
default here (-maps=false turns it off), so clients can ask for every output.

With -engine FILE, a TensorRT engine built from this model's ONNX export, the model is
OUT/NAME/1/model.plan on platform tensorrt_plan instead. A csad engine file ('csad
build-engine') is checked against the model and its header stripped; its outputs and batch
profile set the configuration (-max-batch defaults to the profile's largest batch and may not
exceed it). A raw plan ('csad build-engine -plan') carries no description: -maps must then say
whether it has the map outputs, and -max-batch must not exceed its profile.

NAME is -name, by default the model's category with every character other than letters,
digits, '_', '.' and '-' made '_'. Re-exporting replaces version 1 as a whole (a new folder
swapped in by one rename), so a Triton polling the repository never loads half a model; other
versions and files are kept.

Every file is written to a temporary sibling and renamed into place.`,
		Example: `  csad export -model breakfast_box.csad -out breakfast_box.onnx
  csad export -model breakfast_box.csad -format triton -out model_repository -max-batch 16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			net, h, err := csad.LoadModel(f.model)
			if err != nil {
				return err
			}
			defer net.Close()
			if f.format == "onnx" {
				return exportONNX(cmd, f, net, h)
			}
			return exportTriton(cmd, f, net, h)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model file (.csad; make one with 'csad train' or 'csad import')")
	fl.StringVar(&f.format, "format", "onnx", "onnx (one .onnx file) or triton (a Triton model repository)")
	fl.StringVar(&f.out, "out", "", "the .onnx file (default: MODEL.onnx beside the model), or the repository folder for -format triton")
	fl.IntVar(&f.opts.Opset, "opset", defaultOpset, fmt.Sprintf("ONNX operator set, %d..%d", minOpset, maxOpset))
	fl.BoolVar(&f.opts.FP16, "fp16", false, "float16 weights and arithmetic (input and outputs stay float32)")
	fl.BoolVar(&f.opts.Fast, "fast", false, "fast mode's graph: folded BatchNorm, the teacher projected before resizing, fewer taps and resizes (docs/onnx.md)")
	fl.BoolVar(&f.opts.Maps, "maps", false, "add the anomaly_map, segmentation, local_map and global_map outputs (default: off for onnx, on for triton)")
	fl.StringVar(&f.name, "name", "", "Triton model name (default: the model's category, sanitised)")
	fl.IntVar(&f.maxBatch, "max-batch", defaultMaxBatch, fmt.Sprintf("Triton max_batch_size, 1..%d", maxBatch))
	fl.IntSliceVar(&f.preferred, "preferred-batch", nil, "Triton dynamic batching: preferred batch sizes, ascending, each ≤ -max-batch (default: 2, 4, … up to -max-batch)")
	fl.DurationVar(&f.queueDelay, "queue-delay", defaultQueueDelay, "Triton dynamic batching: longest wait to gather a batch (max_queue_delay_microseconds)")
	fl.StringVar(&f.engine, "engine", "", "serve this TensorRT engine (a csad .engine file or a raw plan) instead of ONNX; -format triton only")
	return cmd
}

// check validates the flags before anything is loaded, and fills in the defaults that depend
// on -format.
func (f *exportFlags) check(cmd *cobra.Command) error {
	changed := cmd.Flags().Changed
	if f.format != "onnx" && f.format != "triton" {
		return fmt.Errorf("export: -format %q: want onnx or triton", f.format)
	}
	if f.model == "" {
		return errors.New("export: -model is required")
	}
	if f.opts.Opset < minOpset || f.opts.Opset > maxOpset {
		return fmt.Errorf("export: -opset %d is out of range: want %d..%d", f.opts.Opset, minOpset, maxOpset)
	}
	if f.format == "onnx" {
		for _, name := range []string{"name", "max-batch", "engine", "preferred-batch", "queue-delay"} {
			if changed(name) {
				return fmt.Errorf("export: -%s is for -format triton", name)
			}
		}
		if f.out == "" {
			f.out = strings.TrimSuffix(f.model, filepath.Ext(f.model)) + ".onnx"
		}
		if st, err := os.Stat(f.out); err == nil && st.IsDir() {
			return fmt.Errorf("export: -out %s is a folder; give the .onnx file to write", f.out)
		}
		return nil
	}
	if f.out == "" {
		return errors.New("export: -format triton needs -out REPOSITORY (the folder tritonserver --model-repository reads)")
	}
	if st, err := os.Stat(f.out); err == nil && !st.IsDir() {
		return fmt.Errorf("export: -out %s is a file; give the model repository's folder", f.out)
	}
	if f.maxBatch < 1 || f.maxBatch > maxBatch {
		return fmt.Errorf("export: -max-batch %d is out of range: want 1..%d images per batch (the model has a batch axis, so Triton's 0, no batching, does not apply)", f.maxBatch, maxBatch)
	}
	if f.queueDelay < 0 || f.queueDelay%time.Microsecond != 0 {
		return fmt.Errorf("export: -queue-delay %v: want whole microseconds, ≥ 0", f.queueDelay)
	}
	if f.name != "" {
		// The error names the name and the rule; it is printed as "csad: triton: ...".
		if err := triton.CheckName(f.name); err != nil {
			return err
		}
	}
	if f.engine != "" {
		// The engine is already compiled: its opset and precision were fixed when it was built.
		for _, name := range []string{"opset", "fp16", "fast"} {
			if changed(name) {
				return fmt.Errorf("export: -%s does not apply to -engine (the engine is already built)", name)
			}
		}
	}
	if !changed("maps") {
		f.opts.Maps = true
	}
	return nil
}

func exportONNX(cmd *cobra.Command, f exportFlags, net *csad.Network, h csad.Header) error {
	data, err := csad.ExportONNX(net, h, f.opts)
	if err != nil {
		return err
	}
	if err := interrupted(cmd); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(f.out, data); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, opset %d, %s, maps %s\n",
		f.out, mib(len(data)), f.opts.Opset, precision(f.opts), onOff(f.opts.Maps))
	return nil
}

func exportTriton(cmd *cobra.Command, f exportFlags, net *csad.Network, h csad.Header) error {
	ins, outs := csad.ONNXSignature(h.Config, f.opts)
	m := triton.Model{
		Name:       f.name,
		Platform:   triton.PlatformONNX,
		MaxBatch:   f.maxBatch,
		Inputs:     tensors(ins),
		Outputs:    tensors(outs),
		QueueDelay: f.queueDelay,
	}
	if m.Name == "" {
		m.Name = triton.SanitizeName(h.Category)
	}
	what := ""
	if f.engine != "" {
		if err := engineModel(cmd, &f, &m); err != nil {
			return err
		}
		what = "TensorRT engine " + f.engine
	} else {
		data, err := csad.ExportONNX(net, h, f.opts)
		if err != nil {
			return err
		}
		m.Data = data
		what = fmt.Sprintf("opset %d, %s", f.opts.Opset, precision(f.opts))
	}
	m.PreferredBatch = f.preferred
	if len(m.PreferredBatch) == 0 {
		m.PreferredBatch = preferredBatches(m.MaxBatch)
	}
	if err := interrupted(cmd); err != nil {
		return err
	}
	if err := triton.Write(f.out, m); err != nil {
		return err
	}
	file := "model.onnx"
	if m.Platform == triton.PlatformTensorRT {
		file = "model.plan"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s/%s %s, %s, maps %s, max batch %d\n",
		filepath.Join(f.out, m.Name), triton.Version, file, mib(len(m.Data)), what, onOff(f.opts.Maps), m.MaxBatch)
	return nil
}

// engineModel makes m serve the engine of -engine. A csad engine file's header is stripped,
// and it says what the plan holds: its outputs become the configuration's (so -maps need not
// be given), its input must be the model's, and its batch profile bounds -max-batch (and is the
// default). A raw plan says nothing, so -maps and -max-batch are taken as
// given.
func engineModel(cmd *cobra.Command, f *exportFlags, m *triton.Model) error {
	data, err := os.ReadFile(f.engine)
	if err != nil {
		return fmt.Errorf("export: -engine: %w", err)
	}
	m.Platform, m.Data = triton.PlatformTensorRT, data
	if !bytes.HasPrefix(data, []byte(trt.Magic)) {
		return nil
	}
	eh, plan, err := trt.DecodeEngine(data)
	if err != nil {
		return fmt.Errorf("%w (reading -engine %s)", err, f.engine)
	}
	m.Data = plan
	in, err := engineTensor(eh.Inputs[0], f.engine)
	if err != nil {
		return err
	}
	if !slices.Equal(in.Dims, m.Inputs[0].Dims) || in.Name != m.Inputs[0].Name {
		return fmt.Errorf("export: -engine %s takes %s %v, the model %s %v per image: it was built from another model; rebuild it from this model's ONNX export",
			f.engine, in.Name, in.Dims, m.Inputs[0].Name, m.Inputs[0].Dims)
	}
	m.Outputs = m.Outputs[:0]
	maps := false
	for _, o := range eh.Outputs {
		t, err := engineTensor(o, f.engine)
		if err != nil {
			return err
		}
		m.Outputs = append(m.Outputs, t)
		maps = maps || t.Name == csad.ONNXAnomalyMap
	}
	if cmd.Flags().Changed("maps") && f.opts.Maps != maps {
		return fmt.Errorf("export: -maps=%v, but -engine %s was built %s the map outputs; leave -maps out, it is read from the engine",
			f.opts.Maps, f.engine, map[bool]string{true: "with", false: "without"}[maps])
	}
	f.opts.Maps = maps
	switch {
	case !cmd.Flags().Changed("max-batch"):
		m.MaxBatch = min(eh.Profile.Max, maxBatch)
	case m.MaxBatch > eh.Profile.Max:
		return fmt.Errorf("export: -max-batch %d: -engine %s runs batches of at most %d (its profile: %s); give -max-batch %d or less, or rebuild the engine",
			m.MaxBatch, f.engine, eh.Profile.Max, eh.Profile, eh.Profile.Max)
	}
	return nil
}

// engineTensor converts an engine header's tensor (batch axis first, -1) to Triton's form.
func engineTensor(t trt.TensorInfo, engine string) (triton.Tensor, error) {
	if len(t.Shape) == 0 || t.Shape[0] != -1 {
		return triton.Tensor{}, fmt.Errorf("export: -engine %s: tensor %q has shape %v, without the dynamic batch axis Triton batches along: rebuild it with build-engine",
			engine, t.Name, t.Shape)
	}
	return triton.Tensor{Name: t.Name, DType: t.DType, Dims: slices.Clone(t.Shape[1:])}, nil
}

func tensors(ts []csad.ONNXTensor) []triton.Tensor {
	out := make([]triton.Tensor, len(ts))
	for i, t := range ts {
		out[i] = triton.Tensor(t)
	}
	return out
}

func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func precision(o csad.ExportOptions) string {
	p := "fp32"
	if o.FP16 {
		p = "fp16"
	}
	if o.Fast {
		p += ", fast graph"
	}
	return p
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
