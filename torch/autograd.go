package torch

/*
#include "tensor.h"
*/
import "C"

import "runtime"

// SetRequiresGrad turns gradient recording for t on or off (t.requires_grad_()). It returns t.
func (t *Tensor) SetRequiresGrad(on bool) *Tensor {
	h, err := t.handle("SetRequiresGrad")
	if err != nil {
		return t
	}
	v := C.int(0)
	if on {
		v = 1
	}
	st := C.torch_tensor_set_requires_grad(h, v)
	runtime.KeepAlive(t)
	if err := statusErr("SetRequiresGrad", st); err != nil {
		return failed(err, t.scope)
	}
	return t
}

// Backward computes gradients of the scalar t with respect to the leaves that require them and
// accumulates them into their Grad (loss.backward()).
func (t *Tensor) Backward() error { return t.backward(nil, false) }

// BackwardWith is t.backward(gradient=grad, retain_graph=retain).
func (t *Tensor) BackwardWith(grad *Tensor, retain bool) error { return t.backward(grad, retain) }

func (t *Tensor) backward(grad *Tensor, retain bool) error {
	h, err := t.handle("Backward")
	if err != nil {
		return err
	}
	var gh *C.TorchTensor
	if grad != nil {
		if gh, err = grad.handle("Backward"); err != nil {
			return err
		}
	}
	r := C.int(0)
	if retain {
		r = 1
	}
	st := C.torch_tensor_backward(h, gh, r)
	runtime.KeepAlive(t)
	runtime.KeepAlive(grad)
	return statusErr("Backward", st)
}

// Grad returns a new handle to t's accumulated gradient, owned by s (nil: the caller), or nil
// when t has none.
func (t *Tensor) Grad(s *Scope) (*Tensor, error) {
	h, err := t.handle("Grad")
	if err != nil {
		return nil, err
	}
	if err := s.usable("Grad"); err != nil {
		return nil, err
	}
	var g *C.TorchTensor
	st := C.torch_tensor_grad(h, &g)
	runtime.KeepAlive(t)
	if err := statusErr("Grad", st); err != nil {
		return nil, err
	}
	if g == nil {
		return nil, nil
	}
	return newTensor(g, s), nil
}

// ZeroGrad drops t's gradient (optimizer.zero_grad(set_to_none=True)).
func (t *Tensor) ZeroGrad() error {
	h, err := t.handle("ZeroGrad")
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return statusErr("ZeroGrad", C.torch_tensor_zero_grad(h))
}

// Assign copies src's values into t without recording history; shapes must match (dtypes and
// devices are converted). Used to load weights into parameters.
func (t *Tensor) Assign(src *Tensor) error {
	h, err := t.handle("Assign")
	if err != nil {
		return err
	}
	sh, err := src.handle("Assign")
	if err != nil {
		return err
	}
	st := C.torch_tensor_assign(h, sh)
	runtime.KeepAlive(t)
	runtime.KeepAlive(src)
	return statusErr("Assign", st)
}

// ReplaceWith makes t refer to src's tensor (same storage, layout and autograd identity), keeping
// t's handle, so everything holding t (a module's parameter list, say) sees the new tensor. src
// stays valid and must still be closed by its owner.
func (t *Tensor) ReplaceWith(src *Tensor) error {
	h, err := t.handle("ReplaceWith")
	if err != nil {
		return err
	}
	sh, err := src.handle("ReplaceWith")
	if err != nil {
		return err
	}
	C.torch_tensor_replace(h, sh)
	runtime.KeepAlive(t)
	runtime.KeepAlive(src)
	return nil
}
