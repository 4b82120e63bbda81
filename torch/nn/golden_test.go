package nn_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/torchtest"
)

// trainGolden is made on this machine by testdata/gen_golden_train.py (torchtest.GoldenDir).
func trainGolden(t *testing.T) string {
	return filepath.Join(torchtest.GoldenDir(t, "../../testdata", "gen_golden_train.py"), "train.safetensors")
}

// Default initialisation after torch.manual_seed(0) is identical to PyTorch's, bit for bit
// (tolerance: none), and names and order of the state dict are PyTorch's.
func TestGoldenDefaultInit(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, trainGolden(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	if err := torch.ManualSeed(0); err != nil {
		t.Fatal(err)
	}
	net := torchtest.NewNet()
	defer nn.Close(net)
	if err := nn.Err(net); err != nil {
		t.Fatal(err)
	}
	sd := nn.StateDict(net)
	var want []string
	for name := range g {
		if strings.HasPrefix(name, "init/") {
			want = append(want, name)
		}
	}
	if len(sd) != len(want) {
		t.Fatalf("state dict has %d entries, PyTorch's has %d", len(sd), len(want))
	}
	for _, n := range sd {
		w, ok := g["init/"+n.Name]
		if !ok {
			t.Errorf("%s is not in PyTorch's state dict", n.Name)
			continue
		}
		torchtest.RequireBitwise(t, n.Name, n.Tensor, w)
	}
}

func TestLoadStateDictErrors(t *testing.T) {
	net := torchtest.NewNet()
	defer nn.Close(net)
	s := torch.NewScope()
	defer s.Close()
	sd := []nn.Named{
		{Name: "head.weight", Tensor: torch.Zeros(s, []int64{3, 6}, torch.Float32)},
		{Name: "head.extra", Tensor: torch.Zeros(s, []int64{1}, torch.Float32)},
	}
	err := nn.LoadStateDict(net, sd, true)
	if err == nil {
		t.Fatal("mismatched state dict loaded")
	}
	msg := err.Error()
	for _, want := range []string{"missing keys (14)", "features.0.weight", "unexpected keys (1): head.extra",
		"head.weight: checkpoint [3 6] vs model [2 6]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestStateDictRoundTripThroughFile(t *testing.T) {
	if err := torch.ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	a, b := torchtest.NewNet(), torchtest.NewNet()
	defer nn.Close(a)
	defer nn.Close(b)
	path := t.TempDir() + "/net.pth"
	if err := torch.SaveTensors(path, nn.StateDict(a)); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	loaded, err := torch.LoadTensors(s, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.LoadStateDict(b, loaded, true); err != nil {
		t.Fatal(err)
	}
	bs := nn.StateDict(b)
	for i, n := range nn.StateDict(a) {
		torchtest.RequireBitwise(t, n.Name, bs[i].Tensor, n.Tensor)
	}
}
