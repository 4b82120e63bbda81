package ort

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto (ModelProto.graph, GraphProto.input/output, ValueInfoProto,
// TypeProto.tensor_type, TypeProto.Tensor.shape, TensorShapeProto.dim, Dimension).
const (
	fieldModelGraph    = 7
	fieldGraphInput    = 11
	fieldGraphOutput   = 12
	fieldValueName     = 1
	fieldValueType     = 2
	fieldTypeTensor    = 1
	fieldTensorShape   = 2
	fieldShapeDim      = 1
	fieldDimValue      = 1
	fieldDimParam      = 2
	maxDeclaredValues  = 1 << 16
	maxDeclaredDims    = 1 << 10
	maxDeclaredNameLen = 1 << 12
)

// symbolicDims reads the declared shapes of the graph's inputs and outputs straight from the
// protobuf. ONNX Runtime's C API as wrapped by onnxruntime_go gives neither dim_param names nor
// whether a shape is declared. The walk only slices the model (initializers are skipped, never
// copied). A model the walk cannot parse still loads: ONNX Runtime is the judge of validity,
// and the messages then print "?" for dynamic dims.
func symbolicDims(model []byte, inputs, outputs []Info) (in, out []decl) {
	found := map[string]decl{}
	foundOut := map[string]decl{}
	graph := firstField(model, fieldModelGraph)
	walk(graph, func(num protowire.Number, typ protowire.Type, b []byte) bool {
		if typ != protowire.BytesType || (num != fieldGraphInput && num != fieldGraphOutput) {
			return true
		}
		if len(found)+len(foundOut) >= maxDeclaredValues {
			return false
		}
		name, d, ok := parseValueInfo(b)
		if ok {
			if num == fieldGraphInput {
				found[name] = d
			} else {
				foundOut[name] = d
			}
		}
		return true
	})
	lookup := func(m map[string]decl, infos []Info) []decl {
		res := make([]decl, len(infos))
		for i, info := range infos {
			d, ok := m[info.Name]
			if !ok || (d.hasShape && len(d.names) != len(info.Shape)) {
				// Disagreement with ONNX Runtime: trust ORT's shape, assume it is declared
				// when ORT reports any dims.
				d = decl{hasShape: len(info.Shape) > 0}
			}
			res[i] = d
		}
		return res
	}
	return lookup(found, inputs), lookup(foundOut, outputs)
}

func parseValueInfo(b []byte) (string, decl, bool) {
	var name string
	var d decl
	ok := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		if typ != protowire.BytesType {
			return true
		}
		switch num {
		case fieldValueName:
			if len(v) > maxDeclaredNameLen {
				return false
			}
			name = string(v)
		case fieldValueType:
			tensor := firstField(v, fieldTypeTensor)
			if tensor == nil {
				return true
			}
			shape := firstField(tensor, fieldTensorShape)
			if shape == nil {
				return true
			}
			d.hasShape = true
			return walk(shape, func(num protowire.Number, typ protowire.Type, dim []byte) bool {
				if num != fieldShapeDim || typ != protowire.BytesType || len(d.names) >= maxDeclaredDims {
					return num != fieldShapeDim
				}
				var param string
				walk(dim, func(num protowire.Number, typ protowire.Type, p []byte) bool {
					if num == fieldDimParam && typ == protowire.BytesType && len(p) <= maxDeclaredNameLen {
						param = string(p)
					}
					return true
				})
				d.names = append(d.names, param)
				return true
			})
		}
		return true
	})
	return name, d, ok && name != ""
}

// firstField returns the payload of the first length-delimited field num, or nil.
func firstField(b []byte, num protowire.Number) []byte {
	var res []byte
	walk(b, func(n protowire.Number, typ protowire.Type, v []byte) bool {
		if n == num && typ == protowire.BytesType {
			res = v
			return false
		}
		return true
	})
	return res
}

// walk calls fn for each top-level field of a message (v is the payload of length-delimited
// fields, nil for others) until fn returns false; it reports false on malformed input or a stop.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			var m int
			v, m = protowire.ConsumeBytes(b)
			if m < 0 {
				return false
			}
			b = b[m:]
		} else {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return false
			}
			b = b[m:]
		}
		if !fn(num, typ, v) {
			return false
		}
	}
	return true
}
