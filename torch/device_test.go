package torch_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
)

func TestParseDevice(t *testing.T) {
	for _, s := range []string{"", "cpu"} {
		d, err := torch.ParseDevice(s)
		require.NoError(t, err)
		require.True(t, d.Equal(torch.CPU))
	}
	for _, s := range []string{"gpu", "cuda:x", "cuda:-1", "tpu:0"} {
		_, err := torch.ParseDevice(s)
		require.ErrorContains(t, err, "want cpu, cuda or cuda:N", s)
	}
	if torch.CUDAAvailable() {
		d, err := torch.ParseDevice("cuda")
		require.NoError(t, err)
		require.True(t, d.Equal(torch.CUDA(0)))
		return
	}
	// Without CUDA the request is refused up front, naming what is missing and the fix.
	_, err := torch.ParseDevice("cuda:0")
	require.ErrorContains(t, err, "no CUDA support or sees no GPU")
	require.ErrorContains(t, err, "LIBTORCH")
}
