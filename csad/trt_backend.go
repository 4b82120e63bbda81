package csad

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/csad-go/csad/trt"
)

// trtRunner scores through a TensorRT engine that cmd/build-engine built with the map outputs.
type trtRunner struct {
	eng *trt.Engine
	cfg Config
}

// loadTensorRT opens the engine of Options.Engine for the .csad model at path, whose header
// (threshold, sizes) the results need, and checks that the engine was built from that model.
func loadTensorRT(path string, opts Options) (runner, Header, error) {
	dev, err := cudaIndex(opts.Device)
	if err != nil {
		return nil, Header{}, err
	}
	h, err := ReadHeader(path)
	if err != nil {
		return nil, Header{}, err
	}
	eng, err := trt.Load(opts.Engine, trt.LoadOptions{Device: dev, Contexts: opts.inFlightLimit()})
	if err != nil {
		return nil, Header{}, fmt.Errorf("csad: tensorrt backend: %w", err)
	}
	r := &trtRunner{eng: eng, cfg: h.Config}
	if p := eng.Profile(); opts.GatherBatch > 1 && opts.GatherBatch > p.Max {
		eng.Close()
		return nil, Header{}, fmt.Errorf("csad: GatherBatch %d is above the engine's largest batch (%s): build the engine with -max-batch %d or gather fewer", opts.GatherBatch, p, opts.GatherBatch)
	}
	if err := r.check(h, path, opts.Engine); err != nil {
		eng.Close()
		return nil, Header{}, err
	}
	return r, h, nil
}

// cudaIndex reads the CUDA device of Options.Device: "", "cuda" or "cuda:N".
func cudaIndex(device string) (int, error) {
	switch {
	case device == "" || device == "cuda":
		return 0, nil
	case strings.HasPrefix(device, "cuda:"):
		n, err := strconv.Atoi(device[len("cuda:"):])
		if err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("csad: the tensorrt backend runs on a CUDA device: device %q is not cuda or cuda:N", device)
}

// check compares the engine's record of its model with the .csad header: an engine of another
// model would score with other normalisers and give wrong numbers silently.
func (r *trtRunner) check(h Header, path, engine string) error {
	eh := r.eng.Header()
	if eh.Category != "" && eh.Category != h.Category {
		return fmt.Errorf("csad: engine %s was built from a model of category %q, %s is %q: build the engine from this model (build-engine -in %s)", engine, eh.Category, path, h.Category, path)
	}
	for k, v := range eh.Normalisers {
		if w, ok := h.Normalise[k]; ok && math.Float64bits(w) != math.Float64bits(v) {
			return fmt.Errorf("csad: engine %s was built from another model than %s (normaliser %s %g, not %g): build the engine from this model (build-engine -in %s)", engine, path, k, v, w, path)
		}
	}
	have := map[string]bool{}
	for _, o := range r.eng.Outputs() {
		have[o.Name] = true
	}
	_, want := ONNXSignature(h.Config, ExportOptions{Maps: true})
	for _, o := range want {
		if !have[o.Name] {
			return fmt.Errorf("csad: engine %s has no output %q: build it with the map outputs (build-engine's default)", engine, o.Name)
		}
	}
	return nil
}

func (r *trtRunner) run(x []float32, batch int) (hostOutputs, error) {
	out, err := r.eng.Run(x, batch)
	if err != nil {
		return hostOutputs{}, fmt.Errorf("csad: tensorrt backend: %w", err)
	}
	f32 := map[string][]float32{}
	for name, o := range out {
		f32[name] = o.Float32
	}
	return hostFromOutputs(f32, out[ONNXSegmentation].Int32, batch, r.cfg, "tensorrt")
}

func (r *trtRunner) close() error { return r.eng.Close() }
