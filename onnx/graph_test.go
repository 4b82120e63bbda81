package onnx

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/csad-go/csad/internal/onnxpb"
)

// Every finite half survives the round trip through float32, and between two neighbouring
// halves the midpoint rounds to the even one while anything off the midpoint rounds to the
// nearer: the whole specification of round-to-nearest-even, checked for all 63 488 finite halves.
func TestFloat16Exhaustive(t *testing.T) {
	for h := range uint32(0x7c00) { // positive finite halves; negatives mirror them
		for _, sign := range []uint16{0, 0x8000} {
			b := uint16(h) | sign
			require.Equal(t, b, Float16Bits(Float16Value(b)), "round trip of %#04x", b)
		}
		if h == 0x7bff {
			continue
		}
		lo, hi := Float16Value(uint16(h)), Float16Value(uint16(h+1))
		mid := float32((float64(lo) + float64(hi)) / 2) // exact: float32 has 13 more bits
		require.Equal(t, float64(mid), (float64(lo)+float64(hi))/2)
		even := uint16(h)
		if h&1 == 1 {
			even = uint16(h + 1)
		}
		require.Equal(t, even, Float16Bits(mid), "midpoint of %#04x and %#04x", h, h+1)
		require.Equal(t, uint16(h), Float16Bits(math.Nextafter32(mid, 0)), "just below the midpoint above %#04x", h)
		require.Equal(t, uint16(h+1), Float16Bits(math.Nextafter32(mid, 1e9)), "just above the midpoint above %#04x", h)
		require.Equal(t, uint16(h)|0x8000, Float16Bits(-math.Nextafter32(mid, 0)))
	}
	require.Equal(t, uint16(0x7bff), Float16Bits(65519.996)) // below the rounding midpoint to Inf
	require.Equal(t, uint16(0x7c00), Float16Bits(65520))     // the midpoint rounds to even: Inf
	require.Equal(t, uint16(0xfc00), Float16Bits(float32(math.Inf(-1))))
	require.Equal(t, uint16(0x0000), Float16Bits(float32(math.Pow(2, -25)))) // half the smallest subnormal: to even, 0
	require.Equal(t, uint16(0x0001), Float16Bits(math.Nextafter32(float32(math.Pow(2, -25)), 1)))
	require.Equal(t, uint16(0x3c00), Float16Bits(1))
	require.Equal(t, uint16(0x3555), Float16Bits(1.0/3))
	require.True(t, math.IsNaN(float64(Float16Value(Float16Bits(float32(math.NaN()))))))
}

func tinyGraph() *Graph {
	g := NewGraph("tiny")
	x := g.Input("x", Float32, Shape{Sym("batch"), Dim(2)})
	w := g.Float16Tensor("w", []int64{2}, []float32{1, 2})
	c := g.Node("Cast", []string{x}, AttrInt("to", int64(Float16)))
	m := g.Node("Mul", []string{c, w})
	y := g.NodeNamed("y", "Cast", []string{m}, AttrInt("to", int64(Float32)))
	g.Output(y, Float32, Shape{Sym("batch"), Dim(2)})
	return g
}

func TestMarshalIsDeterministic(t *testing.T) {
	info := ModelInfo{Opset: 13, Producer: "p", Metadata: map[string]string{"b": "2", "a": "1", "c": "3"}}
	a, err := tinyGraph().Marshal(info)
	require.NoError(t, err)
	for range 5 {
		b, err := tinyGraph().Marshal(info)
		require.NoError(t, err)
		require.True(t, bytes.Equal(a, b), "two marshals of the same graph differ")
	}
	var m onnxpb.ModelProto
	require.NoError(t, proto.Unmarshal(a, &m))
	require.Equal(t, int64(7), m.GetIrVersion(), "opset 13 came with IR version 7")
	var keys []string
	for _, p := range m.GetMetadataProps() {
		keys = append(keys, p.GetKey())
	}
	require.Equal(t, []string{"a", "b", "c"}, keys)
	w := m.GetGraph().GetInitializer()[0]
	require.Equal(t, int32(Float16), w.GetDataType())
	require.Equal(t, []byte{0x00, 0x3c, 0x00, 0x40}, w.GetRawData(), "1 and 2 as little-endian halves")
}

func TestBuilderErrors(t *testing.T) {
	cases := []struct {
		name string
		do   func(g *Graph)
		want string
	}{
		{"undefined input", func(g *Graph) { g.Node("Relu", []string{"nope"}) }, `reads "nope", which is not defined yet`},
		{"redefinition", func(g *Graph) { g.Input("x", Float32, Dims(1)); g.Input("x", Float32, Dims(1)) }, `value "x" is defined twice`},
		{"short data", func(g *Graph) { g.Float32Tensor("w", []int64{2, 3}, make([]float32, 5)) }, "5 values for shape [2 3] (6 elements)"},
		{"float16 overflow", func(g *Graph) { g.Float16Tensor("big", []int64{1}, []float32{1e6}) }, "overflows float16"},
		{"undefined output", func(g *Graph) { g.Output("y", Float32, nil) }, `output "y" is not defined`},
		{"negative dim", func(g *Graph) { g.Input("x", Float32, Dims(-1)) }, "negative dimension"},
		{"duplicate attribute", func(g *Graph) {
			x := g.Input("x", Float32, Dims(1))
			g.Node("Cast", []string{x}, AttrInt("to", 1), AttrInt("to", 1))
		}, `attribute "to" given twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewGraph("g")
			c.do(g)
			_, err := g.Marshal(ModelInfo{Opset: 17})
			require.ErrorContains(t, err, c.want)
		})
	}
	for _, opset := range []int64{0, 12, 18} {
		_, err := tinyGraph().Marshal(ModelInfo{Opset: opset})
		require.ErrorIs(t, err, ErrOpset)
		require.ErrorContains(t, err, "opsets 13..17")
	}
	_, err := NewGraph("empty").Marshal(ModelInfo{Opset: 17})
	require.ErrorContains(t, err, "no outputs")
}

// A model cut anywhere is refused: Marshal writes the opset import after the graph, so even a cut
// at a field boundary lacks something Inspect requires.
func TestInspectRejectsEveryTruncation(t *testing.T) {
	data, err := tinyGraph().Marshal(ModelInfo{Opset: 17, Producer: "p", Doc: "d"})
	require.NoError(t, err)
	info, err := Inspect(data)
	require.NoError(t, err)
	require.Equal(t, int64(17), info.Opset())
	require.Equal(t, []Value{{"x", Float32, Shape{Sym("batch"), Dim(2)}}}, info.Inputs)
	require.Equal(t, map[string]int{"Cast": 2, "Mul": 1}, info.Ops)
	for n := range len(data) {
		_, err := Inspect(data[:n])
		require.ErrorIs(t, err, ErrInvalid, "prefix of %d of %d bytes", n, len(data))
	}
	_, err = Inspect([]byte("not an onnx model at all"))
	require.ErrorIs(t, err, ErrInvalid)
}

// Consistency failures that decode fine: initializer data short of its shape, a node reading an
// undefined value, an output nobody produces.
func TestInspectRejectsInconsistentModels(t *testing.T) {
	data, err := tinyGraph().Marshal(ModelInfo{Opset: 17})
	require.NoError(t, err)
	edit := func(f func(m *onnxpb.ModelProto)) []byte {
		var m onnxpb.ModelProto
		require.NoError(t, proto.Unmarshal(data, &m))
		f(&m)
		b, err := proto.Marshal(&m)
		require.NoError(t, err)
		return b
	}
	cases := map[string][]byte{
		"holds 1 values":     edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer[0].RawData = m.Graph.Initializer[0].RawData[:2] }),
		`reads "ghost"`:      edit(func(m *onnxpb.ModelProto) { m.Graph.Node[1].Input[1] = "ghost" }),
		"not produced":       edit(func(m *onnxpb.ModelProto) { m.Graph.Output[0].Name = proto.String("z") }),
		"no opset import":    edit(func(m *onnxpb.ModelProto) { m.OpsetImport = nil }),
		"not a whole number": edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer[0].RawData = m.Graph.Initializer[0].RawData[:3] }),
		"has no outputs":     edit(func(m *onnxpb.ModelProto) { m.Graph.Output = nil }),
	}
	for want, b := range cases {
		_, err := Inspect(b)
		require.ErrorIs(t, err, ErrInvalid, want)
		require.ErrorContains(t, err, want)
	}
}

// Inspect never panics, whatever the bytes; what it accepts has a graph with outputs.
func FuzzInspect(f *testing.F) {
	data, err := tinyGraph().Marshal(ModelInfo{Opset: 17, Metadata: map[string]string{"k": "v"}})
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Inspect(b)
		if err == nil && len(info.Outputs) == 0 {
			t.Fatal("accepted a model without outputs")
		}
	})
}
