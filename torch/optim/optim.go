package optim

/*
#cgo LDFLAGS: -lm
#include <math.h>
*/
import "C"

import (
	"fmt"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/checkpoint"
)

// Optimizer is what schedulers and training loops need from Adam and SGD.
type Optimizer interface {
	Step() error
	ZeroGrad() error
	LR() float64
	SetLR(lr float64)
	// StateDict returns the optimizer's state in the layout of torch.optim's state_dict(), ready
	// for checkpoint.SaveFile and readable by Python's optimizer.load_state_dict.
	StateDict() (*checkpoint.Dict, error)
	LoadStateDict(d *checkpoint.Dict) error
	Close() error
}

// pow is C's pow, the function CPython's float ** calls: Go's math.Pow may differ in the last
// bit, and bias corrections computed with it would break bitwise parity with PyTorch.
func pow(x, y float64) float64 { return float64(C.pow(C.double(x), C.double(y))) }

// zeroGrad drops every parameter's gradient.
func zeroGrad(params []*torch.Tensor) error {
	for _, p := range params {
		if err := p.ZeroGrad(); err != nil {
			return err
		}
	}
	return nil
}

func paramIndices(n int) checkpoint.List {
	l := make(checkpoint.List, n)
	for i := range l {
		l[i] = int64(i)
	}
	return l
}

// paramShape is the shape a parameter's state must have; a failed parameter has none.
func paramShape(p *torch.Tensor) ([]int64, error) {
	if err := p.Err(); err != nil {
		return nil, err
	}
	return p.Shape(), nil
}

// stateTensor fetches a tensor entry of a per-parameter state dict into the parameter's shape.
func stateTensor(st *checkpoint.Dict, key string, shape []int64) (*torch.Tensor, error) {
	v, ok := st.Get(key)
	if !ok {
		return nil, fmt.Errorf("optim: state has no %q", key)
	}
	c, ok := v.(*checkpoint.Tensor)
	if !ok {
		return nil, fmt.Errorf("optim: state %q is %T, not a tensor", key, v)
	}
	t := torch.FromCheckpoint(nil, c)
	if err := t.Err(); err != nil {
		return nil, err
	}
	if got := t.Shape(); fmt.Sprint(got) != fmt.Sprint(shape) {
		t.Close()
		return nil, fmt.Errorf("optim: state %q has shape %v, parameter has %v", key, got, shape)
	}
	return t, nil
}

func groupFloat(g *checkpoint.Dict, key string) (float64, error) {
	v, ok := g.Get(key)
	if !ok {
		return 0, fmt.Errorf("optim: param group has no %q", key)
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("optim: param group %q is %T, not a number", key, v)
}

// splitState checks the outer layout {"state": {...}, "param_groups": [group]} for n params.
func splitState(d *checkpoint.Dict, n int) (state, group *checkpoint.Dict, err error) {
	sv, ok := d.Get("state")
	if !ok {
		return nil, nil, fmt.Errorf("optim: state dict has no \"state\"")
	}
	if state, ok = sv.(*checkpoint.Dict); !ok {
		return nil, nil, fmt.Errorf("optim: \"state\" is %T, not a dict", sv)
	}
	gv, ok := d.Get("param_groups")
	if !ok {
		return nil, nil, fmt.Errorf("optim: state dict has no \"param_groups\"")
	}
	groups, ok := gv.(checkpoint.List)
	if !ok || len(groups) != 1 {
		return nil, nil, fmt.Errorf("optim: expected exactly one param group")
	}
	if group, ok = groups[0].(*checkpoint.Dict); !ok {
		return nil, nil, fmt.Errorf("optim: param group is %T, not a dict", groups[0])
	}
	pv, ok := group.Get("params")
	if !ok {
		return nil, nil, fmt.Errorf("optim: param group has no \"params\"")
	}
	if ps, ok := pv.(checkpoint.List); !ok || len(ps) != n {
		return nil, nil, fmt.Errorf("optim: param group lists %v parameters, optimizer has %d", pv, n)
	}
	return state, group, nil
}
