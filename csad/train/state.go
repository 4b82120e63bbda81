package train

import (
	"fmt"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/checkpoint"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
)

// namedLayer is one network part of a training state, under its key.
type namedLayer struct {
	key string
	l   nn.Layer
}

// saveState writes a stage's resumable state as one torch.save file, atomically (a temporary
// file and a rename, so a failed write leaves the previous state): the state dicts of the parts,
// the optimiser's state in torch.optim's layout, and integer counters.
func saveState(path string, parts []namedLayer, opt *optim.Adam, counters map[string]int64) error {
	d := &checkpoint.Dict{}
	for k, v := range counters {
		d.Set(k, v)
	}
	for _, part := range parts {
		w := &checkpoint.Dict{}
		for _, p := range nn.StateDict(part.l) {
			c, err := torch.ToCheckpoint(p.Tensor)
			if err != nil {
				return fmt.Errorf("train: checkpoint: %w", err)
			}
			w.Set(p.Name, c)
		}
		d.Set(part.key, w)
	}
	o, err := opt.StateDict()
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	d.Set("optimizer", o)
	if err := checkpoint.SaveFile(path, d); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w (the previous checkpoint is intact)", path, err)
	}
	return nil
}

// loadState restores what saveState wrote into parts and opt and returns the named counters.
func loadState(path string, parts []namedLayer, opt *optim.Adam, counters ...string) (map[string]int64, error) {
	bad := func(err error) (map[string]int64, error) {
		return nil, fmt.Errorf("train: resume from %s: %w (start over with -force)", path, err)
	}
	v, err := checkpoint.LoadFile(path)
	if err != nil {
		return bad(err)
	}
	d, ok := v.(*checkpoint.Dict)
	if !ok {
		return bad(fmt.Errorf("not a training checkpoint"))
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	for _, part := range parts {
		x, _ := d.Get(part.key)
		w, ok := x.(*checkpoint.Dict)
		if !ok {
			return bad(fmt.Errorf("no state dict %q", part.key))
		}
		var sd []torch.Named
		for _, e := range w.Entries {
			name, ok1 := e.Key.(string)
			c, ok2 := e.Value.(*checkpoint.Tensor)
			if !ok1 || !ok2 {
				return bad(fmt.Errorf("%q holds a non-tensor entry", part.key))
			}
			sd = append(sd, torch.Named{Name: name, Tensor: torch.FromCheckpoint(s, c)})
		}
		if err := nn.LoadStateDict(part.l, sd, true); err != nil {
			return bad(err)
		}
	}
	x, _ := d.Get("optimizer")
	o, ok := x.(*checkpoint.Dict)
	if !ok {
		return bad(fmt.Errorf("no optimizer state"))
	}
	if err := opt.LoadStateDict(o); err != nil {
		return bad(err)
	}
	out := map[string]int64{}
	for _, k := range counters {
		x, _ := d.Get(k)
		n, ok := x.(int64)
		if !ok || n < 0 {
			return bad(fmt.Errorf("no counter %q", k))
		}
		out[k] = n
	}
	return out, nil
}
