package optim

import (
	"fmt"
	"math"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/checkpoint"
)

// AdamConfig are torch.optim.Adam's hyperparameters. Use DefaultAdam() for PyTorch's defaults.
type AdamConfig struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
}

// DefaultAdam is lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay.
func DefaultAdam() AdamConfig { return AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

type adamState struct {
	step             float64
	expAvg, expAvgSq *torch.Tensor
}

// Adam is torch.optim.Adam (amsgrad off, the single-tensor code path that PyTorch takes on the
// CPU by default), reproducing its arithmetic operation by operation, weight decay included
// (L2 added to the gradient, not decoupled).
type Adam struct {
	cfg    AdamConfig
	params []*torch.Tensor
	state  []adamState
}

// NewAdam optimises params (not owned: the model keeps them).
func NewAdam(params []*torch.Tensor, cfg AdamConfig) *Adam {
	return &Adam{cfg: cfg, params: params, state: make([]adamState, len(params))}
}

// LR returns the current learning rate.
func (o *Adam) LR() float64 { return o.cfg.LR }

// SetLR changes the learning rate (schedulers call this).
func (o *Adam) SetLR(lr float64) { o.cfg.LR = lr }

// ZeroGrad drops all gradients.
func (o *Adam) ZeroGrad() error { return zeroGrad(o.params) }

// Step updates every parameter that has a gradient.
func (o *Adam) Step() error {
	c := o.cfg
	for i, p := range o.params {
		err := torch.Do(torch.NoGradMode, func(s *torch.Scope) error {
			grad, err := p.Grad(s)
			if err != nil || grad == nil {
				return err
			}
			st := &o.state[i]
			if st.expAvg == nil {
				st.expAvg = p.ZerosLike()
				st.expAvgSq = p.ZerosLike()
				if err := firstErr(st.expAvg, st.expAvgSq); err != nil {
					return err
				}
			}
			st.step++
			// The detached alias shares p's storage: updating it updates p without autograd.
			param := s.Own(p.Detach())
			if c.WeightDecay != 0 {
				grad = grad.AddScaled(param, c.WeightDecay)
			}
			st.expAvg.MulScalarInPlace(c.Beta1).AddInPlace(grad, 1-c.Beta1)
			st.expAvgSq.MulScalarInPlace(c.Beta2).AddcmulInPlace(grad, grad, 1-c.Beta2)
			bias1 := 1 - pow(c.Beta1, st.step)
			bias2 := 1 - pow(c.Beta2, st.step)
			stepSize := c.LR / bias1
			denom := s.Own(st.expAvgSq.Sqrt()).DivScalar(math.Sqrt(bias2)).AddScalarInPlace(c.Eps)
			param.AddcdivInPlace(st.expAvg, denom, -stepSize)
			if err := firstErr(st.expAvg, st.expAvgSq, param); err != nil {
				return err
			}
			return s.Err()
		})
		if err != nil {
			return fmt.Errorf("optim: adam step, parameter %d: %w", i, err)
		}
	}
	return nil
}

func firstErr(ts ...*torch.Tensor) error {
	for _, t := range ts {
		if err := t.Err(); err != nil {
			return err
		}
	}
	return nil
}

// StateDict mirrors torch.optim.Adam.state_dict() of PyTorch 1.13.
func (o *Adam) StateDict() (*checkpoint.Dict, error) {
	state := &checkpoint.Dict{}
	for i, st := range o.state {
		if st.expAvg == nil {
			continue
		}
		ea, err := torch.ToCheckpoint(st.expAvg)
		if err != nil {
			return nil, err
		}
		eas, err := torch.ToCheckpoint(st.expAvgSq)
		if err != nil {
			return nil, err
		}
		step := torch.Scalar(nil, st.step, torch.Float32)
		sc, err := torch.ToCheckpoint(step)
		step.Close()
		if err != nil {
			return nil, err
		}
		ps := &checkpoint.Dict{}
		ps.Set("step", sc)
		ps.Set("exp_avg", ea)
		ps.Set("exp_avg_sq", eas)
		state.Set(int64(i), ps)
	}
	g := &checkpoint.Dict{}
	g.Set("lr", o.cfg.LR)
	g.Set("betas", checkpoint.Tuple{o.cfg.Beta1, o.cfg.Beta2})
	g.Set("eps", o.cfg.Eps)
	g.Set("weight_decay", o.cfg.WeightDecay)
	g.Set("amsgrad", false)
	g.Set("maximize", false)
	g.Set("foreach", nil)
	g.Set("capturable", false)
	g.Set("differentiable", false)
	g.Set("fused", false)
	g.Set("params", paramIndices(len(o.params)))
	d := &checkpoint.Dict{}
	d.Set("state", state)
	d.Set("param_groups", checkpoint.List{g})
	return d, nil
}

// LoadStateDict restores a state saved by StateDict or by Python's Adam.state_dict().
func (o *Adam) LoadStateDict(d *checkpoint.Dict) error {
	state, group, err := splitState(d, len(o.params))
	if err != nil {
		return err
	}
	cfg := o.cfg
	if cfg.LR, err = groupFloat(group, "lr"); err != nil {
		return err
	}
	if cfg.Eps, err = groupFloat(group, "eps"); err != nil {
		return err
	}
	if cfg.WeightDecay, err = groupFloat(group, "weight_decay"); err != nil {
		return err
	}
	bv, ok := group.Get("betas")
	if !ok {
		return fmt.Errorf("optim: param group has no \"betas\"")
	}
	betas, ok := bv.(checkpoint.Tuple)
	if !ok || len(betas) != 2 {
		return fmt.Errorf("optim: param group \"betas\" is not a pair")
	}
	b1, ok1 := betas[0].(float64)
	b2, ok2 := betas[1].(float64)
	if !ok1 || !ok2 {
		return fmt.Errorf("optim: param group \"betas\" is not a pair of floats")
	}
	cfg.Beta1, cfg.Beta2 = b1, b2
	fresh := make([]adamState, len(o.params))
	for _, e := range state.Entries {
		i, ok := e.Key.(int64)
		ps, ok2 := e.Value.(*checkpoint.Dict)
		if !ok || !ok2 || i < 0 || int(i) >= len(o.params) {
			closeAdam(fresh)
			return fmt.Errorf("optim: bad state entry %v", e.Key)
		}
		st := &fresh[i]
		if st.expAvg != nil {
			closeAdam(fresh)
			return fmt.Errorf("optim: state lists parameter %d twice", i)
		}
		step, err := stateTensor(ps, "step", []int64{})
		if err == nil {
			var v float64
			v, err = step.Item()
			step.Close()
			st.step = v
		}
		var shape []int64
		if err == nil {
			shape, err = paramShape(o.params[i])
		}
		if err == nil {
			st.expAvg, err = stateTensor(ps, "exp_avg", shape)
		}
		if err == nil {
			st.expAvgSq, err = stateTensor(ps, "exp_avg_sq", shape)
		}
		if err != nil {
			closeAdam(fresh)
			return fmt.Errorf("optim: parameter %d: %w", i, err)
		}
	}
	closeAdam(o.state)
	o.state, o.cfg = fresh, cfg
	return nil
}

func closeAdam(states []adamState) {
	for i := range states {
		states[i].expAvg.Close()
		states[i].expAvgSq.Close()
		states[i].expAvg, states[i].expAvgSq = nil, nil
	}
}

// Close frees the optimizer's moment tensors (not the parameters).
func (o *Adam) Close() error {
	closeAdam(o.state)
	return nil
}
