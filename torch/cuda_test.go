package torch_test

import (
	"testing"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// On a CUDA build with a device, a convolution on the GPU matches the CPU within float32
// tolerance (1e-5 relative; cuDNN picks other algorithms than oneDNN).
func TestCUDAConv(t *testing.T) {
	if !torch.CUDAAvailable() {
		t.Skipf("no CUDA: LibTorch %s sees no CUDA device (build with LIBTORCH=<a CUDA LibTorch> on a GPU machine)", torch.Version())
	}
	s := torch.NewInferenceScope()
	defer s.Close()
	torch.ManualSeed(0)
	x := torch.Randn(s, []int64{2, 3, 16, 16}, torch.Float32)
	w := torch.Randn(s, []int64{4, 3, 3, 3}, torch.Float32)
	cpu := x.Conv2d(w, nil, torch.Conv2dOptions{Padding: [2]int64{1, 1}})
	gpu := x.ToDevice(torch.CUDA(0)).Conv2d(w.ToDevice(torch.CUDA(0)), nil, torch.Conv2dOptions{Padding: [2]int64{1, 1}})
	if got := gpu.Device(); got.Type != torch.DeviceCUDA {
		t.Fatalf("result on %v", got)
	}
	d, err := torchtest.Compare(gpu.ToDevice(torch.CPU), cpu)
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxRel > 1e-5 && d.MaxAbs > 1e-5 {
		t.Errorf("GPU vs CPU: %v", d)
	}
}
