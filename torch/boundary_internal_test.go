package torch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A std::bad_alloc thrown inside the shim comes back as an out-of-memory status with the shim's
// static message, not as a crash and not as a message built while memory is short. The shim is
// made to reserve a list of 2^55 tensors (2^59 bytes, more than any address space), which only a
// corrupted argument could ask for.
func TestShimBadAllocIsAnError(t *testing.T) {
	x := newArgs().ts(nil).i(0)
	x.b[0] = 1 << 55
	r := opCat.call1(x)
	err := r.Err()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrOutOfMemory)
	assert.EqualError(t, err, "torch: aten::cat: out of memory: a host allocation failed "+
		"(std::bad_alloc); free memory or use smaller inputs")
}
