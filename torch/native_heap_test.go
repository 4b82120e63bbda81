package torch_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
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

// A tensor of 16 MiB or more lives on its own huge-page mapping where the kernel offers them:
// whole 2 MiB pages, given back when freed, its values those of any other tensor; smaller ones
// stay with LibTorch's allocator. CSAD_HUGEPAGES=0 turns it off (checked in a child process,
// since the allocator is chosen at start-up).
func TestHugePageTensors(t *testing.T) {
	if os.Getenv("CSAD_HUGEPAGES_CHILD") == "1" {
		x := torch.Ones(nil, []int64{5 << 20}, torch.Float32)
		require.NoError(t, x.Err())
		require.Zero(t, torch.HugePageBytes(), "CSAD_HUGEPAGES=0")
		require.NoError(t, x.Close())
		return
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !(strings.Contains(string(mode), "[always]") || strings.Contains(string(mode), "[madvise]")) {
		require.Zero(t, torch.HugePageBytes(), "no transparent huge pages here (%q, %v)", mode, err)
		t.Skip("the kernel offers no transparent huge pages")
	}
	before := torch.HugePageBytes()
	small := torch.Ones(nil, []int64{3 << 20}, torch.Float32) // 12 MiB: below the threshold
	require.NoError(t, small.Err())
	require.Equal(t, before, torch.HugePageBytes(), "a 12 MiB tensor")
	x := torch.Ones(nil, []int64{(17 << 20) / 4}, torch.Float32) // 17 MiB: 9 huge pages
	require.NoError(t, x.Err())
	require.Equal(t, before+18<<20, torch.HugePageBytes(), "a 17 MiB tensor, in whole 2 MiB pages")
	y := x.MulScalar(3)
	require.NoError(t, y.Err())
	got, err := y.Float32s()
	require.NoError(t, err)
	require.Equal(t, len(got), (17<<20)/4)
	require.False(t, slices.ContainsFunc(got, func(v float32) bool { return v != 3 }), "3·1 in every element")
	require.NoError(t, y.Close())
	require.NoError(t, x.Close())
	require.NoError(t, small.Close())
	require.Equal(t, before, torch.HugePageBytes(), "freed tensors are unmapped")

	cmd := exec.Command(os.Args[0], "-test.run", "^TestHugePageTensors$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CSAD_HUGEPAGES_CHILD=1", "CSAD_HUGEPAGES=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child with CSAD_HUGEPAGES=0:\n%s", out)
	require.Contains(t, string(out), "PASS")
}
