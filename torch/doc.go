// Package torch is csad-go's own cgo binding of LibTorch: tensors, the operators CSAD needs,
// autograd, random numbers, checkpoint and TorchScript I/O. Layers live in torch/nn, optimizers
// in torch/optim, the pure-Go checkpoint formats in torch/checkpoint.
//
// # Numerics
//
// Every operator calls, through LibTorch's dispatcher, the ATen operator that the corresponding
// Python function calls, with the same defaults: on the same LibTorch the results are PyTorch's
// bit for bit (the golden tests check 198 cases). ManualSeed reproduces Python's random streams.
//
// # Ownership
//
// Native memory is invisible to Go's garbage collector, so it is freed deterministically:
//
//   - Every Tensor and ScriptModule has an idempotent Close.
//   - A Scope owns the tensors produced by operations on its tensors (the youngest scope among the
//     operands) and frees them all on Close. Keep takes a tensor out, Own puts one in. Factories
//     (FromSlice, Zeros, Randn, ...) take the owning scope first; nil means the caller owns it.
//     Closing a tensor early takes it out of its scope, so one scope can serve a whole program.
//   - A Frame is how a forward or training pass bounds its memory: each module's Forward opens
//     one, brings inputs in with Use, hands outputs back with Return (to the caller's scope) and
//     closes it, freeing the rest; Next drops a layer's input once the next layer has run.
//   - Garbage-collector cleanups free forgotten tensors as a last resort and count them as leaks:
//     Live reports live tensors, scopes and modules, and tests fail when any remain
//     (torchtest.Main); the leakcheck build tag adds the creating stack of each.
//
// # Errors
//
// No C++ exception crosses the C boundary: every shim entry point is noexcept, catching at the
// boundary and answering with a status whose handlers allocate nothing with new. Failures are
// *Error values (Op, Code, Msg) that match the sentinels (ErrInvalid, ErrOutOfMemory, ...) with
// errors.Is; a use after close names the operation attempted. Operators return a *Tensor that
// carries the error of a failed operation; later operations pass it on and Err, Item, Data, Size
// and Scope.Err report it, the contract of tensorflow/go's op.Scope. Shape is nil for such a
// tensor: read single dimensions with Size, which returns the error.
//
// # Threads
//
// A Tensor may be used from any goroutine, but not written by two at once; a Scope may be shared.
// Grad mode belongs to the scope (NewScope, NewNoGradScope, NewInferenceScope) and is applied
// inside each native call, because goroutines change OS threads and LibTorch's mode is per thread.
// SetNumThreads sets the intra-op thread count for the process; the shim applies it on every OS
// thread that makes a call.
//
// # Memory and speed
//
// LibTorch's CPU tensors come from glibc's malloc, whose defaults cost a Go program dearly: a
// goroutine's calls land on several OS threads, each with its own malloc arena caching its own
// freed blocks, and freed blocks of tens of MiB go back to the system and are faulted in again
// on the next call. The shim therefore sets, when the program starts, one arena, a 16 MiB mmap
// threshold and a 1 GiB trim threshold (a process keeps what it has used, never more than its
// peak); MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or the glibc.malloc
// tunables override them. Tensors of 16 MiB or more get mappings of their own on transparent
// huge pages, unmapped when freed (HugePageBytes; CSAD_HUGEPAGES=0 at start-up turns it off):
// the kernel faults them in 2 MiB at a time instead of 4 KiB. OpenSafetensors reads a file's tensors straight into LibTorch's memory
// (a model is held once while it loads). Counts and SetOpTiming/OpStats report what code costs
// in operator calls and where their time goes; docs/performance.md has the profile.
package torch
