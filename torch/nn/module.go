package nn

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/csad-go/csad/torch"
)

// Layer is anything built on Module: embed nn.Module in a struct, register parameters, buffers
// and children in its constructor, and the functions of this package (StateDict, Parameters,
// SetTraining, Close...) walk it the way PyTorch walks an nn.Module.
type Layer interface {
	Base() *Module
}

// Forwarder is a Layer with a single-input forward pass.
type Forwarder interface {
	Layer
	Forward(x *torch.Tensor) *torch.Tensor
}

// Named pairs a PyTorch-style dotted name with a tensor.
type Named = torch.Named

type child struct {
	name  string
	layer Layer
}

// Module holds what torch.nn.Module holds: parameters, buffers and child modules, each in
// registration order (which fixes the order of state dicts, as in PyTorch), and the training
// flag. Tensors registered here are owned by the module and freed by Close.
type Module struct {
	params   []Named
	buffers  []Named
	children []child
	eval     bool // zero value = training, like a fresh PyTorch module
}

// Base returns m; it makes every struct that embeds Module a Layer.
func (m *Module) Base() *Module { return m }

// RegisterParameter adds a trainable tensor under name and turns on its gradient. The module
// owns t from now on.
func (m *Module) RegisterParameter(name string, t *torch.Tensor) *torch.Tensor {
	if t != nil {
		t.SetRequiresGrad(true)
	}
	m.params = append(m.params, Named{Name: name, Tensor: t})
	return t
}

// RegisterBuffer adds a state tensor (running statistics) under name; buffers are saved in
// state dicts but not trained. The module owns t.
func (m *Module) RegisterBuffer(name string, t *torch.Tensor) *torch.Tensor {
	m.buffers = append(m.buffers, Named{Name: name, Tensor: t})
	return t
}

// RegisterModule adds a child under name and returns it.
func RegisterModule[L Layer](m *Module, name string, l L) L {
	m.children = append(m.children, child{name, l})
	return l
}

// Training reports whether the module is in training mode.
func (m *Module) Training() bool { return !m.eval }

// Err returns the first error carried by a parameter or buffer of l (construction failures
// surface here).
func Err(l Layer) error {
	for _, n := range StateDict(l) {
		if err := n.Tensor.Err(); err != nil {
			return fmt.Errorf("nn: %s: %w", n.Name, err)
		}
	}
	return nil
}

func walk(prefix string, l Layer, f func(prefix string, m *Module)) {
	m := l.Base()
	f(prefix, m)
	for _, c := range m.children {
		walk(prefix+c.name+".", c.layer, f)
	}
}

// Parameters returns every parameter of l and its descendants with dotted names, in PyTorch's
// named_parameters() order.
func Parameters(l Layer) []Named {
	var out []Named
	walk("", l, func(p string, m *Module) {
		for _, n := range m.params {
			if n.Tensor != nil {
				out = append(out, Named{Name: p + n.Name, Tensor: n.Tensor})
			}
		}
	})
	return out
}

// StateDict returns parameters and buffers with dotted names in PyTorch's state_dict() order.
// The tensors are the module's own (not copies): do not close them.
func StateDict(l Layer) []Named {
	var out []Named
	walk("", l, func(p string, m *Module) {
		for _, n := range m.params {
			if n.Tensor != nil {
				out = append(out, Named{Name: p + n.Name, Tensor: n.Tensor})
			}
		}
		for _, n := range m.buffers {
			if n.Tensor != nil {
				out = append(out, Named{Name: p + n.Name, Tensor: n.Tensor})
			}
		}
	})
	return out
}

// LoadError lists what did not fit when loading a state dict.
type LoadError struct {
	Missing    []string // in the module, not in the state dict
	Unexpected []string // in the state dict, not in the module
	Mismatched []string // "name: checkpoint [..] vs model [..]"
	Failed     []string // failed tensors (before copying) and copy failures
}

func (e *LoadError) Error() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d): %s", what, len(names), strings.Join(names, ", ")))
		}
	}
	add("missing keys", e.Missing)
	add("unexpected keys", e.Unexpected)
	add("shape mismatch", e.Mismatched)
	add("failed", e.Failed)
	return "nn: state dict does not fit the model: " + strings.Join(parts, "; ")
}

// LoadStateDict copies values from sd into l's parameters and buffers, matched by name. With
// strict, any missing or unexpected key fails the load (PyTorch's load_state_dict(strict=True));
// shape mismatches always fail. Nothing is copied unless everything fits.
func LoadStateDict(l Layer, sd []Named, strict bool) error {
	own := StateDict(l)
	byName := make(map[string]*torch.Tensor, len(sd))
	for _, n := range sd {
		byName[n.Name] = n.Tensor
	}
	ownNames := make(map[string]bool, len(own))
	e := &LoadError{}
	for _, n := range own {
		ownNames[n.Name] = true
		src, ok := byName[n.Name]
		if !ok {
			e.Missing = append(e.Missing, n.Name)
			continue
		}
		if err := errors.Join(n.Tensor.Err(), src.Err()); err != nil {
			// A failed tensor has no shape to compare; its error is the one to report.
			e.Failed = append(e.Failed, n.Name+": "+err.Error())
			continue
		}
		if got, want := src.Shape(), n.Tensor.Shape(); !equalShape(got, want) {
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s: checkpoint %v vs model %v", n.Name, got, want))
		}
	}
	for _, n := range sd {
		if !ownNames[n.Name] {
			e.Unexpected = append(e.Unexpected, n.Name)
		}
	}
	sort.Strings(e.Unexpected)
	if len(e.Mismatched) > 0 || len(e.Failed) > 0 || (strict && (len(e.Missing) > 0 || len(e.Unexpected) > 0)) {
		return e
	}
	for _, n := range own {
		if src, ok := byName[n.Name]; ok {
			if err := n.Tensor.Assign(src); err != nil {
				e.Failed = append(e.Failed, n.Name+": "+err.Error())
			}
		}
	}
	if len(e.Failed) > 0 {
		return e
	}
	return nil
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SetTraining switches l and its descendants between training and evaluation mode
// (module.train(on) / module.eval()).
func SetTraining(l Layer, on bool) {
	walk("", l, func(_ string, m *Module) { m.eval = !on })
}

// ZeroGrad drops the gradients of all parameters (optimizer.zero_grad(set_to_none=True)).
func ZeroGrad(l Layer) error {
	var errs []error
	for _, p := range Parameters(l) {
		errs = append(errs, p.Tensor.ZeroGrad())
	}
	return errors.Join(errs...)
}

// Close frees every parameter and buffer of l and its descendants. It is idempotent.
func Close(l Layer) error {
	walk("", l, func(_ string, m *Module) {
		for _, n := range m.params {
			n.Tensor.Close()
		}
		for _, n := range m.buffers {
			n.Tensor.Close()
		}
	})
	return nil
}
