package csad

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/csad-go/csad/onnx"
)

// ExportOptions choose what ExportONNX writes.
type ExportOptions struct {
	// Opset is the ONNX operator set, 13..17 (0 means 17, the newest Debian's onnx checker knows).
	Opset int
	// FP16 stores the convolutional trunks' weights in float16 and runs them in float16 (the
	// input is cast after `input`); the statistics (map normalisation, histograms, Mahalanobis
	// distances with Σ⁺, z-scores) stay float32, and so do the outputs. Accuracy: docs/onnx.md.
	FP16 bool
	// Maps adds the per-pixel outputs: anomaly_map (B,1,F,F) = local+global, segmentation
	// (B,S,S) int32, local_map and global_map (B,F,F).
	Maps bool
	// Fast writes fast mode's graph (Options.Fast): BatchNorm folded into the convolutions in
	// float64, the teacher's projection before its resizing and pooling with its normalisation
	// folded in, the ASPP's convolutions that read only padding beyond their centre tap as 1×1,
	// and resizes to a map's own size left out. The same function with less arithmetic (about
	// 5 GFLOP less an image at the paper's sizes), rounded otherwise: docs/onnx.md.
	Fast bool
}

// ONNXTensor describes one graph input or output; Dims exclude the dynamic batch axis.
type ONNXTensor struct {
	Name  string
	DType string // "float32" or "int32"
	Dims  []int64
}

// ONNX graph names.
const (
	ONNXInput        = "input"
	ONNXScore        = "score"
	ONNXLGST         = "lgst"
	ONNXPatchHist    = "patch_hist"
	ONNXAnomalyMap   = "anomaly_map"
	ONNXSegmentation = "segmentation"
	ONNXLocalMap     = "local_map"
	ONNXGlobalMap    = "global_map"
	// ONNXHeaderKey is the metadata_props key holding the .csad header as JSON.
	ONNXHeaderKey = "csad.header"
	// ONNXCategoryKey is the metadata_props key holding the header's category.
	ONNXCategoryKey = "csad.category"
	// ONNXBatchDim names the dynamic batch axis (dim_param) of the input and every output.
	ONNXBatchDim = batchDim
	// ONNXDefaultOpset is the operator set of ExportOptions.Opset 0.
	ONNXDefaultOpset = 17
)

// ONNXSignature lists the graph's input and outputs for cfg and opts, in graph order.
func ONNXSignature(cfg Config, opts ExportOptions) (inputs, outputs []ONNXTensor) {
	s, f := cfg.ImageSize, cfg.FeatureSize
	inputs = []ONNXTensor{{ONNXInput, "float32", []int64{3, s, s}}}
	outputs = []ONNXTensor{{ONNXScore, "float32", nil}, {ONNXLGST, "float32", nil}, {ONNXPatchHist, "float32", nil}}
	if opts.Maps {
		outputs = append(outputs,
			ONNXTensor{ONNXAnomalyMap, "float32", []int64{1, f, f}},
			ONNXTensor{ONNXSegmentation, "int32", []int64{s, s}},
			ONNXTensor{ONNXLocalMap, "float32", []int64{f, f}},
			ONNXTensor{ONNXGlobalMap, "float32", []int64{f, f}})
	}
	return inputs, outputs
}

// ExportONNX writes net as a self-contained ONNX model: every weight and statistic is an
// initializer, the graph is Network.Forward operator for operator (docs/onnx.md), batched along
// a dynamic axis "batch" with every sample scored on its own (unlike the official export, whose
// patch-histogram term is sample 0's for the whole batch). metadata_props hold the header as JSON
// (ONNXHeaderKey) and its category (ONNXCategoryKey). h.Config, when set, must be net's config.
// The bytes are deterministic: the same network, header and options give the same file.
func ExportONNX(net *Network, h Header, opts ExportOptions) ([]byte, error) {
	if net == nil {
		return nil, fmt.Errorf("csad: export onnx: nil network")
	}
	if net.fastOnly {
		return nil, fmt.Errorf("csad: export onnx: %w", errFastOnly)
	}
	opset := int64(opts.Opset)
	if opset == 0 {
		opset = ONNXDefaultOpset
	}
	if err := onnx.CheckOpset(opset); err != nil {
		return nil, fmt.Errorf("csad: export onnx: opset %d is not supported: use 13..17 (ONNX 1.8 to 1.12; 17 is the default): %w", opset, err)
	}
	cfg := net.Config()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("csad: export onnx: %w", err)
	}
	if reflect.DeepEqual(h.Config, Config{}) {
		h.Config = cfg
	} else if d := h.Config.mismatches(cfg); len(d) > 0 {
		return nil, fmt.Errorf("csad: export onnx: the header's config does not match the network's (%v): pass the header the network was loaded with", d)
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("csad: export onnx: header: %w", err)
	}
	e := &exporter{g: onnx.NewGraph("csad"), trunk: onnx.Float32, fast: opts.Fast}
	if opts.FP16 {
		e.trunk = onnx.Float16
	}
	e.export(net, opts)
	if e.err != nil {
		return nil, e.err
	}
	precision := "float32"
	if opts.FP16 {
		precision = "float16 trunks, float32 statistics"
	}
	if opts.Fast {
		precision += ", fast mode's graph"
	}
	_, outs := ONNXSignature(cfg, opts)
	names := make([]string, len(outs))
	for i, o := range outs {
		names[i] = o.Name
	}
	data, err := e.g.Marshal(onnx.ModelInfo{
		Opset:    opset,
		Producer: "csad-go",
		Doc: fmt.Sprintf("CSAD unified anomaly scorer (category %q, %d classes, %d px, %s), exported by csad-go. "+
			"Input %q (batch, 3, %d, %d) float32: RGB resized to %d×%d, ImageNet-normalised. Outputs %v; "+
			"a higher score is more anomalous. Metadata %q holds the model header as JSON.",
			h.Category, cfg.Segmentor.Classes, cfg.ImageSize, precision, ONNXInput, cfg.ImageSize, cfg.ImageSize,
			cfg.ImageSize, cfg.ImageSize, names, ONNXHeaderKey),
		Metadata: map[string]string{ONNXHeaderKey: string(hj), ONNXCategoryKey: h.Category},
	})
	if err != nil {
		return nil, fmt.Errorf("csad: export onnx: %w", err)
	}
	return data, nil
}
