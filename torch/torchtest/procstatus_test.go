package torchtest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch/torchtest"
)

// The current RSS is what statm reports (the two reads a moment apart), the peak is there too
// (the kernel updates it lazily, so it can trail the current figure by a few pages); a key that
// /proc/self/status does not have is an error, not 0.
func TestProcStatusBytes(t *testing.T) {
	hwm, err := torchtest.ProcStatusBytes("VmHWM")
	require.NoError(t, err)
	rss, err := torchtest.ProcStatusBytes("VmRSS")
	require.NoError(t, err)
	statm, err := torchtest.ReadRSS()
	require.NoError(t, err)
	assert.Positive(t, rss)
	assert.Positive(t, hwm)
	assert.InDelta(t, float64(statm), float64(rss), float64(64<<20), "statm and status disagree")
	_, err = torchtest.ProcStatusBytes("VmNoSuchLine")
	assert.ErrorContains(t, err, "no VmNoSuchLine line")
}
