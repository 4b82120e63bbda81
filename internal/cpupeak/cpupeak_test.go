package cpupeak

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKernelRunsEveryFMA: with a = a·1 + 1 every lane of every chain counts its iterations
// exactly (below 2^24), so the sum says whether each multiply-add ran: a kernel that the
// compiler shortened, or that ran fewer chains or lanes than Measure counts, fails.
func TestKernelRunsEveryFMA(t *testing.T) {
	lanes := Lanes()
	if lanes == 0 {
		t.Skip(ErrNoKernel)
	}
	for _, n := range []int64{0, 1, 7, 1000, 1 << 20} {
		assert.Equal(t, float64(Chains*lanes)*float64(n), run(lanes, n, 1, 1), "n = %d", n)
	}
	// m and c reach every lane: 0·m + 2 once is 2 in each.
	assert.Equal(t, float64(Chains*lanes)*2, run(lanes, 1, 3, 2))
	assert.Equal(t, -1.0, run(3, 10, 1, 1), "a lane count without a kernel")
}

func TestMeasure(t *testing.T) {
	if Lanes() == 0 {
		_, err := Measure(1, time.Millisecond)
		require.ErrorIs(t, err, ErrNoKernel)
		return
	}
	p, err := Measure(1, 20*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Threads)
	assert.Contains(t, []string{"avx2 fma", "avx512f"}, p.Kernel)
	// A rate, not a speed target: positive and below one FMA vector per picosecond.
	assert.Greater(t, p.GFLOPS, 0.0)
	assert.Less(t, p.GFLOPS, 2*float64(p.Lanes)*1e3)
	_, err = Measure(0, time.Millisecond)
	assert.ErrorContains(t, err, "at least one thread")
}
