package torch_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
)

// NativeHeapBytes sees a tensor's storage when it is made and not after it is freed: the measure
// the memory benchmarks use to show that a call leaves nothing behind.
func TestNativeHeapBytesFollowsTensors(t *testing.T) {
	before, ok := torch.NativeHeapBytes()
	if !ok {
		t.Skip("the C library cannot report its heap (not glibc 2.33 or later)")
	}
	const n = 8 << 20 // float32 elements: 32 MiB, above the mmap threshold
	x := torch.Zeros(nil, []int64{n}, torch.Float32)
	require.NoError(t, x.Err())
	held, ok := torch.NativeHeapBytes()
	require.True(t, ok)
	require.GreaterOrEqual(t, held-before, int64(4*n), "a 32 MiB tensor must show in the native heap")
	// Blocks below the mmap threshold come from the heap proper: a smaller tensor shows too.
	y := torch.Zeros(nil, []int64{1 << 18}, torch.Float32) // 1 MiB
	require.NoError(t, y.Err())
	held2, ok := torch.NativeHeapBytes()
	require.True(t, ok)
	require.GreaterOrEqual(t, held2-held, int64(1<<20))
	require.NoError(t, y.Close())
	require.NoError(t, x.Close())
	after, ok := torch.NativeHeapBytes()
	require.True(t, ok)
	// The tensors' storage is given back; what else the process allocates meanwhile (Go's
	// runtime does not use malloc, but cgo's thread start-up does) stays far below a tensor.
	require.Less(t, after-before, int64(1<<20), "freed tensors must leave the native heap: before %d, after %d", before, after)
}
