package torchtest_test

import (
	"errors"
	"sync/atomic"
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

// CaseInts reads exactly the fields asked for; RunCallers makes every call of every caller and
// reports the first caller's failure by its number.
func TestCaseIntsAndRunCallers(t *testing.T) {
	v, err := torchtest.CaseInts("8,0,32", 3)
	require.NoError(t, err)
	assert.Equal(t, []int{8, 0, 32}, v)
	_, err = torchtest.CaseInts("8,0", 3)
	assert.ErrorContains(t, err, "has 2 fields, want 3")
	_, err = torchtest.CaseInts("8,x,1", 3)
	assert.ErrorContains(t, err, `case "8,x,1"`)

	var made [4]atomic.Int32
	perS, err := torchtest.RunCallers(4, 5, func(c int) error { made[c].Add(1); return nil })
	require.NoError(t, err)
	assert.Positive(t, perS)
	for c := range made {
		assert.Equal(t, int32(5), made[c].Load(), "caller %d", c)
	}
	_, err = torchtest.RunCallers(3, 2, func(c int) error {
		if c >= 1 {
			return errors.New("busy")
		}
		return nil
	})
	assert.EqualError(t, err, "caller 1: busy")
}
