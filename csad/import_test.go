package csad_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/torchtest"
)

// A torchvision/timm-style checkpoint (encoder names without prefix, plus layer4 and fc) loads
// into the encoder; layer4 and fc are dropped, the rest must match exactly.
func TestLoadEncoderWeights(t *testing.T) {
	src, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := torch.NewScope()
	defer s.Close()
	var tv []torch.Named
	for _, n := range nn.StateDict(src.Encoder) {
		tv = append(tv, n)
	}
	tv = append(tv,
		torch.Named{Name: "layer4.0.conv1.weight", Tensor: torch.Zeros(s, []int64{4, 64, 1, 1}, torch.Float32)},
		torch.Named{Name: "fc.weight", Tensor: torch.Zeros(s, []int64{10, 64}, torch.Float32)},
		torch.Named{Name: "fc.bias", Tensor: torch.Zeros(s, []int64{10}, torch.Float32)})
	path := filepath.Join(t.TempDir(), "wide_resnet.pth")
	if err := torch.SaveTensors(path, tv); err != nil {
		t.Fatal(err)
	}
	dst, err := csad.NewNetwork(src.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := csad.LoadEncoderWeights(dst, path); err != nil {
		t.Fatal(err)
	}
	want := nn.StateDict(src.Encoder)
	for i, n := range nn.StateDict(dst.Encoder) {
		torchtest.RequireBitwise(t, n.Name, n.Tensor, want[i].Tensor)
	}
	// Weights of another architecture name the keys that do not fit.
	bad := filepath.Join(t.TempDir(), "bad.pth")
	if err := torch.SaveTensors(bad, tv[:3]); err != nil {
		t.Fatal(err)
	}
	if err := csad.LoadEncoderWeights(dst, bad); err == nil || !strings.Contains(err.Error(), "missing keys") {
		t.Errorf("partial encoder weights: %v", err)
	}
}
