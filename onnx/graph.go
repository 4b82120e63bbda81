package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/csad-go/csad/internal/onnxpb"
)

// DType is an ONNX tensor element type (TensorProto.DataType).
type DType int32

// The element types the builder writes.
const (
	Float32 = DType(onnxpb.TensorProto_FLOAT)
	Uint8   = DType(onnxpb.TensorProto_UINT8)
	Int32   = DType(onnxpb.TensorProto_INT32)
	Int64   = DType(onnxpb.TensorProto_INT64)
	Bool    = DType(onnxpb.TensorProto_BOOL)
	Float16 = DType(onnxpb.TensorProto_FLOAT16)
)

// String is the numpy name of the type ("float32", "int64", ...).
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Uint8:
		return "uint8"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	case Float16:
		return "float16"
	}
	if n, ok := onnxpb.TensorProto_DataType_name[int32(d)]; ok {
		return strings.ToLower(n)
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")"
}

// size is the element size in bytes of the types with a fixed-size raw encoding, 0 otherwise.
func (d DType) size() int {
	switch d {
	case Uint8, Bool:
		return 1
	case Float16:
		return 2
	case Float32, Int32:
		return 4
	case Int64:
		return 8
	}
	return 0
}

// Dimension is one axis of a value's shape: a fixed size, or a named symbolic size (a dynamic
// axis such as "batch") when Param is set.
type Dimension struct {
	Value int64
	Param string
}

// Dim is a fixed dimension.
func Dim(v int64) Dimension { return Dimension{Value: v} }

// Sym is a symbolic (dynamic) dimension.
func Sym(name string) Dimension { return Dimension{Param: name} }

// String prints the size or the parameter's name.
func (d Dimension) String() string {
	if d.Param != "" {
		return d.Param
	}
	return strconv.FormatInt(d.Value, 10)
}

// Shape is a tensor shape; nil is a scalar.
type Shape []Dimension

// Dims is a fixed shape.
func Dims(v ...int64) Shape {
	s := make(Shape, len(v))
	for i, x := range v {
		s[i] = Dim(x)
	}
	return s
}

// String prints the shape as (batch, 3, 256, 256).
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Attr is a node attribute; make one with AttrInt, AttrInts, AttrFloat, AttrFloats or
// AttrString.
type Attr struct{ p *onnxpb.AttributeProto }

func attr(name string, t onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: t.Enum()}
}

// AttrInt is an integer attribute.
func AttrInt(name string, v int64) Attr {
	a := attr(name, onnxpb.AttributeProto_INT)
	a.I = proto.Int64(v)
	return Attr{a}
}

// AttrInts is an integer-list attribute.
func AttrInts(name string, v ...int64) Attr {
	a := attr(name, onnxpb.AttributeProto_INTS)
	a.Ints = slices.Clone(v)
	return Attr{a}
}

// AttrFloat is a float attribute.
func AttrFloat(name string, v float32) Attr {
	a := attr(name, onnxpb.AttributeProto_FLOAT)
	a.F = proto.Float32(v)
	return Attr{a}
}

// AttrFloats is a float-list attribute.
func AttrFloats(name string, v ...float32) Attr {
	a := attr(name, onnxpb.AttributeProto_FLOATS)
	a.Floats = slices.Clone(v)
	return Attr{a}
}

// AttrString is a string attribute.
func AttrString(name, v string) Attr {
	a := attr(name, onnxpb.AttributeProto_STRING)
	a.S = []byte(v)
	return Attr{a}
}

// Graph builds one ONNX graph. The zero value is not usable; call NewGraph.
type Graph struct {
	g       *onnxpb.GraphProto
	defined map[string]bool // graph inputs, initializers and node outputs
	typed   map[string]bool // names with a value info (input, output or value_info)
	counter int
	err     error
}

// NewGraph starts an empty graph called name.
func NewGraph(name string) *Graph {
	return &Graph{g: &onnxpb.GraphProto{Name: proto.String(name)}, defined: map[string]bool{}, typed: map[string]bool{}}
}

// Err is the first error of any builder call so far.
func (g *Graph) Err() error { return g.err }

func (g *Graph) fail(format string, a ...any) {
	if g.err == nil {
		g.err = fmt.Errorf("onnx: "+format, a...)
	}
}

// define claims a new value name; a second definition is an error (ONNX graphs are in SSA form).
func (g *Graph) define(name string) bool {
	switch {
	case name == "":
		g.fail("empty value name")
		return false
	case g.defined[name]:
		g.fail("value %q is defined twice", name)
		return false
	}
	g.defined[name] = true
	return true
}

// Has reports whether name is already defined (input, initializer or node output).
func (g *Graph) Has(name string) bool { return g.defined[name] }

// Unique returns prefix, or prefix_N with the smallest N ≥ 1 that is still free.
func (g *Graph) Unique(prefix string) string {
	if !g.defined[prefix] {
		return prefix
	}
	for {
		g.counter++
		n := prefix + "_" + strconv.Itoa(g.counter)
		if !g.defined[n] {
			return n
		}
	}
}

func valueInfo(name string, dt DType, shape Shape) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		if d.Param != "" {
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}}
		} else {
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}}
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)),
			Shape:    &onnxpb.TensorShapeProto{Dim: dims},
		}}},
	}
}

func (g *Graph) checkShape(name string, shape Shape) bool {
	for _, d := range shape {
		if d.Param == "" && d.Value < 0 {
			g.fail("%s: negative dimension in %v", name, shape)
			return false
		}
	}
	return true
}

// Input declares a graph input and returns its name.
func (g *Graph) Input(name string, dt DType, shape Shape) string {
	if g.define(name) && g.checkShape(name, shape) {
		g.g.Input = append(g.g.Input, valueInfo(name, dt, shape))
		g.typed[name] = true
	}
	return name
}

// Output marks the defined value name as a graph output of type dt and shape.
func (g *Graph) Output(name string, dt DType, shape Shape) {
	switch {
	case !g.defined[name]:
		g.fail("output %q is not defined by any node, input or initializer", name)
	case g.typed[name] && !g.isValueInfo(name):
		g.fail("output %q is declared twice", name)
	case g.checkShape(name, shape):
		g.dropValueInfo(name)
		g.g.Output = append(g.g.Output, valueInfo(name, dt, shape))
		g.typed[name] = true
	}
}

func (g *Graph) isValueInfo(name string) bool {
	return slices.ContainsFunc(g.g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == name })
}

// dropValueInfo removes name's value_info: a graph output carries its own type, and the ONNX
// checker dislikes a value typed twice.
func (g *Graph) dropValueInfo(name string) {
	g.g.ValueInfo = slices.DeleteFunc(g.g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == name })
}

// ValueInfo records the type and shape of an intermediate value, for shape inference where it
// cannot infer by itself (a Resize whose sizes are computed) and for readers such as Netron.
func (g *Graph) ValueInfo(name string, dt DType, shape Shape) {
	switch {
	case !g.defined[name]:
		g.fail("value info for undefined value %q", name)
	case g.typed[name]:
		g.fail("value %q already has a type", name)
	case g.checkShape(name, shape):
		g.g.ValueInfo = append(g.g.ValueInfo, valueInfo(name, dt, shape))
		g.typed[name] = true
	}
}

func numel(dims []int64) (int64, bool) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 || (d > 0 && n > (1<<40)/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func (g *Graph) initializer(name string, dt DType, dims []int64, n int, raw func([]byte)) string {
	want, ok := numel(dims)
	switch {
	case !ok:
		g.fail("initializer %s: bad dimensions %v", name, dims)
		return name
	case want != int64(n):
		g.fail("initializer %s: %d values for shape %v (%d elements)", name, n, dims, want)
		return name
	case !g.define(name):
		return name
	}
	b := make([]byte, n*dt.size())
	raw(b)
	g.g.Initializer = append(g.g.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(dt)), Dims: slices.Clone(dims), RawData: b,
	})
	return name
}

// Float32Tensor adds an initializer of float32 values (row-major) with the given dims.
func (g *Graph) Float32Tensor(name string, dims []int64, data []float32) string {
	return g.initializer(name, Float32, dims, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	})
}

// Float16Tensor adds an initializer of data rounded to float16 (Float16Bits). A finite value
// that overflows float16 is an error naming the initializer: a silent ±Inf weight would turn
// whole feature maps into NaN.
func (g *Graph) Float16Tensor(name string, dims []int64, data []float32) string {
	for i, v := range data {
		if !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v)) && math.Abs(float64(v)) > MaxFloat16 {
			// Values up to the rounding midpoint below 65520 still round to 65504.
			if h := Float16Bits(v); h&0x7fff == 0x7c00 {
				g.fail("initializer %s: value %g at %d overflows float16 (max %d); keep this tensor in float32", name, v, i, MaxFloat16)
				return name
			}
		}
	}
	return g.initializer(name, Float16, dims, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint16(b[2*i:], Float16Bits(v))
		}
	})
}

// Int64Tensor adds an initializer of int64 values.
func (g *Graph) Int64Tensor(name string, dims []int64, data []int64) string {
	return g.initializer(name, Int64, dims, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
	})
}

// Node appends a node with one output, named after op (Relu, Relu_1, ...), and returns the
// output's name. An empty input name is an omitted optional input, as in ONNX.
func (g *Graph) Node(op string, inputs []string, attrs ...Attr) string {
	return g.NodeNamed(g.Unique(op), op, inputs, attrs...)
}

// NodeNamed appends a node whose single output (and node name) is out.
func (g *Graph) NodeNamed(out, op string, inputs []string, attrs ...Attr) string {
	g.NodeOutputs(op, inputs, []string{out}, attrs...)
	return out
}

// NodeOutputs appends a node with the given outputs; the node is named after the first.
func (g *Graph) NodeOutputs(op string, inputs, outputs []string, attrs ...Attr) {
	if g.err != nil {
		return
	}
	for _, in := range inputs {
		if in != "" && !g.defined[in] {
			g.fail("%s node %q reads %q, which is not defined yet", op, strings.Join(outputs, ","), in)
			return
		}
	}
	if len(outputs) == 0 {
		g.fail("%s node without outputs", op)
		return
	}
	for _, o := range outputs {
		if !g.define(o) {
			return
		}
	}
	n := &onnxpb.NodeProto{Name: proto.String(outputs[0]), OpType: proto.String(op), Input: slices.Clone(inputs), Output: slices.Clone(outputs)}
	seen := map[string]bool{}
	for _, a := range attrs {
		if a.p == nil {
			g.fail("%s node %q: zero Attr", op, outputs[0])
			return
		}
		if seen[a.p.GetName()] {
			g.fail("%s node %q: attribute %q given twice", op, outputs[0], a.p.GetName())
			return
		}
		seen[a.p.GetName()] = true
		n.Attribute = append(n.Attribute, proto.CloneOf(a.p))
	}
	g.g.Node = append(g.g.Node, n)
}

// Nodes is the number of nodes so far.
func (g *Graph) Nodes() int { return len(g.g.Node) }

// ModelInfo is what Marshal writes around the graph.
type ModelInfo struct {
	// Opset is the default-domain operator set (MinOpset..MaxOpset).
	Opset int64
	// IRVersion 0 means IRVersionFor(Opset).
	IRVersion                 int64
	Producer, ProducerVersion string
	// Doc is the model's doc_string; GraphDoc the graph's.
	Doc, GraphDoc string
	// Metadata becomes metadata_props, sorted by key.
	Metadata map[string]string
}

// The operator sets this package writes: ONNX 1.8 (opset 13) to 1.12 (opset 17), the newest
// that Debian's python3-onnx checker knows.
const (
	MinOpset = 13
	MaxOpset = 17
)

// IRVersionFor is the IR version that the ONNX release introducing opset shipped: 7 for
// opsets 13 and 14, 8 for 15 to 17 (0 outside MinOpset..MaxOpset).
func IRVersionFor(opset int64) int64 {
	switch {
	case opset >= 13 && opset <= 14:
		return 7
	case opset >= 15 && opset <= 17:
		return 8
	}
	return 0
}

// ErrOpset is wrapped by the error for an operator set outside MinOpset..MaxOpset.
var ErrOpset = errors.New("unsupported opset")

// CheckOpset returns an error naming the supported range when opset is outside it.
func CheckOpset(opset int64) error {
	if opset < MinOpset || opset > MaxOpset {
		return fmt.Errorf("onnx: %w %d: this writer supports opsets %d..%d (ONNX 1.8 to 1.12)", ErrOpset, opset, MinOpset, MaxOpset)
	}
	return nil
}

// model assembles the model proto. It fails with the first builder error, for an opset
// outside MinOpset..MaxOpset, and for a graph without outputs.
func (g *Graph) model(info ModelInfo) (*onnxpb.ModelProto, error) {
	if g.err != nil {
		return nil, g.err
	}
	if err := CheckOpset(info.Opset); err != nil {
		return nil, err
	}
	if len(g.g.Output) == 0 {
		return nil, errors.New("onnx: graph has no outputs")
	}
	ir := info.IRVersion
	if ir == 0 {
		ir = IRVersionFor(info.Opset)
	}
	// A fresh GraphProto sharing the builder's slices: cloning would copy every weight.
	gp := &onnxpb.GraphProto{
		Name: g.g.Name, Node: g.g.Node, Initializer: g.g.Initializer,
		Input: g.g.Input, Output: g.g.Output, ValueInfo: g.g.ValueInfo,
	}
	if info.GraphDoc != "" {
		gp.DocString = proto.String(info.GraphDoc)
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(ir),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(info.Opset)}},
		Graph:       gp,
	}
	if info.Producer != "" {
		m.ProducerName = proto.String(info.Producer)
	}
	if info.ProducerVersion != "" {
		m.ProducerVersion = proto.String(info.ProducerVersion)
	}
	if info.Doc != "" {
		m.DocString = proto.String(info.Doc)
	}
	keys := make([]string, 0, len(info.Metadata))
	for k := range info.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(info.Metadata[k])})
	}
	return m, nil
}

// Marshal encodes the model deterministically (same graph and info, same bytes).
func (g *Graph) Marshal(info ModelInfo) ([]byte, error) {
	m, err := g.model(info)
	if err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: encode model: %w", err)
	}
	return b, nil
}
