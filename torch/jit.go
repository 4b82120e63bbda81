package torch

/*
#include <stdlib.h>
#include "jit.h"
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// ScriptModule is a TorchScript module saved by torch.jit.save, loaded without Python.
type ScriptModule struct {
	// mu is held for reading by calls, which only read the module, and for writing by what
	// changes it (SetTraining, Close), so a change never overlaps a call in flight.
	mu       sync.RWMutex
	h        *C.TorchModule
	training bool
}

func errModuleClosed(op string) error {
	return errorf(op, CodeClosed, "the module was closed; load it again")
}

// LoadScript loads a TorchScript file onto the CPU.
func LoadScript(path string) (*ScriptModule, error) { return LoadScriptOn(path, CPU) }

// LoadScriptOn loads a TorchScript file and moves its tensors to dev.
func LoadScriptOn(path string, dev Device) (*ScriptModule, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, errorf("LoadScript", CodeIO, "%v", err)
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var h *C.TorchModule
	st := C.torch_jit_load(cp, C.int(dev.Type), C.int(dev.Index), &h)
	if err := statusErr("LoadScript "+path, st); err != nil {
		return nil, err
	}
	liveModules.Add(1)
	m := &ScriptModule{h: h}
	if err := m.SetTraining(false); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// SetTraining switches the module between train() and eval(); LoadScript leaves it in eval.
// module.train() writes every submodule's flag, so it waits for calls in flight.
func (m *ScriptModule) SetTraining(on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return errModuleClosed("ScriptModule.SetTraining")
	}
	e := C.int(1)
	if on {
		e = 0
	}
	if err := statusErr("ScriptModule.SetTraining", C.torch_jit_eval(m.h, e)); err != nil {
		return err
	}
	m.training = on
	return nil
}

// Training reports whether the module is in training mode (module.training).
func (m *ScriptModule) Training() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.training
}

// Forward runs the module's forward on tensor inputs. The tensors it returns (tuples and lists
// flattened in order) belong to the youngest scope among the inputs and run in its mode.
func (m *ScriptModule) Forward(inputs ...*Tensor) ([]*Tensor, error) {
	return m.Call("forward", inputs...)
}

// Call runs a named method of the module.
func (m *ScriptModule) Call(method string, inputs ...*Tensor) ([]*Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	op := "ScriptModule." + method
	if m.h == nil {
		return nil, errModuleClosed(op)
	}
	s := resultScope(inputs)
	if err := s.usable(op); err != nil {
		return nil, err
	}
	hs := make([]*C.TorchTensor, len(inputs))
	for i, t := range inputs {
		h, err := t.handle(op)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	cm := C.CString(method)
	defer C.free(unsafe.Pointer(cm))
	var outs [maxOutputs]*C.TorchTensor
	var n C.int
	st := C.torch_jit_call(m.h, cm, ptrT(hs), C.int(len(hs)), C.int(s.Mode()), &outs[0], maxOutputs, &n)
	runtime.KeepAlive(inputs)
	if err := statusErr(op, st); err != nil {
		return nil, err
	}
	res := make([]*Tensor, int(n))
	for i := range res {
		res[i] = newTensor(outs[i], s)
	}
	return res, nil
}

// Close frees the module. It is idempotent.
func (m *ScriptModule) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h != nil {
		C.torch_jit_free(m.h)
		m.h = nil
		liveModules.Add(-1)
	}
	return nil
}
