//go:build !tensorrt

package trt

// Enabled reports whether this binary was built with the tensorrt tag, that is with TensorRT.
const Enabled = false

// Build parses an ONNX model and builds a TensorRT engine on a GPU (needs the tensorrt tag).
func Build(onnx []byte, opts BuildOptions) (*Built, error) { return nil, notBuilt("build") }

// Load opens an engine file written by Built.WriteFile (needs the tensorrt tag).
func Load(path string, opts LoadOptions) (*Engine, error) { return nil, notBuilt("load " + path) }

// LoadBytes opens an engine file's contents (needs the tensorrt tag).
func LoadBytes(data []byte, opts LoadOptions) (*Engine, error) { return nil, notBuilt("load") }

// Probe reports the TensorRT library and the CUDA device (needs the tensorrt tag).
func Probe(device int) (Runtime, error) { return Runtime{}, notBuilt("probe") }

// Engine is a deserialized TensorRT engine. Without the tensorrt tag none can be made; the
// methods exist so that code using them compiles either way.
type Engine struct{ _ [0]func() }

// Header returns the engine file's header.
func (e *Engine) Header() Header { return Header{} }

// Inputs lists the engine's inputs.
func (e *Engine) Inputs() []TensorInfo { return nil }

// Outputs lists the engine's outputs.
func (e *Engine) Outputs() []TensorInfo { return nil }

// Profile returns the engine's batch profile.
func (e *Engine) Profile() Profile { return Profile{} }

// Log returns what TensorRT logged while loading the engine.
func (e *Engine) Log() string { return "" }

// NewContext makes an execution context (needs the tensorrt tag).
func (e *Engine) NewContext() (*Context, error) { return nil, notBuilt("new context") }

// Run scores a batch on a pooled context (needs the tensorrt tag).
func (e *Engine) Run(input []float32, batch int) (map[string]Output, error) {
	return nil, notBuilt("run")
}

// Close releases the engine; without the tensorrt tag there is nothing to release.
func (e *Engine) Close() error { return nil }

// Context is an execution context of an Engine (needs the tensorrt tag).
type Context struct{ _ [0]func() }

// Run scores a batch (needs the tensorrt tag).
func (c *Context) Run(input []float32, batch int) (map[string]Output, error) {
	return nil, notBuilt("run")
}

// Close releases the context; without the tensorrt tag there is nothing to release.
func (c *Context) Close() error { return nil }
