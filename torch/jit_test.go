package torch_test

import (
	"testing"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// A module traced and saved by testdata/gen_golden_train.py runs from Go with identical output
// (tolerance: none).
func TestGoldenTorchScript(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, "../testdata/golden/train.safetensors")
	defer torchtest.UseGoldenThreads(t, meta)()
	m, err := torch.LoadScript("../testdata/golden/net_script.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := s.Own(g["x"].Narrow(0, 1, 1).Squeeze(0))
	out, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("%d outputs, want 1", len(out))
	}
	torchtest.RequireBitwise(t, "script output", out[0], g["script/out"])
	if _, err := m.Call("no_such_method", x); err == nil {
		t.Error("calling a missing method succeeded")
	}
	m.Close()
	if _, err := m.Forward(x); err == nil {
		t.Error("forward after Close succeeded")
	}
}
