package optim

import (
	"fmt"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/checkpoint"
)

// SGDConfig are torch.optim.SGD's hyperparameters.
type SGDConfig struct {
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov                             bool
}

// SGD is torch.optim.SGD, operation by operation as PyTorch's single-tensor path.
type SGD struct {
	cfg    SGDConfig
	params []*torch.Tensor
	bufs   []*torch.Tensor
}

// NewSGD optimises params (not owned).
func NewSGD(params []*torch.Tensor, cfg SGDConfig) *SGD {
	return &SGD{cfg: cfg, params: params, bufs: make([]*torch.Tensor, len(params))}
}

// LR returns the current learning rate.
func (o *SGD) LR() float64 { return o.cfg.LR }

// SetLR changes the learning rate.
func (o *SGD) SetLR(lr float64) { o.cfg.LR = lr }

// ZeroGrad drops all gradients.
func (o *SGD) ZeroGrad() error { return zeroGrad(o.params) }

// Step updates every parameter that has a gradient.
func (o *SGD) Step() error {
	c := o.cfg
	for i, p := range o.params {
		err := torch.Do(torch.NoGradMode, func(s *torch.Scope) error {
			d, err := p.Grad(s)
			if err != nil || d == nil {
				return err
			}
			param := s.Own(p.Detach())
			if c.WeightDecay != 0 {
				d = d.AddScaled(param, c.WeightDecay)
			}
			if c.Momentum != 0 {
				if o.bufs[i] == nil {
					o.bufs[i] = s.Keep(d.Clone())
				} else {
					o.bufs[i].MulScalarInPlace(c.Momentum).AddInPlace(d, 1-c.Dampening)
				}
				if c.Nesterov {
					d = d.AddScaled(o.bufs[i], c.Momentum)
				} else {
					d = o.bufs[i]
				}
			}
			param.AddInPlace(d, -c.LR)
			if err := firstErr(o.bufs[i], param); err != nil {
				return err
			}
			return s.Err()
		})
		if err != nil {
			return fmt.Errorf("optim: sgd step, parameter %d: %w", i, err)
		}
	}
	return nil
}

// StateDict mirrors torch.optim.SGD.state_dict() of PyTorch 1.13.
func (o *SGD) StateDict() (*checkpoint.Dict, error) {
	state := &checkpoint.Dict{}
	for i, b := range o.bufs {
		if b == nil {
			continue
		}
		cb, err := torch.ToCheckpoint(b)
		if err != nil {
			return nil, err
		}
		ps := &checkpoint.Dict{}
		ps.Set("momentum_buffer", cb)
		state.Set(int64(i), ps)
	}
	g := &checkpoint.Dict{}
	g.Set("lr", o.cfg.LR)
	g.Set("momentum", o.cfg.Momentum)
	g.Set("dampening", o.cfg.Dampening)
	g.Set("weight_decay", o.cfg.WeightDecay)
	g.Set("nesterov", o.cfg.Nesterov)
	g.Set("maximize", false)
	g.Set("foreach", nil)
	g.Set("differentiable", false)
	g.Set("params", paramIndices(len(o.params)))
	d := &checkpoint.Dict{}
	d.Set("state", state)
	d.Set("param_groups", checkpoint.List{g})
	return d, nil
}

// LoadStateDict restores a state saved by StateDict or by Python's SGD.state_dict().
func (o *SGD) LoadStateDict(d *checkpoint.Dict) error {
	state, group, err := splitState(d, len(o.params))
	if err != nil {
		return err
	}
	cfg := o.cfg
	for key, dst := range map[string]*float64{"lr": &cfg.LR, "momentum": &cfg.Momentum,
		"dampening": &cfg.Dampening, "weight_decay": &cfg.WeightDecay} {
		if *dst, err = groupFloat(group, key); err != nil {
			return err
		}
	}
	if nv, ok := group.Get("nesterov"); ok {
		b, isBool := nv.(bool)
		if !isBool {
			return fmt.Errorf("optim: param group \"nesterov\" is %T, not a bool", nv)
		}
		cfg.Nesterov = b
	}
	bufs := make([]*torch.Tensor, len(o.params))
	closeAll := func() {
		for _, b := range bufs {
			b.Close()
		}
	}
	for _, e := range state.Entries {
		i, ok := e.Key.(int64)
		ps, ok2 := e.Value.(*checkpoint.Dict)
		if !ok || !ok2 || i < 0 || int(i) >= len(o.params) {
			closeAll()
			return fmt.Errorf("optim: bad state entry %v", e.Key)
		}
		if bufs[i] != nil {
			closeAll()
			return fmt.Errorf("optim: state lists parameter %d twice", i)
		}
		shape, err := paramShape(o.params[i])
		if err == nil {
			bufs[i], err = stateTensor(ps, "momentum_buffer", shape)
		}
		if err != nil {
			closeAll()
			return fmt.Errorf("optim: parameter %d: %w", i, err)
		}
	}
	o.Close()
	o.bufs, o.cfg = bufs, cfg
	return nil
}

// Close frees the momentum buffers (not the parameters).
func (o *SGD) Close() error {
	for i, b := range o.bufs {
		b.Close()
		o.bufs[i] = nil
	}
	return nil
}
