//go:build !leakcheck

package torch

func trackAlloc(*Tensor)   {}
func untrackAlloc(*Tensor) {}

// LeakReport describes native objects still alive. Without the leakcheck build tag it has counts
// only; build with -tags leakcheck to also get the stack that created each live tensor.
func LeakReport() string { return Live().String() }

// LeakChecking reports whether the leakcheck build tag is on.
const LeakChecking = false
