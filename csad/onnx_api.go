package csad

import "errors"

// ExportOptions choose what ExportONNX writes.
type ExportOptions struct {
	// Opset is the ONNX operator set (default 17, the newest Debian's onnx checker knows).
	Opset int
	// FP16 stores weights and computes in float16; the input and outputs stay float32 (Cast at
	// both ends), which is how TensorRT 11 takes FP16.
	FP16 bool
	// Maps adds the per-pixel outputs: anomaly_map (B,1,F,F) = local+global, segmentation
	// (B,S,S) int32, local_map and global_map (B,F,F).
	Maps bool
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

// ExportONNX writes net as a self-contained ONNX model (placeholder until the exporter lands).
func ExportONNX(net *Network, h Header, opts ExportOptions) ([]byte, error) {
	return nil, errors.New("csad: ONNX export is not implemented yet")
}
