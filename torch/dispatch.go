package torch

/*
#include <stdlib.h>
#include "dispatch.h"
#include "tensor.h"
*/
import "C"

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// op is an ATen operator found once by schema name and called through the dispatcher, the same
// path Python's torch functions take.
type op struct {
	name, overload string
	full           string // name.overload, made once: error paths name it, the hot path must not build it
	once           sync.Once
	h              *C.TorchOp
	err            error
	calls, nanos   atomic.Int64 // while op timing is on
}

var (
	opsMu  sync.Mutex
	allOps []*op
)

func newOp(name, overload string) *op {
	o := &op{name: name, overload: overload, full: name}
	if overload != "" {
		o.full = name + "." + overload
	}
	opsMu.Lock()
	allOps = append(allOps, o)
	opsMu.Unlock()
	return o
}

func (o *op) fullName() string { return o.full }

func (o *op) handle() (*C.TorchOp, error) {
	o.once.Do(func() {
		cn, co := C.CString(o.name), C.CString(o.overload)
		defer C.free(unsafe.Pointer(cn))
		defer C.free(unsafe.Pointer(co))
		o.err = statusErr(o.fullName(), C.torch_op_find(cn, co, &o.h))
	})
	return o.h, o.err
}

// args collects an operator's arguments in flat pools, so that the memory handed to C holds no
// Go pointers.
type args struct {
	kinds    []int32
	a, b     []int64
	ipool    []int64
	dpool    []float64
	tpool    []*C.TorchTensor
	spool    []byte
	inputs   []*Tensor // tensor operands: they pick the result scope and carry earlier errors
	explicit *Scope    // set by factories: where results go
	hasScope bool
	nilInput bool // a nil *Tensor was passed where a tensor is required
	// The result handles, here rather than on the stack: memory handed to C escapes, and the
	// pool reuses it instead of allocating it on every call.
	outs [maxOutputs]*C.TorchTensor
	n    C.int
}

var argsPool = sync.Pool{New: func() any { return new(args) }}

func newArgs() *args { return argsPool.Get().(*args) }

func (x *args) release() {
	x.kinds, x.a, x.b = x.kinds[:0], x.a[:0], x.b[:0]
	x.ipool, x.dpool, x.tpool, x.spool = x.ipool[:0], x.dpool[:0], x.tpool[:0], x.spool[:0]
	clear(x.inputs)
	x.inputs = x.inputs[:0]
	x.explicit, x.hasScope, x.nilInput = nil, false, false
	clear(x.outs[:x.n])
	x.n = 0
	argsPool.Put(x)
}

func (x *args) push(kind int32, a, b int64) *args {
	x.kinds = append(x.kinds, kind)
	x.a = append(x.a, a)
	x.b = append(x.b, b)
	return x
}

// in sets the scope that owns the results of a factory (no tensor operands).
func (x *args) in(s *Scope) *args { x.explicit, x.hasScope = s, true; return x }

func (x *args) t(t *Tensor) *args {
	if t == nil {
		x.nilInput = true
		return x.none()
	}
	x.inputs = append(x.inputs, t)
	x.tpool = append(x.tpool, t.h)
	return x.push(C.TORCH_ARG_TENSOR, int64(len(x.tpool)-1), 0)
}

// optT passes None for a nil tensor.
func (x *args) optT(t *Tensor) *args {
	if t == nil {
		return x.none()
	}
	return x.t(t)
}

func (x *args) ts(list []*Tensor) *args {
	start := len(x.tpool)
	for _, t := range list {
		if t == nil {
			x.nilInput = true
			continue
		}
		x.inputs = append(x.inputs, t)
		x.tpool = append(x.tpool, t.h)
	}
	return x.push(C.TORCH_ARG_TENSORS, int64(start), int64(len(x.tpool)-start))
}

// optTs passes a Tensor?[] list; nil entries are None.
func (x *args) optTs(list []*Tensor) *args {
	start := len(x.tpool)
	for _, t := range list {
		if t == nil {
			x.tpool = append(x.tpool, nil)
			continue
		}
		x.inputs = append(x.inputs, t)
		x.tpool = append(x.tpool, t.h)
	}
	return x.push(C.TORCH_ARG_OPT_TENSORS, int64(start), int64(len(list)))
}

func (x *args) i(v int64) *args { return x.push(C.TORCH_ARG_INT, v, 0) }

func (x *args) f(v float64) *args {
	x.dpool = append(x.dpool, v)
	return x.push(C.TORCH_ARG_DOUBLE, int64(len(x.dpool)-1), 0)
}

func (x *args) bool(v bool) *args {
	if v {
		return x.push(C.TORCH_ARG_BOOL, 1, 0)
	}
	return x.push(C.TORCH_ARG_BOOL, 0, 0)
}

func (x *args) ints(v []int64) *args {
	start := len(x.ipool)
	x.ipool = append(x.ipool, v...)
	return x.push(C.TORCH_ARG_INTS, int64(start), int64(len(v)))
}

func (x *args) doubles(v []float64) *args {
	start := len(x.dpool)
	x.dpool = append(x.dpool, v...)
	return x.push(C.TORCH_ARG_DOUBLES, int64(start), int64(len(v)))
}

func (x *args) str(v string) *args {
	start := len(x.spool)
	x.spool = append(x.spool, v...)
	return x.push(C.TORCH_ARG_STRING, int64(start), int64(len(v)))
}

// scalar passes a Scalar holding a double (Python float).
func (x *args) scalar(v float64) *args {
	x.dpool = append(x.dpool, v)
	return x.push(C.TORCH_ARG_SCALAR_DOUBLE, int64(len(x.dpool)-1), 0)
}

// scalarFor passes v as Python would write it next to t: an integral v on an integer or bool
// tensor is a Python int (so int64 tensors stay int64), anything else a Python float.
func (x *args) scalarFor(t *Tensor, v float64) *args {
	if v == math.Trunc(v) && math.Abs(v) < 1<<62 && t.h != nil && !t.DType().IsFloat() {
		return x.scalarInt(int64(v))
	}
	return x.scalar(v)
}

// scalarInt passes a Scalar holding an integer (Python int).
func (x *args) scalarInt(v int64) *args { return x.push(C.TORCH_ARG_SCALAR_INT, v, 0) }

func (x *args) dtype(d DType) *args { return x.push(C.TORCH_ARG_DTYPE, int64(d), 0) }

func (x *args) device(d Device) *args {
	return x.push(C.TORCH_ARG_DEVICE, int64(d.Type), int64(d.Index))
}

func (x *args) none() *args { return x.push(C.TORCH_ARG_NONE, 0, 0) }

func (x *args) def() *args { return x.push(C.TORCH_ARG_DEFAULT, 0, 0) }

const maxOutputs = 64

// run checks x's operands and scope and calls the operator, leaving the result handles in
// x.outs[:x.n]. It returns the scope the results belong to (the youngest among the operands, or
// the factory's explicit one). With keep false the results are counted but never wrapped, for
// in-place operators whose result is an alias of an operand the caller already holds.
func (o *op) run(x *args, keep bool) (*Scope, error) {
	s := x.explicit
	if !x.hasScope {
		s = resultScope(x.inputs)
	}
	if x.nilInput {
		return s, errorf(o.full, CodeInvalid, "nil tensor operand")
	}
	for _, t := range x.inputs {
		if err := t.errFor(o.full); err != nil {
			return s, err
		}
	}
	if err := s.usable(o.full); err != nil {
		return s, err
	}
	h, err := o.handle()
	if err != nil {
		return s, err
	}
	maxouts := C.int(maxOutputs)
	if !keep {
		maxouts = 0
	}
	opCalls.Add(1)
	timing := opTiming.Load()
	var t0 time.Time
	if timing {
		t0 = time.Now()
	}
	st := C.torch_op_call(h, C.int(len(x.kinds)), ptr32(x.kinds), ptr64(x.a), ptr64(x.b), ptr64(x.ipool),
		ptrF64(x.dpool), ptrT(x.tpool), ptrS(x.spool), C.int(s.Mode()), &x.outs[0], maxouts, &x.n)
	runtime.KeepAlive(x.inputs)
	if timing {
		o.nanos.Add(int64(time.Since(t0)))
		o.calls.Add(1)
	}
	return s, statusErr(o.full, st)
}

// wrongCount frees results of an unexpected count and says so.
func (o *op) wrongCount(x *args, want int) error {
	for _, h := range x.outs[:x.n] {
		C.torch_tensor_free(h)
	}
	return errorf(o.full, CodeInternal, "returned %d tensors, expected %d", x.n, want)
}

// call runs the operator and releases x. Results belong to the youngest scope among the operands
// (or the factory's explicit scope); on failure each of the want results carries the error.
func (o *op) call(x *args, want int) []*Tensor {
	defer x.release()
	s, err := o.run(x, true)
	if err == nil && want > 0 && int(x.n) != want {
		err = o.wrongCount(x, want)
	}
	if err != nil {
		out := make([]*Tensor, max(want, 1))
		for i := range out {
			out[i] = failed(err, s)
		}
		return out
	}
	res := make([]*Tensor, int(x.n))
	for i := range res {
		res[i] = newTensor(x.outs[i], s)
	}
	return res
}

// call1 runs a single-result operator: call without the result slice.
func (o *op) call1(x *args) *Tensor {
	defer x.release()
	s, err := o.run(x, true)
	if err == nil && x.n != 1 {
		err = o.wrongCount(x, 1)
	}
	if err != nil {
		return failed(err, s)
	}
	return newTensor(x.outs[0], s)
}

// callInPlace runs an in-place operator and releases x: its one result is an alias of an operand,
// so no handle is made for it. A failure comes back as a failed tensor in the operands' scope, as
// call1 would return it.
func (o *op) callInPlace(x *args) *Tensor {
	defer x.release()
	s, err := o.run(x, false)
	if err == nil && x.n != 1 {
		err = errorf(o.full, CodeInternal, "returned %d tensors, expected 1", x.n)
	}
	if err != nil {
		return failed(err, s)
	}
	return nil
}

func ptr32(v []int32) *C.int32_t {
	if len(v) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&v[0]))
}

func ptr64(v []int64) *C.int64_t {
	if len(v) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&v[0]))
}

func ptrF64(v []float64) *C.double {
	if len(v) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&v[0]))
}

func ptrT(v []*C.TorchTensor) **C.TorchTensor {
	if len(v) == 0 {
		return nil
	}
	return &v[0]
}

func ptrS(v []byte) *C.char {
	if len(v) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&v[0]))
}

var opTiming atomic.Bool

// SetOpTiming turns per-operator timing on or off. It is off by default; on, every operator call
// reads the clock twice, which is what a profile of where a forward pass spends its time needs
// and nothing else does.
func SetOpTiming(on bool) { opTiming.Store(on) }

// OpStat is the time spent in one ATen operator (its wall time as the caller sees it: the
// dispatcher, the kernel and the kernel's parallel work) while op timing was on.
type OpStat struct {
	Name  string // schema name with overload, e.g. aten::conv2d or aten::add.Tensor
	Calls int64
	Total time.Duration
}

// OpStats returns the operators called while op timing was on, the most costly first, and
// starts counting afresh.
func OpStats() []OpStat {
	opsMu.Lock()
	ops := slices.Clone(allOps)
	opsMu.Unlock()
	var out []OpStat
	for _, o := range ops {
		if c := o.calls.Swap(0); c > 0 {
			out = append(out, OpStat{Name: o.full, Calls: c, Total: time.Duration(o.nanos.Swap(0))})
		}
	}
	slices.SortFunc(out, func(a, b OpStat) int { return cmp.Compare(b.Total, a.Total) })
	return out
}
