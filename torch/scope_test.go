package torch_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
)

func TestScopeFreesIntermediates(t *testing.T) {
	before := torch.Live().Tensors
	s := torch.NewScope()
	x := torch.Randn(s, []int64{4, 4}, torch.Float32)
	for range 100 {
		x = x.MulScalar(0.5).Relu().AddScalar(1)
	}
	require.NoError(t, x.Err())
	assert.EqualValues(t, 301, torch.Live().Tensors-before, "tensors live inside the scope")
	assert.Equal(t, 301, s.Len())
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	assert.Zero(t, torch.Live().Tensors-before, "tensors live after Close")
	assert.ErrorIs(t, x.Err(), torch.ErrClosed, "tensor of a closed scope is still usable")
}

// A scope that lives as long as a program (a server's, a training loop's) must not remember the
// tensors closed in it: 1e5 create+close cycles in one scope, in the three orders callers use,
// leave Len at the number still open and the native tensors back at the baseline.
func TestScopeCloseTakesTensorOut(t *testing.T) {
	const cycles = 100_000
	base := torch.Live()
	s := torch.NewNoGradScope()
	defer s.Close()
	a := torch.Zeros(s, []int64{2}, torch.Float32)
	maxLen := 0
	var window []*torch.Tensor
	for i := range cycles {
		switch i % 3 {
		case 0: // a temporary closed at once (last in, first out)
			tmp := a.AddScalar(1)
			require.NoError(t, tmp.Err())
			require.NoError(t, tmp.Close())
		case 1: // a chain that closes the value it replaces
			next := a.MulScalar(1)
			require.NoError(t, next.Err())
			require.NoError(t, a.Close())
			a = next
		case 2: // a window of 8 recent values, the oldest closed first (first in, first out)
			w := a.AddScalar(2)
			require.NoError(t, w.Err())
			window = append(window, w)
			if len(window) > 8 {
				require.NoError(t, window[0].Close())
				window = window[1:]
			}
		}
		maxLen = max(maxLen, s.Len())
	}
	assert.Equal(t, 1+len(window), s.Len(), "Len counts the open tensors only")
	assert.LessOrEqual(t, maxLen, 10, "Len grew with the number of closed tensors")
	assert.EqualValues(t, 1+len(window), torch.Live().Tensors-base.Tensors)
	require.NoError(t, s.Close())
	assert.Equal(t, 0, s.Len())
	assert.Equal(t, base.Tensors, torch.Live().Tensors, "native tensors after the scope's Close")
	assert.Equal(t, base.Collected, torch.Live().Collected, "tensors left to the garbage collector")
}

func TestScopeKeepOwnAndNesting(t *testing.T) {
	outer := torch.NewScope()
	defer outer.Close()
	a := torch.Ones(outer, []int64{3}, torch.Float32)
	var kept *torch.Tensor
	err := torch.Do(torch.GradMode, func(inner *torch.Scope) error {
		b := torch.Ones(inner, []int64{3}, torch.Float32)
		sum := a.Add(b) // the youngest operand scope is inner
		assert.Same(t, inner, sum.Scope(), "result landed in the wrong scope")
		kept = outer.Own(sum.MulScalar(3))
		assert.Equal(t, 2, inner.Len(), "Own took the tensor out of the inner scope")
		return inner.Err()
	})
	require.NoError(t, err)
	v, err := torch.Data[float32](kept)
	require.NoError(t, err)
	assert.Equal(t, []float32{6, 6, 6}, v)
	mine := outer.Keep(kept)
	assert.Nil(t, mine.Scope(), "Keep did not release the tensor")
	assert.Equal(t, 1, outer.Len())
	require.NoError(t, mine.Close())
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
			assert.Equal(t, c.grad, y.RequiresGrad(), "mode %d: result requires grad", c.mode)
			return y.Err()
		})
		require.NoError(t, w.Close())
		require.NoError(t, err)
	}
}

func TestAutogradBasics(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.FromSlice(s, []float64{1, 2, 3}).SetRequiresGrad(true)
	y := x.Pow(2).Sum() // dy/dx = 2x
	require.NoError(t, y.Backward())
	g, err := x.Grad(s)
	require.NoError(t, err)
	require.NotNil(t, g, "no gradient")
	v, err := torch.Data[float64](g)
	require.NoError(t, err)
	assert.Equal(t, []float64{2, 4, 6}, v)
	require.NoError(t, x.ZeroGrad())
	g2, err := x.Grad(s)
	require.NoError(t, err)
	assert.Nil(t, g2, "ZeroGrad left a gradient")
}

// A Frame frees everything made inside it except what it returns, which goes to the caller's
// scope; Next drops a layer's input once the next layer has run.
func TestFrameFreesIntermediates(t *testing.T) {
	base := torch.Live()
	s := torch.NewScope()
	x := torch.FromSlice(s, []float32{-1, 2, -3, 4})
	forward := func(x *torch.Tensor) (*torch.Tensor, *torch.Tensor) {
		f := torch.NewFrame(x)
		defer f.Close()
		h := f.Use(x).MulScalar(2)
		h = f.Next(h, h.Relu())
		return f.Return(h.AddScalar(1)), f.Return(h.Sum())
	}
	a, b := forward(x)
	require.NoError(t, a.Err())
	require.NoError(t, b.Err())
	assert.Same(t, s, a.Scope(), "a frame's result belongs to the caller's scope")
	v, err := a.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 5, 1, 9}, v)
	assert.EqualValues(t, 3, torch.Live().Tensors-base.Tensors, "x and the two results, nothing else")
	assert.Equal(t, base.Scopes+1, torch.Live().Scopes, "the frame's scope is closed")
	require.NoError(t, s.Close())
	assert.Equal(t, base.Tensors, torch.Live().Tensors)
}

// A frame over unscoped inputs has nowhere to put its results: they come back failed, naming the
// fix, and nothing is left to the garbage collector.
func TestFrameWithoutScope(t *testing.T) {
	base := torch.Live()
	x := torch.FromSlice(nil, []float32{1, 2, 3})
	defer x.Close()
	f := torch.NewFrame(x)
	require.ErrorContains(t, f.Err(), "no scope")
	y := f.Return(f.Use(x).AddScalar(1))
	require.ErrorContains(t, y.Err(), "no scope")
	require.NoError(t, f.Close())
	assert.EqualValues(t, 1, torch.Live().Tensors-base.Tensors, "only x is left")
	assert.Equal(t, base.Scopes, torch.Live().Scopes)
}

// An error inside a frame reaches the caller in the result, and the temporaries are still freed.
func TestFrameError(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.FromSlice(s, []float32{1, 2, 3})
	base := torch.Live().Tensors
	f := torch.NewFrame(x)
	y := f.Return(f.Use(x).AddScalar(1).View(2, 2))
	require.NoError(t, f.Close())
	assert.True(t, errors.Is(y.Err(), torch.ErrInvalid), "got %v", y.Err())
	assert.EqualValues(t, 0, torch.Live().Tensors-base, "the temporaries are freed (a failed result holds no native tensor)")
}
