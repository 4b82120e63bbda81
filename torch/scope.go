package torch

import (
	"sync"
	"sync/atomic"
)

// Mode is the autograd mode under which the operations of a scope run. LibTorch keeps this mode
// per OS thread and goroutines move between threads, so the mode travels with the scope and is
// applied inside each native call, never as a process or thread toggle.
type Mode int

// Modes.
const (
	// GradMode records operations on tensors that require gradients (PyTorch's default).
	GradMode Mode = 0
	// NoGradMode is torch.no_grad(): nothing is recorded.
	NoGradMode Mode = 1
	// InferenceMode is torch.inference_mode(): like NoGradMode and faster, but its results can
	// never take part in autograd later.
	InferenceMode Mode = 2
)

var scopeIDs atomic.Uint64

// Scope owns the tensors created by operations on its tensors and frees them all on Close, so a
// training step or an inference call leaves nothing behind. Rules:
//
//   - The result of an operation belongs to the youngest scope among its tensor operands (the
//     innermost one when scopes are nested); with no scoped operand the caller owns it.
//   - The operation runs in that scope's Mode; with no scoped operand in GradMode.
//   - Keep takes a tensor out of the scope; Own puts one in.
//
// A Scope may be used from several goroutines; its tensors follow the Tensor rules.
type Scope struct {
	mu      sync.Mutex
	id      uint64
	mode    Mode
	tensors []*Tensor
	err     error
	closed  bool
}

// NewScope returns a scope whose operations record gradients.
func NewScope() *Scope { return newScope(GradMode) }

// NewNoGradScope returns a scope whose operations record nothing (torch.no_grad).
func NewNoGradScope() *Scope { return newScope(NoGradMode) }

// NewInferenceScope returns a scope in inference mode (torch.inference_mode).
func NewInferenceScope() *Scope { return newScope(InferenceMode) }

func newScope(m Mode) *Scope {
	s := &Scope{id: scopeIDs.Add(1), mode: m}
	liveScopes.Add(1)
	return s
}

// Mode returns the scope's autograd mode.
func (s *Scope) Mode() Mode {
	if s == nil {
		return GradMode
	}
	return s.mode
}

// Do runs f with a new scope of the given mode and closes it afterwards.
func Do(m Mode, f func(s *Scope) error) error {
	s := newScope(m)
	defer s.Close()
	return f(s)
}

func (s *Scope) usable() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errorf("Scope", CodeClosed, "scope is closed")
	}
	return nil
}

func (s *Scope) add(t *Tensor) {
	s.mu.Lock()
	t.scope = s
	s.tensors = append(s.tensors, t)
	s.mu.Unlock()
}

func (s *Scope) noteErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Err returns the first error of an operation whose result belongs to this scope.
func (s *Scope) Err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Len is the number of tensors the scope owns (closed ones included until the scope is closed).
func (s *Scope) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tensors)
}

// Keep removes t from its scope and returns it: the caller now owns it and must Close it.
func (s *Scope) Keep(t *Tensor) *Tensor {
	if t == nil || t.scope != s || s == nil {
		return t
	}
	s.mu.Lock()
	for i, u := range s.tensors {
		if u == t {
			s.tensors[i] = nil
			break
		}
	}
	t.scope = nil
	s.mu.Unlock()
	return t
}

// Own moves t into s (from the caller or from another scope) and returns it.
func (s *Scope) Own(t *Tensor) *Tensor {
	if t == nil || s == nil || t.scope == s {
		return t
	}
	if t.scope != nil {
		t.scope.Keep(t)
	}
	s.add(t)
	return t
}

// Close frees every tensor the scope still owns. It is idempotent.
func (s *Scope) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ts := s.tensors
	s.tensors = nil
	s.mu.Unlock()
	for _, t := range ts {
		if t != nil {
			t.Close()
			t.scope = nil
		}
	}
	liveScopes.Add(-1)
	return nil
}

// resultScope picks the youngest scope among the operands.
func resultScope(ts []*Tensor) *Scope {
	var best *Scope
	for _, t := range ts {
		if t != nil && t.scope != nil && (best == nil || t.scope.id > best.id) {
			best = t.scope
		}
	}
	return best
}

// Block runs f on handles to in that belong to a temporary child scope, so every intermediate
// f creates is freed when Block returns; only the tensors f returns survive, moved to the
// youngest scope among in (or, when none has a scope, to the caller). It bounds the memory of a
// long forward pass to what one block needs, as PyTorch's reference counting does.
func Block(f func(in []*Tensor) []*Tensor, in ...*Tensor) []*Tensor {
	outer := resultScope(in)
	tmp := newScope(outer.Mode())
	defer tmp.Close()
	shared := make([]*Tensor, len(in))
	for i, t := range in {
		shared[i] = t.Share(tmp)
	}
	out := f(shared)
	for _, o := range out {
		if o != nil && o.scope == tmp {
			tmp.Keep(o)
			outer.Own(o)
		}
	}
	return out
}

// Chain applies steps one after another, each in its own Block, freeing each intermediate result
// as soon as the next step has consumed it. The result lives where Block puts it.
func Chain(x *Tensor, steps ...func(*Tensor) *Tensor) *Tensor {
	cur := x
	for _, step := range steps {
		next := Block(func(in []*Tensor) []*Tensor { return []*Tensor{step(in[0])} }, cur)[0]
		if cur != x {
			cur.Close()
		}
		cur = next
	}
	return cur
}
