package checkpoint

// DType names a tensor element type with PyTorch's spelling (str(torch.float32) without the
// "torch." prefix), so values print the way Python users expect.
type DType string

// Supported element types.
const (
	Float32  DType = "float32"
	Float64  DType = "float64"
	Float16  DType = "float16"
	BFloat16 DType = "bfloat16"
	Int64    DType = "int64"
	Int32    DType = "int32"
	Int16    DType = "int16"
	Int8     DType = "int8"
	Uint8    DType = "uint8"
	Bool     DType = "bool"
)

// dtypeInfo ties each element type to its names in the two file formats.
type dtypeInfo struct {
	size        int
	storage     string // legacy typed-storage class in module torch, as torch.save pickles it
	safetensors string
}

var dtypes = map[DType]dtypeInfo{
	Float32:  {4, "FloatStorage", "F32"},
	Float64:  {8, "DoubleStorage", "F64"},
	Float16:  {2, "HalfStorage", "F16"},
	BFloat16: {2, "BFloat16Storage", "BF16"},
	Int64:    {8, "LongStorage", "I64"},
	Int32:    {4, "IntStorage", "I32"},
	Int16:    {2, "ShortStorage", "I16"},
	Int8:     {1, "CharStorage", "I8"},
	Uint8:    {1, "ByteStorage", "U8"},
	Bool:     {1, "BoolStorage", "BOOL"},
}

// Size is the number of bytes of one element, or 0 for an unknown type.
func (d DType) Size() int { return dtypes[d].size }

// Valid reports whether d is one of the supported element types.
func (d DType) Valid() bool { _, ok := dtypes[d]; return ok }

func dtypeFromStorage(name string) (DType, bool) {
	for d, info := range dtypes {
		if info.storage == name {
			return d, true
		}
	}
	return "", false
}

func dtypeFromSafetensors(name string) (DType, bool) {
	for d, info := range dtypes {
		if info.safetensors == name {
			return d, true
		}
	}
	return "", false
}
