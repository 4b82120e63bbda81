package csad_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/torchtest"
)

// goldenInput regenerates the reference input: torch.randn(shape) right after
// torch.manual_seed(seed), recorded in the golden metadata.
func goldenInput(t *testing.T, s *torch.Scope, meta map[string]string) *torch.Tensor {
	t.Helper()
	seed, err := strconv.ParseUint(meta["input_seed"], 10, 64)
	if err != nil {
		t.Fatalf("golden input_seed %q: %v", meta["input_seed"], err)
	}
	var shape []int64
	for _, f := range strings.Split(meta["input_shape"], ",") {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("golden input_shape %q: %v", meta["input_shape"], err)
		}
		shape = append(shape, v)
	}
	if err := torch.ManualSeed(seed); err != nil {
		t.Fatal(err)
	}
	return torch.Randn(s, shape, torch.Float32)
}

// checkOutputs compares a forward pass with the reference. exact: every output bitwise equal.
// Otherwise (fast mode) the bar: normalised maps within 1e-5 absolute,
// branch scores within 1e-5 relative, segmentation and patch-histogram values identical, and the
// fused score within what its formula z(lgst) + z(ph) makes of the LGST error, plus 1e-6 of
// rounding (relative to max(|score|, 1), the fused score being in units of standard deviations).
func checkOutputs(t *testing.T, o csad.Outputs, g map[string]*torch.Tensor, lgstStd float64, exact bool) {
	t.Helper()
	cmp := func(name string, got *torch.Tensor) torchtest.Diff {
		want, ok := g[name]
		if !ok {
			t.Fatalf("golden has no %q", name)
		}
		d, err := torchtest.Compare(got.To(want.DType()), want)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%-6s %v", name, d)
		if exact && !d.Bitwise {
			t.Errorf("%s: not bitwise equal to PyTorch: %v", name, d)
		}
		return d
	}
	for _, c := range []struct {
		name string
		got  *torch.Tensor
	}{{"seg", o.Labels.To(torch.Uint8)}, {"d256", o.D256}, {"d128", o.D128}, {"ph", o.PatchHist}} {
		if d := cmp(c.name, c.got); !d.Bitwise {
			t.Errorf("%s differs: %v", c.name, d)
		}
	}
	for _, c := range []struct {
		name string
		got  *torch.Tensor
	}{{"m_l", o.Local}, {"m_g", o.Global}} {
		if d := cmp(c.name, c.got); d.MaxAbs > fastMapTol {
			t.Errorf("%s: absolute error %.3g > %g", c.name, d.MaxAbs, fastMapTol)
		}
	}
	dl := cmp("lgst", o.LGST)
	if dl.MaxRel > fastScoreTol {
		t.Errorf("lgst: relative error %.3g > %g", dl.MaxRel, fastScoreTol)
	}
	cmp("output", o.Score)
	got, err := o.Score.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	want, err := g["output"].Float64s()
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		bound := dl.MaxAbs/lgstStd + 1e-6*max(math.Abs(want[i]), 1)
		if d := math.Abs(got[i] - want[i]); d > bound {
			t.Errorf("fused score %d: |%v − %v| = %.3g > %.3g", i, got[i], want[i], d, bound)
		}
	}
}

// Fast (channels-last) mode tolerances, as the README states them: the maps within 1e-6
// absolute, the LGST score within 1e-6 relative (measured: 7.5e-8 and 1.7e-7).
const (
	fastMapTol   = 1e-6
	fastScoreTol = 1e-6
)

// runGolden imports the reference checkpoint, runs the reference input in one batch and
// compares: exact (bitwise) and channels-last (within tolerance, segmentation identical).
func runGolden(t *testing.T, pth, golden string) {
	s := torch.NewInferenceScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, golden)
	defer torchtest.UseGoldenThreads(t, meta)()
	want, err := csad.ParseConfig([]byte(meta["config"]))
	if err != nil {
		t.Fatal(err)
	}
	net, err := csad.ImportUnified(pth)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if fmt.Sprint(net.Config()) != fmt.Sprint(want) {
		t.Fatalf("inferred config %+v, reference %+v", net.Config(), want)
	}
	x := goldenInput(t, s, meta)
	lgstStd, err := net.LGSTStd.Item()
	if err != nil {
		t.Fatal(err)
	}
	forward := func(t *testing.T) csad.Outputs {
		o, err := net.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	var exact csad.Outputs
	t.Run("exact", func(t *testing.T) { exact = forward(t); checkOutputs(t, exact, g, lgstStd, true) })
	if err := net.UseChannelsLast(); err != nil {
		t.Fatal(err)
	}
	// Fast mode against the exact pass just checked, within fast_test.go's tolerances.
	t.Run("fast", func(t *testing.T) { compareFast(t, net, exact, forward(t)).check(t) })
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

// smallGolden is the reference's outputs for the committed reduced-width model, made on this
// machine (testdata/gen_model_golden.py --outputs): LibTorch's CPU kernels round differently on
// different instruction sets, in Python as in Go.
func smallGolden(t *testing.T) string {
	return filepath.Join(torchtest.GoldenDir(t, "../testdata", "gen_model_golden.py", "--outputs"), "model_small.safetensors")
}

// The reduced-width reference model (testdata/gen_model_golden.py) imports and scores like
// PyTorch.
func TestGoldenSmallModel(t *testing.T) {
	runGolden(t, "../testdata/golden/model_small.pth", smallGolden(t))
}

// The paper-size model, generated on the fly by the reference script (about a minute).
func TestGoldenPaperModel(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("/usr/bin/python3", "../testdata/gen_model_golden.py", "--full", dir)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference script failed (needs Debian's python3-torch and python3-torchvision: run 'make setup'): %v\n%s", err, out)
	}
	runGolden(t, filepath.Join(dir, "model_full.pth"), filepath.Join(dir, "model_full.safetensors"))
}

// PDN_M, defined by CSAD but unused by it, matches the reference too (bitwise).
func TestGoldenPDNM(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, smallGolden(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	cfg, err := csad.ParseConfig([]byte(meta["pdn_config"]))
	if err != nil {
		t.Fatal(err)
	}
	p := csad.NewPDNM(cfg)
	defer nn.Close(p)
	var sd []torch.Named
	for name, v := range g {
		if k, ok := strings.CutPrefix(name, "pdn/state/"); ok {
			sd = append(sd, torch.Named{Name: k, Tensor: v})
		}
	}
	if err := nn.LoadStateDict(p, sd, true); err != nil {
		t.Fatal(err)
	}
	if meta["pdn_input"] != "x[0:1]" {
		t.Fatalf("golden pdn_input %q, this test feeds x[0:1]", meta["pdn_input"])
	}
	x := goldenInput(t, s, meta).Narrow(0, 0, 1)
	st, ae := p.Forward(x)
	torchtest.RequireBitwise(t, "pdn st", st, g["pdn/st"])
	torchtest.RequireBitwise(t, "pdn ae", ae, g["pdn/ae"])
}
