package ort

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	onnxruntime "github.com/yalue/onnxruntime_go"

	"github.com/csad-go/csad/onnx"
)

// decl is what the .onnx file itself says about a value's shape, beyond ONNX Runtime's infos:
// whether a shape is declared at all (ORT reports an undeclared shape as rank 0, like a scalar)
// and the symbolic names of dynamic dims, for error messages.
type decl struct {
	hasShape bool
	names    []string
}

// checkTensor validates one input against the model's declaration before any native object
// exists, so that a bad call costs nothing and says exactly what is wrong.
func checkTensor(info Info, d decl, t Tensor) error {
	set := 0
	var n int
	var given DType
	if t.Float32 != nil {
		set, n, given = set+1, len(t.Float32), Float32
	}
	if t.Int32 != nil {
		set, n, given = set+1, len(t.Int32), Int32
	}
	if t.Int64 != nil {
		set, n, given = set+1, len(t.Int64), Int64
	}
	if set > 1 {
		return fmt.Errorf("ort: input %q sets %d of Float32, Int32, Int64; set exactly one", info.Name, set)
	}
	want := info.DType
	if want == Float16 {
		want = Float32 // float16 inputs are fed from float32 data
	}
	if set == 1 && given != want {
		return fmt.Errorf("ort: input %q is %s data, the model wants %s%s", info.Name, given, info.DType, feedHint(info.DType))
	}
	for i, v := range t.Shape {
		if v < 0 {
			return fmt.Errorf("ort: input %q has shape %v with negative dim %d at axis %d", info.Name, t.Shape, v, i)
		}
	}
	if info.DType == Float16 && len(t.Shape) == 0 {
		// onnxruntime_go v1.27.0 builds float16 tensors through a type that refuses rank 0.
		return fmt.Errorf("ort: input %q is a float16 scalar, which this package cannot feed; give it shape [1] in the model", info.Name)
	}
	if d.hasShape || len(info.Shape) > 0 {
		bad := len(t.Shape) != len(info.Shape)
		for i := 0; !bad && i < len(info.Shape); i++ {
			bad = info.Shape[i] >= 0 && info.Shape[i] != t.Shape[i]
		}
		if bad {
			return fmt.Errorf("ort: input %q has shape %v, the model wants %s", info.Name, t.Shape, wantShape(info, d))
		}
	}
	numel := int64(1)
	for _, v := range t.Shape {
		if v != 0 && numel > math.MaxInt64/v {
			return fmt.Errorf("ort: input %q has shape %v, whose element count overflows int64", info.Name, t.Shape)
		}
		numel *= v
	}
	if int64(n) != numel {
		return fmt.Errorf("ort: input %q has shape %v (%d elements) but %d values", info.Name, t.Shape, numel, n)
	}
	return nil
}

func feedHint(d DType) string {
	if d == Float16 {
		return " (pass float16 inputs as Tensor.Float32; they are rounded to float16)"
	}
	return ""
}

// wantShape prints a declared shape with dynamic dims by name, e.g. "[batch 3 256 256]".
func wantShape(info Info, d decl) string {
	parts := make([]string, len(info.Shape))
	for i, v := range info.Shape {
		switch {
		case v >= 0:
			parts[i] = strconv.FormatInt(v, 10)
		case i < len(d.names) && d.names[i] != "":
			parts[i] = d.names[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// newValue builds the native input; the caller destroys it. Shape and length were checked.
func newValue(info Info, t Tensor) (onnxruntime.Value, error) {
	var v onnxruntime.Value
	var err error
	shape := onnxruntime.NewShape(t.Shape...).Clone()
	scalar := len(t.Shape) == 0
	switch info.DType {
	case Float32:
		v, err = makeValue(shape, scalar, t.Float32)
	case Int32:
		v, err = makeValue(shape, scalar, t.Int32)
	case Int64:
		v, err = makeValue(shape, scalar, t.Int64)
	case Float16:
		// ORT copies nothing: the bytes must outlive the run, which the Value's reference ensures.
		buf := make([]byte, 2*max(len(t.Float32), 1)) // CustomDataTensor refuses 0 bytes
		for i, f := range t.Float32 {
			binary.LittleEndian.PutUint16(buf[2*i:], float32ToFloat16(f))
		}
		v, err = onnxruntime.NewCustomDataTensor(shape, buf, onnxruntime.TensorElementDataTypeFloat16)
	default:
		err = fmt.Errorf("unsupported element type %s", info.DType)
	}
	if err != nil {
		return nil, fmt.Errorf("ort: creating input %q of shape %v: %w", info.Name, t.Shape, err)
	}
	return v, nil
}

func makeValue[T int32 | int64 | float32](shape onnxruntime.Shape, scalar bool, data []T) (onnxruntime.Value, error) {
	if scalar {
		return onnxruntime.NewScalar(data[0])
	}
	if data == nil {
		data = []T{} // a zero-element tensor given with no slice
	}
	return onnxruntime.NewTensor(shape, data)
}

// newScalarOutput pre-allocates a rank-0 output: onnxruntime_go v1.27.0 cannot wrap an
// ORT-allocated scalar (its Shape.Validate rejects rank 0).
func newScalarOutput(info Info) (onnxruntime.Value, error) {
	switch info.DType {
	case Float32:
		return onnxruntime.NewEmptyScalar[float32]()
	case Int32:
		return onnxruntime.NewEmptyScalar[int32]()
	case Int64:
		return onnxruntime.NewEmptyScalar[int64]()
	}
	return nil, fmt.Errorf("ort: output %q has unsupported element type %s", info.Name, info.DType)
}

// toTensor copies nothing: onnxruntime_go already copied ORT's buffer into Go memory, which
// stays valid after the Value is destroyed.
func toTensor(info Info, v onnxruntime.Value) (Tensor, error) {
	if v == nil {
		return Tensor{}, fmt.Errorf("ort: ONNX Runtime returned no value for output %q", info.Name)
	}
	shape := []int64(v.GetShape().Clone())
	switch x := v.(type) {
	case *onnxruntime.Tensor[float32]:
		return Tensor{Shape: shape, Float32: x.GetData()}, nil
	case *onnxruntime.Tensor[int32]:
		return Tensor{Shape: shape, Int32: x.GetData()}, nil
	case *onnxruntime.Tensor[int64]:
		return Tensor{Shape: shape, Int64: x.GetData()}, nil
	case *onnxruntime.Scalar[float32]:
		return Tensor{Shape: []int64{}, Float32: []float32{x.GetData()}}, nil
	case *onnxruntime.Scalar[int32]:
		return Tensor{Shape: []int64{}, Int32: []int32{x.GetData()}}, nil
	case *onnxruntime.Scalar[int64]:
		return Tensor{Shape: []int64{}, Int64: []int64{x.GetData()}}, nil
	}
	return Tensor{}, fmt.Errorf("ort: output %q came back as %T (%v), not the declared %s", info.Name, v, v.GetONNXType(), info.DType)
}

// float32ToFloat16 is the rounding the exporter gives float16 weights (to nearest even, keeping
// infinities, NaN and subnormals), so inputs fed to a float16 graph round the same way.
var float32ToFloat16 = onnx.Float16Bits
