package torch_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
)

// On a CUDA build with a device, a convolution on the GPU matches the CPU element by element:
// |gpu − cpu| ≤ atol + rtol·|cpu| with atol = rtol = 1e-3. The inputs are multiples of 1/64 in
// [-2, 2], exact in TF32 as in float32, so algorithms that multiply the inputs directly agree
// to the last bit or nearly; the tolerance leaves room for cuDNN's TF32 (on by default on Ampere
// and later GPUs, as in PyTorch) inside transform-based algorithms. A wrong argument or layout
// gives errors of order 1.
func TestCUDAConv(t *testing.T) {
	if !torch.CUDAAvailable() {
		t.Skipf("no CUDA: LibTorch %s sees no CUDA device (build with LIBTORCH=<a CUDA LibTorch> on a GPU machine)", torch.Version())
	}
	const atol, rtol = 1e-3, 1e-3
	s := torch.NewInferenceScope()
	defer s.Close()
	require.NoError(t, torch.ManualSeed(0))
	exact := func(shape ...int64) *torch.Tensor {
		return torch.Randint(s, -128, 129, shape).To(torch.Float32).DivScalar(64)
	}
	x, w := exact(2, 3, 16, 16), exact(4, 3, 3, 3)
	opts := torch.Conv2dOptions{Padding: [2]int64{1, 1}}
	cpu := x.Conv2d(w, nil, opts)
	gpu := x.ToDevice(torch.CUDA(0)).Conv2d(w.ToDevice(torch.CUDA(0)), nil, opts)
	require.NoError(t, gpu.Err())
	require.Equal(t, torch.DeviceCUDA, gpu.Device().Type, "result on %v", gpu.Device())
	want, err := cpu.Float32s()
	require.NoError(t, err)
	got, err := gpu.ToDevice(torch.CPU).Float32s()
	require.NoError(t, err)
	require.Len(t, got, len(want))
	bad := 0
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > atol+rtol*math.Abs(float64(want[i])) {
			if bad < 5 {
				t.Errorf("element %d: GPU %g, CPU %g (difference %.3g)", i, got[i], want[i], d)
			}
			bad++
		}
	}
	require.Zero(t, bad, "elements outside the tolerance, of %d", len(want))
}
