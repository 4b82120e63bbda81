package trt

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/internal/onnxpb"
)

// DefaultInput is the graph input the batch profile applies to: csad.ONNXInput.
const DefaultInput = "input"

// MaxWorkspaceMiB bounds BuildOptions.WorkspaceMiB (1 TiB).
const MaxWorkspaceMiB = 1 << 20

// MaxTimingCacheBytes bounds the timing cache file that Build reads.
const MaxTimingCacheBytes = 1 << 30

// BuildOptions choose how Build makes an engine.
type BuildOptions struct {
	// MinBatch, OptBatch and MaxBatch are the batch profile: the engine runs batches from
	// MinBatch to MaxBatch and is tuned for OptBatch. Zero values mean MinBatch 1, OptBatch
	// MinBatch, MaxBatch the larger of the two.
	MinBatch, OptBatch, MaxBatch int
	// WorkspaceMiB limits TensorRT's scratch memory (the kWORKSPACE pool); 0 leaves
	// TensorRT's default, the device's memory.
	WorkspaceMiB int64
	// TimingCache is a file of kernel timings: read when it exists, extended by the build and
	// written back atomically, so that rebuilds on the same GPU and TensorRT are faster.
	TimingCache string
	// FP16 allows half precision. TensorRT 11 takes precision from the graph's types only, so
	// there FP16 needs a graph exported with csad.ExportOptions{FP16: true}; on TensorRT 10 it
	// also sets the builder's FP16 flag. A graph with FP16 types turns it on by itself.
	FP16 bool
	// TF32 allows TensorFloat-32 in float32 convolutions and matrix products. Off by default,
	// so that FP32 engines match the LibTorch backend.
	TF32 bool
	// VersionCompatible builds an engine that later TensorRT versions of the same major
	// version also run (kVERSION_COMPATIBLE; it carries its own lean runtime, which Load
	// allows to run).
	VersionCompatible bool
	// Hardware is the hardware compatibility level ("" is HardwareNone).
	Hardware HardwareCompatibility
	// Device is the CUDA device to build on (and time kernels on).
	Device int
	// Verbose collects TensorRT's verbose messages into Built.Log, not just info and above.
	Verbose bool
	// Input names the graph input of the batch profile ("" is DefaultInput).
	Input string
	// Model describes the .csad model the graph comes from, for the engine header. Nil reads
	// it from the graph's metadata_props ("csad.header", as csad.ExportONNX writes it).
	Model *ModelInfo
}

// normalize fills the defaults and checks every field before anything is loaded or built.
func (o BuildOptions) normalize() (BuildOptions, error) {
	if o.MinBatch == 0 {
		o.MinBatch = 1
	}
	if o.OptBatch == 0 {
		o.OptBatch = o.MinBatch
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = max(o.MinBatch, o.OptBatch)
	}
	if err := (Profile{o.MinBatch, o.OptBatch, o.MaxBatch}).check(); err != nil {
		return o, fmt.Errorf("trt: build: %w", err)
	}
	if o.WorkspaceMiB < 0 || o.WorkspaceMiB > MaxWorkspaceMiB {
		return o, fmt.Errorf("trt: build: workspace %d MiB is outside [0, %d] (0: TensorRT's default)", o.WorkspaceMiB, MaxWorkspaceMiB)
	}
	h, err := ParseHardwareCompatibility(string(o.Hardware))
	if err != nil {
		return o, err
	}
	o.Hardware = h
	if o.Device < 0 {
		return o, fmt.Errorf("trt: build: device %d: CUDA devices are numbered from 0", o.Device)
	}
	if o.Input == "" {
		o.Input = DefaultInput
	}
	return o, nil
}

// LoadOptions choose how Load opens an engine.
type LoadOptions struct {
	// Device is the CUDA device to run on.
	Device int
	// Contexts bounds the execution contexts that Engine.Run keeps for concurrent callers
	// (each holds its own activation memory and buffers); 0 means 1. Contexts made with
	// NewContext do not count.
	Contexts int
}

func (o LoadOptions) normalize() (LoadOptions, error) {
	if o.Device < 0 {
		return o, fmt.Errorf("trt: load: device %d: CUDA devices are numbered from 0", o.Device)
	}
	if o.Contexts < 0 || o.Contexts > 1024 {
		return o, fmt.Errorf("trt: load: %d contexts is outside [0, 1024] (0: one)", o.Contexts)
	}
	if o.Contexts == 0 {
		o.Contexts = 1
	}
	return o, nil
}

// Output is one output of a run, in Go memory: Float32 or Int32 holds it, by its type.
type Output struct {
	Shape   []int64
	Float32 []float32
	Int32   []int32
}

// ModelInfo is what an engine header records of the .csad model its graph was exported from.
type ModelInfo struct {
	Category    string
	Normalisers map[string]float64
	Header      json.RawMessage // the whole .csad header (csad.Header as JSON)
}

// The metadata_props keys csad.ExportONNX writes (csad.ONNXHeaderKey and the category).
const (
	onnxHeaderKey   = "csad.header"
	onnxCategoryKey = "csad.category"
)

// graphInfo is what Build reads from the ONNX model before TensorRT sees it.
type graphInfo struct {
	model    ModelInfo
	hasModel bool
	fp16     bool // float16 initializers or casts: an FP16 export
}

// ModelInfoFromONNX reads the .csad header that csad.ExportONNX stores in an ONNX model's
// metadata_props. ok is false when the model has none (a graph from elsewhere).
func ModelInfoFromONNX(model []byte) (info ModelInfo, ok bool, err error) {
	g, err := inspectONNX(model)
	return g.model, g.hasModel, err
}

func inspectONNX(model []byte) (graphInfo, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(model, &m); err != nil {
		return graphInfo{}, fmt.Errorf("trt: not an ONNX model (%v): export one with 'csad export' or give build-engine the .csad file", err)
	}
	if m.GetGraph() == nil {
		return graphInfo{}, fmt.Errorf("trt: the ONNX model has no graph: export one with 'csad export' or give build-engine the .csad file")
	}
	var g graphInfo
	meta := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	if raw, ok := meta[onnxHeaderKey]; ok {
		var h struct {
			Category    string             `json:"category"`
			Normalisers map[string]float64 `json:"normalisers"`
		}
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			return graphInfo{}, fmt.Errorf("trt: the ONNX model's %q metadata is not a csad header (%v): re-export it with 'csad export'", onnxHeaderKey, err)
		}
		g.model = ModelInfo{Category: h.Category, Normalisers: h.Normalisers, Header: json.RawMessage(raw)}
		g.hasModel = true
	}
	if c, ok := meta[onnxCategoryKey]; ok && g.model.Category == "" {
		g.model.Category = c
		g.hasModel = true
	}
	for _, t := range m.GetGraph().GetInitializer() {
		if t.GetDataType() == int32(onnxpb.TensorProto_FLOAT16) {
			g.fp16 = true
		}
	}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() != "Cast" {
			continue
		}
		for _, a := range n.GetAttribute() {
			if a.GetName() == "to" && a.GetI() == int64(onnxpb.TensorProto_FLOAT16) {
				g.fp16 = true
			}
		}
	}
	return g, nil
}

// Built is an engine that Build made, not yet written anywhere.
type Built struct {
	Header   Header
	Plan     []byte        // TensorRT's serialized plan
	Log      string        // what TensorRT logged while parsing and building
	Duration time.Duration // of the build itself (parse, optimise, serialize)
}

// WriteFile writes the engine file (our header, then the plan) atomically.
func (b *Built) WriteFile(path string) error {
	err := atomicfile.Write(path, func(w io.Writer) error { return EncodeEngine(w, b.Header, b.Plan) })
	if err != nil {
		return fmt.Errorf("trt: write engine %s: %w", path, err)
	}
	return nil
}

// WritePlan writes TensorRT's raw plan without our header, as Triton's tensorrt_plan backend
// reads it, atomically. Load refuses such files: nothing in them says what built them.
func (b *Built) WritePlan(path string) error {
	if len(b.Plan) == 0 {
		return fmt.Errorf("trt: write plan %s: the plan is empty", path)
	}
	if err := atomicfile.WriteFile(path, b.Plan); err != nil {
		return fmt.Errorf("trt: write plan %s: %w", path, err)
	}
	return nil
}
