package torch

import (
	"runtime"
	"slices"
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
//   - Closing a tensor early takes it out too, so a scope that lives for a whole program holds
//     only what is still open.
//
// A Scope may be used from several goroutines; its tensors follow the Tensor rules.
type Scope struct {
	mu      sync.Mutex
	id      uint64
	mode    Mode
	tensors []*Tensor // owned tensors; nil marks the slot of one closed or kept since
	holes   int       // nil slots in tensors
	err     error
	closed  bool
}

// compactMin is the number of holes below which a scope does not bother compacting: small
// scopes stay as they are, big ones are compacted once half their slots are holes, which keeps
// removal amortised O(1) and the list at most twice the open tensors (plus compactMin).
const compactMin = 64

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
	// f's native calls all go through one OS thread (see StayOnThread).
	defer StayOnThread()()
	s := newScope(m)
	defer s.Close()
	return f(s)
}

// StayOnThread keeps the calling goroutine on its OS thread until the returned function runs:
// defer torch.StayOnThread()() around a training loop, a camera's scoring loop or a single
// forward pass. Go may resume a goroutine on another thread after any cgo call, and does so
// readily once it has blocked (on a channel, a pipe, a lock); LibTorch's work then moves to
// another core with cold caches and to another OpenMP team (libgomp keeps one per calling
// thread). Measured on a 5-convolution training step of 8 channels at 16 px, 2 threads, in
// blocks of 8 steps alternating with PyTorch's: 4.2–4.7 ms a step with the whole loop on one
// thread against 5.6–7.1 ms with each step on one thread but the loop free to move (1–4 % for
// a step alone). Do, the csad scorer, the trainers' steps and their loops (train.Train,
// TrainLGST, TrainSegmentor) use it; nesting is allowed.
func StayOnThread() (release func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// usable reports whether op may put results into s.
func (s *Scope) usable(op string) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errorf(op, CodeClosed, "its results would belong to a closed scope; create them in an open one")
	}
	return nil
}

func (s *Scope) add(t *Tensor) {
	s.mu.Lock()
	if s.closed {
		// Another goroutine closed s after the caller checked it: t cannot join, and is freed
		// now rather than left to the garbage collector.
		s.mu.Unlock()
		t.Close()
		return
	}
	t.scope = s
	t.slot = len(s.tensors)
	s.tensors = append(s.tensors, t)
	s.mu.Unlock()
}

// remove takes t out of s (Close and Keep call it).
func (s *Scope) remove(t *Tensor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.scope != s {
		return
	}
	t.scope = nil
	i := t.slot
	if i >= len(s.tensors) || s.tensors[i] != t {
		return
	}
	s.tensors[i] = nil
	s.holes++
	// Tensors are mostly closed in reverse order of creation, which shrinks the list from the end.
	n := len(s.tensors)
	for n > 0 && s.tensors[n-1] == nil {
		n--
		s.holes--
	}
	s.tensors = s.tensors[:n]
	if s.holes >= compactMin && 2*s.holes >= len(s.tensors) {
		s.compact()
	}
	if c := cap(s.tensors); c > 4*compactMin && c > 4*len(s.tensors) {
		// Give back the array a burst of tensors left behind.
		s.tensors = slices.Clone(s.tensors)
	}
}

// compact closes the holes, keeping creation order; s.mu is held.
func (s *Scope) compact() {
	n := 0
	for _, u := range s.tensors {
		if u != nil {
			u.slot = n
			s.tensors[n] = u
			n++
		}
	}
	clear(s.tensors[n:])
	s.tensors = s.tensors[:n]
	s.holes = 0
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

// Len is the number of tensors the scope owns: those created in it and not closed, kept or moved
// since (0 for a nil scope).
func (s *Scope) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tensors) - s.holes
}

// Keep removes t from its scope and returns it: the caller now owns it and must Close it.
func (s *Scope) Keep(t *Tensor) *Tensor {
	if t == nil || s == nil || t.scope != s {
		return t
	}
	s.remove(t)
	return t
}

// Own moves t into s (from the caller or from another scope) and returns it. A closed tensor
// has nothing left to own and stays out; a tensor given to a closed scope is freed at once, as
// the scope's Close would have freed it.
func (s *Scope) Own(t *Tensor) *Tensor {
	if t == nil || s == nil || t.scope == s || t.closed {
		return t
	}
	if t.scope != nil {
		t.scope.remove(t)
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
	s.tensors, s.holes = nil, 0
	for _, t := range ts {
		if t != nil {
			t.scope = nil
		}
	}
	s.mu.Unlock()
	for _, t := range ts {
		if t != nil {
			t.Close()
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
