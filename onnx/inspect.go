package onnx

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/csad-go/csad/internal/onnxpb"
)

// Value describes a graph input or output.
type Value struct {
	Name  string
	DType DType
	Shape Shape
}

// Info is what Inspect reads from a model.
type Info struct {
	IRVersion                 int64
	Opsets                    map[string]int64 // domain ("" is the default ONNX domain) → version
	Producer, ProducerVersion string
	Doc                       string
	GraphName                 string
	Inputs, Outputs           []Value
	Metadata                  map[string]string
	Nodes, Initializers       int
	Ops                       map[string]int // op type → node count
}

// Opset is the default-domain operator set.
func (i *Info) Opset() int64 { return i.Opsets[""] }

// ErrInvalid is wrapped by every Inspect error about the bytes themselves.
var ErrInvalid = errors.New("not a valid ONNX model")

// Inspect parses an ONNX model and checks what a file cut short or damaged would break: the
// protobuf encoding, an opset import and an IR version, a graph with outputs, initializer data
// that fills each initializer's shape, and every node input defined before it is read. It does
// not check operator semantics (onnx.checker does; see testdata/check_onnx.py).
func Inspect(data []byte) (*Info, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("onnx: %w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	if len(data) == 0 {
		return nil, bad("the data is empty")
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, bad("%d bytes do not decode (truncated or corrupt file?): %v", len(data), err)
	}
	g := m.GetGraph()
	switch {
	case m.IrVersion == nil:
		return nil, bad("no IR version (truncated file, or not an ONNX model)")
	case g == nil:
		return nil, bad("no graph (truncated file, or not an ONNX model)")
	case len(m.GetOpsetImport()) == 0:
		// Marshal writes opset_import after the graph: a file cut right after it lacks it.
		return nil, bad("no opset import (truncated file?)")
	case len(g.GetOutput()) == 0:
		return nil, bad("graph %q has no outputs (truncated file?)", g.GetName())
	}
	info := &Info{
		IRVersion: m.GetIrVersion(), Opsets: map[string]int64{},
		Producer: m.GetProducerName(), ProducerVersion: m.GetProducerVersion(), Doc: m.GetDocString(),
		GraphName: g.GetName(), Metadata: map[string]string{}, Ops: map[string]int{},
		Nodes: len(g.GetNode()), Initializers: len(g.GetInitializer()),
	}
	for _, o := range m.GetOpsetImport() {
		info.Opsets[o.GetDomain()] = o.GetVersion()
	}
	for _, p := range m.GetMetadataProps() {
		info.Metadata[p.GetKey()] = p.GetValue()
	}
	defined := map[string]bool{}
	for _, t := range g.GetInitializer() {
		if err := checkInitializer(t); err != nil {
			return nil, bad("%v", err)
		}
		defined[t.GetName()] = true
	}
	for _, v := range g.GetInput() {
		info.Inputs = append(info.Inputs, readValue(v))
		defined[v.GetName()] = true
	}
	for i, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if in != "" && !defined[in] {
				return nil, bad("node %d (%s %q) reads %q, which no earlier node, input or initializer defines", i, n.GetOpType(), n.GetName(), in)
			}
		}
		for _, out := range n.GetOutput() {
			defined[out] = true
		}
		info.Ops[n.GetOpType()]++
	}
	for _, v := range g.GetOutput() {
		if !defined[v.GetName()] {
			return nil, bad("graph output %q is not produced by any node (truncated file?)", v.GetName())
		}
		info.Outputs = append(info.Outputs, readValue(v))
	}
	return info, nil
}

func checkInitializer(t *onnxpb.TensorProto) error {
	dt := DType(t.GetDataType())
	n, ok := numel(t.GetDims())
	if !ok {
		return fmt.Errorf("initializer %q has bad dimensions %v", t.GetName(), t.GetDims())
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil // data in another file, which Inspect does not see
	}
	var have int64
	switch {
	case t.RawData != nil || dt.size() == 0:
		if dt.size() == 0 {
			return nil // strings and other types without a fixed-size encoding are not checked
		}
		if int64(len(t.RawData))%int64(dt.size()) != 0 {
			return fmt.Errorf("initializer %q (%v) has %d raw bytes, not a whole number of elements", t.GetName(), dt, len(t.RawData))
		}
		have = int64(len(t.RawData)) / int64(dt.size())
	case dt == Float32:
		have = int64(len(t.FloatData))
	case dt == Int64:
		have = int64(len(t.Int64Data))
	case dt == Int32 || dt == Float16 || dt == Uint8 || dt == Bool:
		have = int64(len(t.Int32Data))
	default:
		return nil
	}
	if have != n {
		return fmt.Errorf("initializer %q holds %d values, its shape %v needs %d (truncated file?)", t.GetName(), have, t.GetDims(), n)
	}
	return nil
}

func readValue(v *onnxpb.ValueInfoProto) Value {
	out := Value{Name: v.GetName()}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return out
	}
	out.DType = DType(tt.GetElemType())
	if sh := tt.GetShape(); sh != nil {
		out.Shape = Shape{}
		for _, d := range sh.GetDim() {
			out.Shape = append(out.Shape, Dimension{Value: d.GetDimValue(), Param: d.GetDimParam()})
		}
	}
	return out
}
