package torchtest

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/csad-go/csad/torch"
)

// Diff describes how far got is from want: max absolute and relative error over the elements,
// and whether the raw bytes are identical.
type Diff struct {
	Bitwise        bool
	Differ         int
	MaxAbs, MaxRel float64
}

func (d Diff) String() string {
	if d.Bitwise {
		return "bitwise equal"
	}
	return fmt.Sprintf("%d elements differ, max abs error %.3g, max rel error %.3g", d.Differ, d.MaxAbs, d.MaxRel)
}

// Compare computes the Diff of two tensors of the same shape and dtype.
func Compare(got, want *torch.Tensor) (Diff, error) {
	if err := got.Err(); err != nil {
		return Diff{}, fmt.Errorf("got: %w", err)
	}
	if err := want.Err(); err != nil {
		return Diff{}, fmt.Errorf("want: %w", err)
	}
	if fmt.Sprint(got.Shape()) != fmt.Sprint(want.Shape()) || got.DType() != want.DType() {
		return Diff{}, fmt.Errorf("got %v, want %v", got, want)
	}
	gb, err := got.Bytes()
	if err != nil {
		return Diff{}, err
	}
	wb, err := want.Bytes()
	if err != nil {
		return Diff{}, err
	}
	if bytes.Equal(gb, wb) {
		return Diff{Bitwise: true}, nil
	}
	g, err := got.Float64s()
	if err != nil {
		return Diff{}, err
	}
	w, err := want.Float64s()
	if err != nil {
		return Diff{}, err
	}
	var d Diff
	for i := range g {
		if g[i] == w[i] {
			continue
		}
		d.Differ++
		abs := math.Abs(g[i] - w[i])
		d.MaxAbs = max(d.MaxAbs, abs)
		if w[i] != 0 {
			d.MaxRel = max(d.MaxRel, abs/math.Abs(w[i]))
		} else {
			d.MaxRel = math.Inf(1)
		}
	}
	return d, nil
}

// RequireBitwise fails the test unless got and want are identical bit for bit.
func RequireBitwise(t testing.TB, what string, got, want *torch.Tensor) {
	t.Helper()
	d, err := Compare(got, want)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !d.Bitwise {
		t.Errorf("%s: not bitwise equal: %v", what, d)
	}
}

// UseGoldenThreads sets LibTorch's thread count to the one the golden script ran with (its
// metadata "num_threads"): reductions split their work by thread, so the count is part of the
// computation. It returns a function that restores the previous count.
func UseGoldenThreads(t testing.TB, meta map[string]string) func() {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(meta["num_threads"], &n); err != nil || n < 1 {
		t.Fatalf("golden metadata has no num_threads (%q)", meta["num_threads"])
	}
	prev := torch.NumThreads()
	torch.SetNumThreads(n)
	return func() { torch.SetNumThreads(prev) }
}
