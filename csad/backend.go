package csad

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/csad-go/csad/ort"
)

// Backend names the inference engine a Model runs on.
type Backend string

// The backends. Every one fills the same Result fields.
const (
	// BackendTorch runs the network through LibTorch: bit for bit the official PyTorch model
	// (the default).
	BackendTorch Backend = "torch"
	// BackendONNXRuntime runs the ONNX graph of the model (ExportONNX, made in memory from a
	// .csad file, or read from an .onnx file) through ONNX Runtime.
	BackendONNXRuntime Backend = "onnxruntime"
	// BackendTensorRT runs a TensorRT engine (Options.Engine) built by cmd/build-engine; it
	// needs a binary built with the tensorrt tag and an NVIDIA GPU.
	BackendTensorRT Backend = "tensorrt"
)

// Backends lists the accepted Backend names, for flags and messages.
var Backends = []Backend{BackendTorch, BackendONNXRuntime, BackendTensorRT}

// ParseBackend reads a backend name; "" is BackendTorch.
func ParseBackend(s string) (Backend, error) {
	if s == "" {
		return BackendTorch, nil
	}
	for _, b := range Backends {
		if string(b) == s {
			return b, nil
		}
	}
	names := make([]string, len(Backends))
	for i, b := range Backends {
		names[i] = string(b)
	}
	return "", fmt.Errorf("csad: unknown backend %q: want one of %s", s, strings.Join(names, ", "))
}

// hostOutputs are one forward pass's results in Go memory, as the ONNX graph with maps
// returns them.
type hostOutputs struct {
	score, lgst, patchHist []float32 // (B)
	local, global          []float32 // (B, F, F)
	labels                 []int32   // (B, S, S)
}

// runner is a backend other than LibTorch: it scores a preprocessed batch (B, 3, S, S) held in
// Go memory. Implementations are safe for concurrent use.
type runner interface {
	run(x []float32, batch int) (hostOutputs, error)
	close() error
}

// ortRunner scores through an ONNX Runtime session of the graph with maps.
type ortRunner struct {
	sess *ort.Session
	cfg  Config
}

func newORTRunner(graph []byte, cfg Config, opts Options) (*ortRunner, error) {
	sess, err := ort.NewSession(graph, ort.Options{Threads: opts.Threads})
	if err != nil {
		return nil, fmt.Errorf("csad: onnxruntime backend: %w", err)
	}
	r := &ortRunner{sess: sess, cfg: cfg}
	if err := r.checkSignature(); err != nil {
		sess.Close()
		return nil, err
	}
	return r, nil
}

// checkSignature makes sure the graph is one ExportONNX made with maps, so that run can read
// every output it needs.
func (r *ortRunner) checkSignature() error {
	have := map[string]bool{}
	for _, o := range r.sess.Outputs() {
		have[o.Name] = true
	}
	_, want := ONNXSignature(r.cfg, ExportOptions{Maps: true})
	for _, o := range want {
		if !have[o.Name] {
			return fmt.Errorf("csad: onnxruntime backend: the graph has no output %q: export it with 'csad export -maps'", o.Name)
		}
	}
	return nil
}

func (r *ortRunner) run(x []float32, batch int) (hostOutputs, error) {
	s := r.cfg.ImageSize
	out, err := r.sess.Run(map[string]ort.Tensor{ONNXInput: {Shape: []int64{int64(batch), 3, s, s}, Float32: x}})
	if err != nil {
		return hostOutputs{}, fmt.Errorf("csad: onnxruntime backend: %w", err)
	}
	f32 := map[string][]float32{}
	for name, o := range out {
		f32[name] = o.Float32
	}
	return hostFromOutputs(f32, out[ONNXSegmentation].Int32, batch, r.cfg, "onnxruntime")
}

// hostFromOutputs picks the graph's outputs by name and checks their sizes.
func hostFromOutputs(f32 map[string][]float32, labels []int32, batch int, cfg Config, backend string) (hostOutputs, error) {
	s, f := cfg.ImageSize, cfg.FeatureSize
	get := func(name string, per int64) ([]float32, error) {
		v := f32[name]
		if int64(len(v)) != int64(batch)*per {
			return nil, fmt.Errorf("csad: %s backend: output %q has %d float32 values, want %d", backend, name, len(v), int64(batch)*per)
		}
		return v, nil
	}
	var h hostOutputs
	var err error
	if h.score, err = get(ONNXScore, 1); err != nil {
		return h, err
	}
	if h.lgst, err = get(ONNXLGST, 1); err != nil {
		return h, err
	}
	if h.patchHist, err = get(ONNXPatchHist, 1); err != nil {
		return h, err
	}
	if h.local, err = get(ONNXLocalMap, f*f); err != nil {
		return h, err
	}
	if h.global, err = get(ONNXGlobalMap, f*f); err != nil {
		return h, err
	}
	h.labels = labels
	if int64(len(h.labels)) != int64(batch)*s*s {
		return h, fmt.Errorf("csad: %s backend: output %q has %d int32 values, want %d", backend, ONNXSegmentation, len(h.labels), int64(batch)*s*s)
	}
	return h, nil
}

func (r *ortRunner) close() error { return r.sess.Close() }

// isONNX tells an ONNX file from a .csad one by content: a .csad file is safetensors, whose
// 8-byte header length is followed by the JSON header's '{'.
func isONNX(data []byte) bool { return !(len(data) > 8 && data[8] == '{') }

// loadRunnerModel opens path for a backend other than LibTorch. A .csad file is loaded, exported
// to ONNX in memory and freed; an .onnx file carries its header in its metadata.
func loadRunnerModel(path string, opts Options) (runner, Header, error) {
	switch opts.Backend {
	case BackendONNXRuntime:
	case BackendTensorRT:
		return loadTensorRT(path, opts)
	default:
		return nil, Header{}, fmt.Errorf("csad: backend %q does not run ONNX graphs", opts.Backend)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Header{}, fmt.Errorf("csad: load model: %w", err)
	}
	if !isONNX(data) {
		data = nil
		net, h, err := LoadModel(path)
		if err != nil {
			return nil, Header{}, err
		}
		graph, err := ExportONNX(net, h, ExportOptions{Maps: true, Fast: opts.Fast})
		net.Close()
		if err != nil {
			return nil, Header{}, err
		}
		r, err := newORTRunner(graph, h.Config, opts)
		return r, h, err
	}
	if opts.Fast {
		return nil, Header{}, fmt.Errorf("csad: load model %s: Fast makes fast mode's graph from a .csad file; an .onnx file runs the graph it holds: export it with 'csad export -fast' and load it without Fast", path)
	}
	sess, err := ort.NewSession(data, ort.Options{Threads: opts.Threads})
	if err != nil {
		return nil, Header{}, fmt.Errorf("csad: load model %s: onnxruntime backend: %w", path, err)
	}
	h, err := headerOfONNX(sess.Metadata())
	if err != nil {
		sess.Close()
		return nil, Header{}, fmt.Errorf("csad: load model %s: %w", path, err)
	}
	r := &ortRunner{sess: sess, cfg: h.Config}
	if err := r.checkSignature(); err != nil {
		sess.Close()
		return nil, Header{}, fmt.Errorf("%w (loading %s)", err, path)
	}
	return r, h, nil
}

// headerOfONNX reads the .csad header that ExportONNX stores in the graph's metadata.
func headerOfONNX(meta map[string]string) (Header, error) {
	raw, ok := meta[ONNXHeaderKey]
	if !ok {
		return Header{}, fmt.Errorf("the ONNX graph has no %q metadata: export it from a .csad file with 'csad export'", ONNXHeaderKey)
	}
	var h Header
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		return Header{}, fmt.Errorf("%s metadata: %w", ONNXHeaderKey, err)
	}
	if err := h.Config.Validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// errNoTorchNetwork is returned by calls that need LibTorch's network on another backend.
var errNoTorchNetwork = errors.New("csad: this needs the torch backend (the model runs on another one)")
