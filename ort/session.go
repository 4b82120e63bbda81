package ort

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// live counts the native objects this package holds, so that tests can prove every path frees
// what it made (RSS alone cannot see a leaked OrtValue header of a few hundred bytes).
var live struct{ sessions, values atomic.Int64 }

// Session is one compiled model. Run is safe for concurrent use; Close waits for the Runs in
// flight.
type Session struct {
	mu      sync.RWMutex // Run holds it shared, Close exclusively
	closed  bool
	sess    *onnxruntime.DynamicAdvancedSession
	inputs  []Info
	outputs []Info
	inDecl  []decl
	outDecl []decl
	meta    map[string]string
}

// NewSession compiles an in-memory .onnx model (calls Init). Corrupt/truncated bytes give a
// clear error. Intra-op threads are opts.Threads, inter-op threads 1 (one model runs its nodes in
// order), graph optimisation at the highest level.
func NewSession(model []byte, opts Options) (*Session, error) {
	if opts.Threads < 0 {
		return nil, fmt.Errorf("ort: Options.Threads is %d; use 0 for ONNX Runtime's default or a positive count", opts.Threads)
	}
	if len(model) == 0 {
		return nil, errors.New("ort: the model is empty (0 bytes); pass the contents of an .onnx file")
	}
	if err := Init(); err != nil {
		return nil, err
	}
	so, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: creating session options: %w", err)
	}
	defer func() { _ = so.Destroy() }() // ORT copies the options into the session
	if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
		return nil, fmt.Errorf("ort: setting %d intra-op threads: %w", opts.Threads, err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("ort: setting inter-op threads: %w", err)
	}
	if err := so.SetGraphOptimizationLevel(onnxruntime.GraphOptimizationLevelEnableAll); err != nil {
		return nil, fmt.Errorf("ort: setting the graph optimisation level: %w", err)
	}

	// Reading the infos needs a session; onnxruntime_go's helper builds a throwaway one,
	// so the model is compiled twice. That is the price of names-up-front in
	// DynamicAdvancedSession, paid once per model.
	ins, outs, err := onnxruntime.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, modelError(model, err)
	}
	s := &Session{}
	if s.inputs, err = convertInfos("input", ins); err != nil {
		return nil, err
	}
	if s.outputs, err = convertInfos("output", outs); err != nil {
		return nil, err
	}
	for _, o := range s.outputs {
		if o.DType == Float16 {
			// onnxruntime_go v1.27.0 copies an ORT-allocated tensor of a type without a Go
			// counterpart with one byte per element, so float16 outputs come back truncated.
			return nil, fmt.Errorf("ort: output %q is float16, which this package cannot return; "+
				"end the graph with a Cast to float32 (inputs may stay float16)", o.Name)
		}
	}
	if len(s.inputs) == 0 || len(s.outputs) == 0 {
		return nil, fmt.Errorf("ort: the model has %d inputs and %d outputs; it needs at least one of each",
			len(s.inputs), len(s.outputs))
	}
	s.inDecl, s.outDecl = symbolicDims(model, s.inputs, s.outputs)

	names := func(infos []Info) []string {
		n := make([]string, len(infos))
		for i, in := range infos {
			n[i] = in.Name
		}
		return n
	}
	s.sess, err = onnxruntime.NewDynamicAdvancedSessionWithONNXData(model, names(s.inputs), names(s.outputs), so)
	if err != nil {
		return nil, modelError(model, err)
	}
	live.sessions.Add(1)
	s.meta, err = readMetadata(s.sess)
	if err != nil {
		_ = s.sess.Destroy() // the metadata error is the one worth reporting
		live.sessions.Add(-1)
		return nil, err
	}
	return s, nil
}

func modelError(model []byte, err error) error {
	return fmt.Errorf("ort: ONNX Runtime cannot load the %d-byte model (truncated or not an .onnx file?): %w",
		len(model), err)
}

func convertInfos(kind string, infos []onnxruntime.InputOutputInfo) ([]Info, error) {
	out := make([]Info, len(infos))
	for i, in := range infos {
		if in.OrtValueType != onnxruntime.ONNXTypeTensor {
			return nil, fmt.Errorf("ort: %s %q is a %s; this package handles tensors only", kind, in.Name, in.OrtValueType)
		}
		var dt DType
		switch in.DataType {
		case onnxruntime.TensorElementDataTypeFloat:
			dt = Float32
		case onnxruntime.TensorElementDataTypeFloat16:
			dt = Float16
		case onnxruntime.TensorElementDataTypeInt32:
			dt = Int32
		case onnxruntime.TensorElementDataTypeInt64:
			dt = Int64
		default:
			return nil, fmt.Errorf("ort: %s %q has element type %s; this package handles float32, float16 (inputs), int32 and int64",
				kind, in.Name, in.DataType)
		}
		out[i] = Info{Name: in.Name, DType: dt, Shape: slices.Clone([]int64(in.Dimensions))}
	}
	return out, nil
}

func readMetadata(sess *onnxruntime.DynamicAdvancedSession) (map[string]string, error) {
	md, err := sess.GetModelMetadata()
	if err != nil {
		return nil, fmt.Errorf("ort: reading the model's metadata: %w", err)
	}
	defer func() { _ = md.Destroy() }()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		return nil, fmt.Errorf("ort: reading the model's metadata keys: %w", err)
	}
	meta := make(map[string]string, len(keys))
	for _, k := range keys {
		v, ok, err := md.LookupCustomMetadataMap(k)
		if err != nil {
			return nil, fmt.Errorf("ort: reading metadata %q: %w", k, err)
		}
		if ok {
			meta[k] = v
		}
	}
	return meta, nil
}

// Inputs lists the graph inputs in the model's order (a copy).
func (s *Session) Inputs() []Info { return cloneInfos(s.inputs) }

// Outputs lists the graph outputs in the model's order (a copy).
func (s *Session) Outputs() []Info { return cloneInfos(s.outputs) }

// Metadata is the model's metadata_props (custom metadata map), a copy.
func (s *Session) Metadata() map[string]string { return maps.Clone(s.meta) }

func cloneInfos(in []Info) []Info {
	out := make([]Info, len(in))
	for i, x := range in {
		out[i] = Info{Name: x.Name, DType: x.DType, Shape: slices.Clone(x.Shape)}
	}
	return out
}

// Run feeds the named inputs and returns every graph output by name. Inputs are checked against
// Inputs() (names, dtype, rank, fixed dims) before anything is allocated; errors name the
// expected and the given shape. Safe for concurrent use by many goroutines.
func (s *Session) Run(inputs map[string]Tensor) (map[string]Tensor, error) {
	if s == nil {
		return nil, ErrClosed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if err := s.validate(inputs); err != nil {
		return nil, err
	}

	in := make([]onnxruntime.Value, len(s.inputs))
	defer destroyAll(in)
	for i, info := range s.inputs {
		v, err := newValue(info, inputs[info.Name])
		if err != nil {
			return nil, err
		}
		in[i] = v
		live.values.Add(1)
	}
	// nil outputs are allocated by ONNX Runtime, whose shapes may depend on the input.
	out := make([]onnxruntime.Value, len(s.outputs))
	defer destroyAll(out)
	for i, info := range s.outputs {
		if s.outDecl[i].hasShape && len(info.Shape) == 0 {
			v, err := newScalarOutput(info)
			if err != nil {
				return nil, err
			}
			out[i] = v
			live.values.Add(1)
		}
	}
	prealloc := make([]bool, len(out))
	for i, v := range out {
		prealloc[i] = v != nil
	}
	err := s.sess.Run(in, out)
	for i, v := range out {
		if v != nil && !prealloc[i] {
			live.values.Add(1) // allocated by ONNX Runtime, copied to Go by onnxruntime_go
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ort: running the model: %w", err)
	}
	res := make(map[string]Tensor, len(out))
	for i, v := range out {
		t, err := toTensor(s.outputs[i], v)
		if err != nil {
			return nil, err
		}
		res[s.outputs[i].Name] = t
	}
	return res, nil
}

func destroyAll(vs []onnxruntime.Value) {
	for _, v := range vs {
		if v != nil {
			_ = v.Destroy() // Destroy only releases; it never fails for tensors
			live.values.Add(-1)
		}
	}
}

func (s *Session) validate(inputs map[string]Tensor) error {
	known := make(map[string]bool, len(s.inputs))
	for _, in := range s.inputs {
		known[in.Name] = true
	}
	var unknown []string
	for name := range inputs {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("ort: unknown input %s; the model's inputs are %s", quoteList(unknown), quoteList(s.inputNames()))
	}
	type binding struct {
		input string
		size  int64
	}
	var named map[string]binding // symbolic dim name -> first input that fixed it
	for i, info := range s.inputs {
		t, ok := inputs[info.Name]
		if !ok {
			return fmt.Errorf("ort: input %q is missing; the model's inputs are %s", info.Name, quoteList(s.inputNames()))
		}
		if err := checkTensor(info, s.inDecl[i], t); err != nil {
			return err
		}
		// One name is one size across all inputs ("batch" of the image and of its labels);
		// ONNX Runtime would fail later, and less clearly, in whichever node meets both.
		for axis, name := range s.inDecl[i].names {
			if name == "" || axis >= len(info.Shape) || info.Shape[axis] >= 0 {
				continue
			}
			if named == nil {
				named = map[string]binding{}
			}
			b, seen := named[name]
			if !seen {
				named[name] = binding{info.Name, t.Shape[axis]}
			} else if b.size != t.Shape[axis] {
				return fmt.Errorf("ort: input %q has shape %v, so %s is %d, but input %q has %s %d",
					info.Name, t.Shape, name, t.Shape[axis], b.input, name, b.size)
			}
		}
	}
	return nil
}

func (s *Session) inputNames() []string {
	n := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		n[i] = in.Name
	}
	return n
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// Close frees the session; idempotent; later Runs return ErrClosed. Waits for Runs in flight.
func (s *Session) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.sess.Destroy()
	s.sess = nil
	live.sessions.Add(-1)
	if err != nil {
		return fmt.Errorf("ort: freeing the session: %w", err)
	}
	return nil
}
