package torch_test

import (
	"testing"

	"github.com/csad-go/csad/torch"
)

func TestScopeFreesIntermediates(t *testing.T) {
	before := torch.Live().Tensors
	s := torch.NewScope()
	x := torch.Randn(s, []int64{4, 4}, torch.Float32)
	for range 100 {
		x = x.MulScalar(0.5).Relu().AddScalar(1)
	}
	if got := torch.Live().Tensors - before; got != 301 {
		t.Errorf("%d tensors live inside the scope, want 301", got)
	}
	s.Close()
	s.Close()
	if got := torch.Live().Tensors - before; got != 0 {
		t.Errorf("%d tensors live after Close", got)
	}
	if x.Err() == nil {
		t.Error("tensor of a closed scope is still usable")
	}
}

func TestScopeKeepOwnAndNesting(t *testing.T) {
	outer := torch.NewScope()
	defer outer.Close()
	a := torch.Ones(outer, []int64{3}, torch.Float32)
	var kept *torch.Tensor
	err := torch.Do(torch.GradMode, func(inner *torch.Scope) error {
		b := torch.Ones(inner, []int64{3}, torch.Float32)
		sum := a.Add(b) // the youngest operand scope is inner
		if sum.Scope() != inner {
			t.Errorf("result landed in %p, want the inner scope %p", sum.Scope(), inner)
		}
		kept = outer.Own(sum.MulScalar(3))
		return inner.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := torch.Data[float32](kept)
	if err != nil || v[0] != 6 {
		t.Fatalf("kept tensor = %v, %v; want [6 6 6]", v, err)
	}
	mine := outer.Keep(kept)
	if mine.Scope() != nil {
		t.Error("Keep did not release the tensor")
	}
	mine.Close()
}

func TestScopeModes(t *testing.T) {
	for _, c := range []struct {
		mode torch.Mode
		grad bool
	}{{torch.GradMode, true}, {torch.NoGradMode, false}, {torch.InferenceMode, false}} {
		w := torch.Ones(nil, []int64{2}, torch.Float32).SetRequiresGrad(true)
		err := torch.Do(c.mode, func(s *torch.Scope) error {
			x := torch.Ones(s, []int64{2}, torch.Float32)
			y := x.Mul(w)
			if y.RequiresGrad() != c.grad {
				t.Errorf("mode %d: result requires grad = %v, want %v", c.mode, y.RequiresGrad(), c.grad)
			}
			return y.Err()
		})
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAutogradBasics(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.FromSlice(s, []float64{1, 2, 3}).SetRequiresGrad(true)
	y := x.Pow(2).Sum() // dy/dx = 2x
	if err := y.Backward(); err != nil {
		t.Fatal(err)
	}
	g, err := x.Grad(s)
	if err != nil || g == nil {
		t.Fatalf("no gradient: %v", err)
	}
	v, _ := torch.Data[float64](g)
	if v[0] != 2 || v[1] != 4 || v[2] != 6 {
		t.Errorf("grad = %v, want [2 4 6]", v)
	}
	if err := x.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	if g2, _ := x.Grad(s); g2 != nil {
		t.Error("ZeroGrad left a gradient")
	}
}
