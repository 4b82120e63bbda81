package torch

/*
#include <stdlib.h>
#include "tensor.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Tensor is a handle to a LibTorch tensor. It is freed by Close, by the Scope that owns it, or
// (as a last resort, counted as a leak) by the garbage collector.
//
// A Tensor produced by a failed operation carries the error instead of a native tensor: further
// operations on it return failed tensors with the same error, and Err or any call that hands data
// back to Go reports it. This keeps chains such as x.Conv2d(w, b, opts).Relu() readable while no
// error is ever lost, the same contract as tensorflow/go's op.Scope.
type Tensor struct {
	h       *C.TorchTensor
	err     error
	closed  bool // Close freed h; operations report use after close
	scope   *Scope
	slot    int // index in scope.tensors, guarded by scope.mu
	cleanup runtime.Cleanup
	hasCln  bool
}

// closedMsg explains a use after close; the error's Op names the operation that was attempted.
const closedMsg = "the tensor was closed (by Close or by its scope's Close); Keep it out of the scope or Share it to use it longer"

// newTensor wraps a native handle and registers it with s (nil: the caller owns it).
func newTensor(h *C.TorchTensor, s *Scope) *Tensor {
	t := &Tensor{h: h}
	liveTensors.Add(1)
	tensorsMade.Add(1)
	trackAlloc(t)
	t.cleanup = runtime.AddCleanup(t, freeCollected, h)
	t.hasCln = true
	if s != nil {
		s.add(t)
	}
	return t
}

// failed returns a tensor that carries err, owned by s like any other result.
func failed(err error, s *Scope) *Tensor {
	t := &Tensor{err: err}
	if s != nil {
		s.add(t)
		s.noteErr(err)
	}
	return t
}

// freeCollected runs when the garbage collector finds a tensor that was never closed.
func freeCollected(h *C.TorchTensor) {
	C.torch_tensor_free(h)
	liveTensors.Add(-1)
	collectedTensors.Add(1)
}

// Close frees the native tensor. It is idempotent and safe on a nil or failed tensor. A tensor
// owned by a scope may be closed early: it leaves the scope at once, so a long-lived scope holds
// only the tensors still open. The error is always nil (Close satisfies io.Closer).
func (t *Tensor) Close() error {
	if t == nil {
		return nil
	}
	if s := t.scope; s != nil {
		s.remove(t)
	}
	if t.h == nil {
		return nil
	}
	if t.hasCln {
		t.cleanup.Stop()
		t.hasCln = false
	}
	untrackAlloc(t)
	C.torch_tensor_free(t.h)
	t.h = nil
	t.closed = true
	liveTensors.Add(-1)
	return nil
}

// Err returns the error carried by a failed tensor, or an error matching ErrClosed after Close.
func (t *Tensor) Err() error { return t.errFor("Tensor") }

// errFor is Err for an attempt to run op on t: a nil, zero or closed tensor is reported under
// op's name, so the message says what was attempted. A failed tensor keeps its original error,
// which names the operation that failed.
func (t *Tensor) errFor(op string) error {
	switch {
	case t == nil:
		return &Error{Op: op, Code: CodeInvalid, Msg: "nil tensor"}
	case t.closed:
		return &Error{Op: op, Code: CodeClosed, Msg: closedMsg}
	case t.err != nil:
		return t.err
	case t.h == nil:
		return &Error{Op: op, Code: CodeInvalid, Msg: "zero Tensor value; tensors come from this package's functions"}
	}
	return nil
}

// handle returns the native pointer for op, or the reason there is none.
func (t *Tensor) handle(op string) (*C.TorchTensor, error) {
	if err := t.errFor(op); err != nil {
		return nil, err
	}
	return t.h, nil
}

// shape returns the sizes for op, or why there are none: a failed tensor, or a native tensor
// without sizes (an operator's undefined result).
func (t *Tensor) shape(op string) ([]int64, error) {
	h, err := t.handle(op)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(t)
	noSizes := &Error{Op: op, Code: CodeInvalid, Msg: "tensor has no sizes (an undefined operator result)"}
	n := int(C.torch_tensor_dim(h))
	if n < 0 {
		return nil, noSizes
	}
	shape := make([]int64, n)
	var p *C.int64_t
	if n > 0 {
		p = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	if C.torch_tensor_sizes(h, p, C.int(n)) != 0 {
		return nil, noSizes
	}
	return shape, nil
}

// Shape returns the sizes of each dimension (nil for a failed tensor). Code that needs one size
// should call Size, which reports why there is none instead of leaving a nil slice to index.
func (t *Tensor) Shape() []int64 {
	s, err := t.shape("Shape")
	if err != nil {
		return nil
	}
	return s
}

// Size returns the size of dimension dim, counting from the end when dim is negative (t.size(dim)
// in PyTorch). It fails for a failed or closed tensor and for a dim out of range.
func (t *Tensor) Size(dim int) (int64, error) {
	s, err := t.shape("Size")
	if err != nil {
		return 0, err
	}
	n := len(s)
	if n == 0 {
		return 0, errorf("Size", CodeIndex, "dimension %d of a 0-D tensor: it has no dimensions", dim)
	}
	d := dim
	if d < 0 {
		d += n
	}
	if d < 0 || d >= n {
		return 0, errorf("Size", CodeIndex, "dimension %d out of range for a %d-D tensor of shape %v (valid: %d to %d)",
			dim, n, s, -n, n-1)
	}
	return s[d], nil
}

// Dim is the number of dimensions (0 for a failed tensor).
func (t *Tensor) Dim() int {
	h, err := t.handle("Dim")
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(t)
	return max(int(C.torch_tensor_dim(h)), 0)
}

// Numel is the number of elements (0 for a failed tensor).
func (t *Tensor) Numel() int64 {
	s, err := t.shape("Numel")
	if err != nil {
		return 0
	}
	return numel(s)
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	return n
}

// DType returns the element type (-1 for a failed tensor).
func (t *Tensor) DType() DType {
	h, err := t.handle("DType")
	if err != nil {
		return -1
	}
	defer runtime.KeepAlive(t)
	return DType(C.torch_tensor_dtype(h))
}

// Device returns where the tensor lives (CPU for a failed tensor).
func (t *Tensor) Device() Device {
	h, err := t.handle("Device")
	if err != nil {
		return CPU
	}
	var typ, idx C.int
	C.torch_tensor_device(h, &typ, &idx)
	runtime.KeepAlive(t)
	if typ < 0 {
		return CPU
	}
	return Device{Type: DeviceType(typ), Index: int(idx)}
}

// RequiresGrad reports whether autograd records operations on t.
func (t *Tensor) RequiresGrad() bool {
	h, err := t.handle("RequiresGrad")
	if err != nil {
		return false
	}
	defer runtime.KeepAlive(t)
	return C.torch_tensor_requires_grad(h) != 0
}

// IsContiguous reports whether t is laid out row-major without gaps.
func (t *Tensor) IsContiguous() bool {
	h, err := t.handle("IsContiguous")
	if err != nil {
		return false
	}
	defer runtime.KeepAlive(t)
	return C.torch_tensor_is_contiguous(h) != 0
}

// IsMkldnn reports whether t is a oneDNN tensor (ToMkldnn), which only oneDNN's operators read.
func (t *Tensor) IsMkldnn() bool {
	h, err := t.handle("IsMkldnn")
	if err != nil {
		return false
	}
	defer runtime.KeepAlive(t)
	return C.torch_tensor_is_mkldnn(h) != 0
}

// Scope returns the scope that owns t, or nil when the caller owns it.
func (t *Tensor) Scope() *Scope { return t.scope }

func (t *Tensor) String() string {
	if err := t.Err(); err != nil {
		return fmt.Sprintf("Tensor(error: %v)", err)
	}
	return fmt.Sprintf("Tensor(shape=%v, dtype=%v, device=%v)", t.Shape(), t.DType(), t.Device())
}

// FromSlice copies data into a new CPU tensor of the given shape (a 1-D tensor when shape is
// empty). The result belongs to s, or to the caller when s is nil.
func FromSlice[T Element](s *Scope, data []T, shape ...int64) *Tensor {
	if len(shape) == 0 {
		shape = []int64{int64(len(data))}
	}
	for _, d := range shape {
		if d < 0 {
			return failed(errorf("FromSlice", CodeInvalid, "negative dimension in shape %v", shape), s)
		}
	}
	if numel(shape) != int64(len(data)) {
		return failed(errorf("FromSlice", CodeInvalid, "%d values do not fill shape %v (%d elements)",
			len(data), shape, numel(shape)), s)
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var zero T
	nbytes := C.size_t(len(data)) * C.size_t(unsafe.Sizeof(zero))
	return fromBytes(s, "FromSlice", p, nbytes, dtypeOf[T](), shape)
}

// FromBytes makes a CPU tensor from raw little-endian element bytes (as stored in checkpoints).
func FromBytes(s *Scope, data []byte, dtype DType, shape ...int64) *Tensor {
	if dtype.Size() == 0 {
		return failed(errorf("FromBytes", CodeType, "unsupported dtype %v", dtype), s)
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return fromBytes(s, "FromBytes", p, C.size_t(len(data)), dtype, shape)
}

func fromBytes(s *Scope, op string, p unsafe.Pointer, nbytes C.size_t, dtype DType, shape []int64) *Tensor {
	if err := s.usable(op); err != nil {
		return failed(err, nil)
	}
	var sp *C.int64_t
	if len(shape) > 0 {
		sp = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	var h *C.TorchTensor
	st := C.torch_tensor_from_data(p, nbytes, C.int(dtype), sp, C.int(len(shape)), &h)
	if err := statusErr(op, st); err != nil {
		return failed(err, s)
	}
	return newTensor(h, s)
}

// Data copies the tensor's values (moved to the CPU, made contiguous) into a new Go slice. T
// must match the tensor's dtype.
func Data[T Element](t *Tensor) ([]T, error) {
	h, err := t.handle("Data")
	if err != nil {
		return nil, err
	}
	want := dtypeOf[T]()
	if got := t.DType(); got != want {
		return nil, errorf("Data", CodeType, "tensor is %v, asked for %v; convert with To first", got, want)
	}
	shape, err := t.shape("Data")
	if err != nil {
		return nil, err
	}
	out := make([]T, numel(shape))
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	var zero T
	st := C.torch_tensor_copy_to(h, p, C.size_t(len(out))*C.size_t(unsafe.Sizeof(zero)))
	runtime.KeepAlive(t)
	if err := statusErr("Data", st); err != nil {
		return nil, err
	}
	return out, nil
}

// Bytes copies the raw little-endian element bytes (CPU, contiguous).
func (t *Tensor) Bytes() ([]byte, error) {
	h, err := t.handle("Bytes")
	if err != nil {
		return nil, err
	}
	shape, err := t.shape("Bytes")
	if err != nil {
		return nil, err
	}
	size := t.DType().Size()
	if size == 0 {
		return nil, errorf("Bytes", CodeType, "dtype %v is not supported here; convert with To first", t.DType())
	}
	out := make([]byte, numel(shape)*int64(size))
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	st := C.torch_tensor_copy_to(h, p, C.size_t(len(out)))
	runtime.KeepAlive(t)
	if err := statusErr("Bytes", st); err != nil {
		return nil, err
	}
	return out, nil
}

// Float32s is Data[float32] after converting to float32 when needed.
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.errFor("Float32s"); err != nil {
		return nil, err
	}
	if t.DType() == Float32 {
		return Data[float32](t)
	}
	c := t.To(Float32)
	defer c.Close()
	return Data[float32](c)
}

// Float64s is Data[float64] after converting to float64 when needed.
func (t *Tensor) Float64s() ([]float64, error) {
	if err := t.errFor("Float64s"); err != nil {
		return nil, err
	}
	if t.DType() == Float64 {
		return Data[float64](t)
	}
	c := t.To(Float64)
	defer c.Close()
	return Data[float64](c)
}

// Int64s is Data[int64] after converting to int64 when needed.
func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.errFor("Int64s"); err != nil {
		return nil, err
	}
	if t.DType() == Int64 {
		return Data[int64](t)
	}
	c := t.To(Int64)
	defer c.Close()
	return Data[int64](c)
}

// Item returns the single value of a one-element tensor as float64.
func (t *Tensor) Item() (float64, error) {
	if err := t.errFor("Item"); err != nil {
		return 0, err
	}
	if n := t.Numel(); n != 1 {
		return 0, errorf("Item", CodeInvalid, "tensor has %d elements, Item needs exactly one", n)
	}
	v, err := t.Float64s()
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// Share returns a second handle to the same tensor (same storage, same autograd identity), owned
// by s or by the caller when s is nil. It lets a value outlive the scope that produced it.
func (t *Tensor) Share(s *Scope) *Tensor {
	h, err := t.handle("Share")
	if err != nil {
		return failed(err, s)
	}
	if err := s.usable("Share"); err != nil {
		return failed(err, nil)
	}
	nh := C.torch_tensor_share(h)
	runtime.KeepAlive(t)
	if nh == nil {
		return failed(errorf("Share", CodeOutOfMemory, "no memory left for a second tensor handle"), s)
	}
	return newTensor(nh, s)
}

// SameAs reports whether both handles refer to the same tensor.
func (t *Tensor) SameAs(o *Tensor) bool {
	a, err1 := t.handle("SameAs")
	b, err2 := o.handle("SameAs")
	if err1 != nil || err2 != nil {
		return false
	}
	defer runtime.KeepAlive(t)
	defer runtime.KeepAlive(o)
	return C.torch_tensor_same(a, b) != 0
}

// Failed returns a tensor that carries err instead of data, owned by s (nil: the caller). It is
// for packages built on this one that find an error in the middle of a chain of operations:
// every operation on the result fails with err, and Err reports it. A nil err is itself reported
// as an error.
func Failed(s *Scope, err error) *Tensor {
	if err == nil {
		err = errorf("Failed", CodeInvalid, "called with a nil error")
	}
	return failed(err, s)
}
