package torch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Len counts open tensors; this checks the list behind it. Closing the oldest of a window of
// tensors leaves holes at the front, which compaction must reclaim: the list stays within twice
// the open tensors plus compactMin, and its array is given back after a burst.
func TestScopeListStaysBounded(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	const window = 100
	var open []*Tensor
	longest := 0
	for range 20_000 {
		x := Zeros(s, []int64{1}, Float32)
		require.NoError(t, x.Err())
		open = append(open, x)
		if len(open) > window {
			require.NoError(t, open[0].Close())
			open = open[1:]
		}
		s.mu.Lock()
		longest = max(longest, len(s.tensors))
		s.mu.Unlock()
	}
	assert.LessOrEqual(t, longest, 2*window+compactMin+1, "the scope's list grew with closed tensors")
	for i, x := range open {
		assert.Same(t, x, s.tensors[x.slot], "tensor %d is not in its slot after compaction", i)
	}

	// A burst of 10,000 tensors, all closed again: the array shrinks back.
	burst := make([]*Tensor, 10_000)
	for i := range burst {
		burst[i] = Zeros(s, []int64{1}, Float32)
	}
	for _, x := range burst {
		require.NoError(t, x.Close())
	}
	s.mu.Lock()
	c := cap(s.tensors)
	s.mu.Unlock()
	assert.LessOrEqual(t, c, 4*(window+compactMin), "a burst's array stayed allocated")
	assert.Equal(t, window, s.Len())
}
