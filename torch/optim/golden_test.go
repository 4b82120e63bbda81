package optim_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/checkpoint"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
	"github.com/csad-go/csad/torch/torchtest"
)

// trainDir holds what testdata/gen_golden_train.py makes on this machine (torchtest.GoldenDir).
func trainDir(t *testing.T) string {
	return torchtest.GoldenDir(t, "../../testdata", "gen_golden_train.py")
}

func trainGolden(t *testing.T) string { return filepath.Join(trainDir(t), "train.safetensors") }

// trainSteps runs steps of PyTorch's reference loop: zero_grad, forward, mse_loss, backward,
// step (and the scheduler's step when sched is not nil). It returns the losses.
func trainSteps(t *testing.T, net *torchtest.Net, opt optim.Optimizer, sched *optim.StepLR,
	g map[string]*torch.Tensor, steps int, lrs *[]float64) []*torch.Tensor {
	t.Helper()
	var losses []*torch.Tensor
	for i := range steps {
		err := torch.Do(torch.GradMode, func(s *torch.Scope) error {
			if err := opt.ZeroGrad(); err != nil {
				return err
			}
			x := g["x"].Narrow(0, int64(i), 1).Squeeze(0)
			y := g["target"].Narrow(0, int64(i), 1).Squeeze(0)
			s.Own(x)
			s.Own(y)
			loss := net.Forward(x).MSELoss(y)
			if err := loss.Backward(); err != nil {
				return err
			}
			if err := opt.Step(); err != nil {
				return err
			}
			if sched != nil {
				sched.Step()
				*lrs = append(*lrs, sched.LR())
			}
			losses = append(losses, s.Keep(loss.Detach()))
			return s.Err()
		})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	return losses
}

func params(net nn.Layer) []*torch.Tensor {
	var ps []*torch.Tensor
	for _, p := range nn.Parameters(net) {
		ps = append(ps, p.Tensor)
	}
	return ps
}

// 20 Adam(weight_decay)+StepLR steps with dropout from a seeded initialisation follow PyTorch bit
// for bit (tolerance: none): losses, learning rates, final weights, BatchNorm buffers and Adam's
// moments; evaluation output afterwards too.
func TestGoldenAdamStepLR(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, trainGolden(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	if err := torch.ManualSeed(0); err != nil {
		t.Fatal(err)
	}
	net := torchtest.NewNet()
	defer nn.Close(net)
	opt := optim.NewAdam(params(net), optim.AdamConfig{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4})
	defer opt.Close()
	sched := optim.NewStepLR(opt, 5, 0.5)
	if err := torch.ManualSeed(1); err != nil {
		t.Fatal(err)
	}
	var lrs []float64
	losses := trainSteps(t, net, opt, sched, g, 20, &lrs)
	for _, l := range losses {
		s.Own(l)
	}
	torchtest.RequireBitwise(t, "losses", torch.Stack(losses, 0), g["adam/loss"])
	wantLR, err := g["adam/lr"].Float64s()
	if err != nil {
		t.Fatal(err)
	}
	if len(lrs) != len(wantLR) {
		t.Fatalf("%d learning rates recorded, the golden has %d", len(lrs), len(wantLR))
	}
	for i := range wantLR {
		if lrs[i] != wantLR[i] {
			t.Errorf("lr after step %d = %v, want %v", i+1, lrs[i], wantLR[i])
		}
	}
	for _, n := range nn.StateDict(net) {
		torchtest.RequireBitwise(t, "final "+n.Name, n.Tensor, g["adam/final/"+n.Name])
	}
	state, err := opt.StateDict()
	if err != nil {
		t.Fatal(err)
	}
	sv, ok := state.Get("state")
	perParam, isDict := sv.(*checkpoint.Dict)
	if !ok || !isDict {
		t.Fatalf("optimizer state dict has no \"state\" dict (got %T)", sv)
	}
	for i := range params(net) {
		pv, ok := perParam.Get(int64(i))
		ps, isDict := pv.(*checkpoint.Dict)
		if !ok || !isDict {
			t.Fatalf("no state for parameter %d (got %T)", i, pv)
		}
		for _, key := range []string{"exp_avg", "exp_avg_sq", "step"} {
			v, ok := ps.Get(key)
			ct, isTensor := v.(*checkpoint.Tensor)
			if !ok || !isTensor {
				t.Fatalf("parameter %d: state %q missing or not a tensor (got %T)", i, key, v)
			}
			got := s.Own(torch.FromCheckpoint(nil, ct))
			torchtest.RequireBitwise(t, fmt.Sprintf("adam state %d %s", i, key), got, g[fmt.Sprintf("adam/state/%d/%s", i, key)])
		}
	}
	nn.SetTraining(net, false)
	err = torch.Do(torch.InferenceMode, func(es *torch.Scope) error {
		out := net.Forward(es.Own(g["x"].Narrow(0, 0, 1).Squeeze(0)))
		torchtest.RequireBitwise(t, "eval output", out, g["adam/eval_out"])
		return es.Err()
	})
	if err != nil {
		t.Fatal(err)
	}

	// The state written by Go loads into Python's Adam and equals Python's own state.
	dir := t.TempDir()
	optPath := filepath.Join(dir, "adam.pth")
	if err := checkpoint.SaveFile(optPath, state); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "../../testdata/check_optim_state.py", optPath, filepath.Join(trainDir(t), "adam_state.pth"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("Python rejected the Go optimizer state (needs /usr/bin/python3 with torch: run 'make setup'): %v\n%s", err, out)
	}
}

// Python's own saved Adam state loads into the Go optimizer.
func TestAdamLoadsPythonState(t *testing.T) {
	net := torchtest.NewNet()
	defer nn.Close(net)
	opt := optim.NewAdam(params(net), optim.DefaultAdam())
	defer opt.Close()
	v, err := checkpoint.LoadFile(filepath.Join(trainDir(t), "adam_state.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if err := opt.LoadStateDict(v.(*checkpoint.Dict)); err != nil {
		t.Fatal(err)
	}
	if opt.LR() != 0.01*0.5*0.5*0.5*0.5 {
		t.Errorf("lr = %v after loading, want 0.01·0.5⁴", opt.LR())
	}
	bad := optim.NewAdam(params(net)[:2], optim.DefaultAdam())
	defer bad.Close()
	if err := bad.LoadStateDict(v.(*checkpoint.Dict)); err == nil {
		t.Error("state for 9 parameters loaded into an optimizer of 2")
	}
}

// 10 SGD steps with momentum and weight decay follow PyTorch bit for bit (tolerance: none).
func TestGoldenSGDMomentum(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, trainGolden(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	net := torchtest.NewNet()
	defer nn.Close(net)
	var init []nn.Named
	for _, n := range nn.StateDict(net) {
		init = append(init, nn.Named{Name: n.Name, Tensor: g["init/"+n.Name]})
	}
	if err := nn.LoadStateDict(net, init, true); err != nil {
		t.Fatal(err)
	}
	opt := optim.NewSGD(params(net), optim.SGDConfig{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4})
	defer opt.Close()
	if err := torch.ManualSeed(2); err != nil {
		t.Fatal(err)
	}
	losses := trainSteps(t, net, opt, nil, g, 10, nil)
	for _, l := range losses {
		s.Own(l)
	}
	torchtest.RequireBitwise(t, "losses", torch.Stack(losses, 0), g["sgd/loss"])
	for _, n := range nn.StateDict(net) {
		torchtest.RequireBitwise(t, "final "+n.Name, n.Tensor, g["sgd/final/"+n.Name])
	}
}
