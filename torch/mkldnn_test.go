package torch_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// oneDNN's convolution with a weight laid out in advance, on a dense or a oneDNN input,
// computes what F.conv2d computes where ATen picks oneDNN (batch 1 with more than 20,480 input
// values), bit for bit: the same kernel, without the per-call reorders.
func TestMkldnnConv2dMatchesConv2d(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	require.NoError(t, torch.ManualSeed(5))
	x := torch.Randn(s, []int64{1, 16, 40, 40}, torch.Float32)
	w := torch.Randn(s, []int64{32, 16, 3, 3}, torch.Float32)
	b := torch.Randn(s, []int64{32}, torch.Float32)
	o := torch.Conv2dOptions{Padding: [2]int64{1, 1}, Stride: [2]int64{2, 2}}
	want := x.Conv2d(w, b, o)
	pw := w.ToMkldnn(torch.Float32).MkldnnConv2dWeight(o)
	for name, got := range map[string]*torch.Tensor{
		"dense input":  x.MkldnnConv2d(pw, b, o),
		"oneDNN input": x.ToMkldnn(torch.Float32).MkldnnConv2d(pw, b, o).ToDense(torch.Float32),
		"dense weight": x.MkldnnConv2d(w, b, o),
	} {
		d, err := torchtest.Compare(got, want)
		require.NoError(t, err, name)
		assert.True(t, d.Bitwise, "%s: %v", name, d)
		assert.Equal(t, []int64{1, 32, 20, 20}, got.Shape(), name)
	}
	require.NoError(t, s.Err())
}

// ToMkldnn and ToDense round-trip exactly; ReluInPlace rectifies a oneDNN tensor in place and
// returns it.
func TestMkldnnRoundTripAndReluInPlace(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	x := torch.FromSlice(s, []float32{1, -2, 3, -4, 5, -6, 7, -8}, 1, 2, 2, 2)
	m := x.ToMkldnn(torch.Float32)
	back := m.ToDense(torch.Float32)
	d, err := torchtest.Compare(back, x)
	require.NoError(t, err)
	assert.True(t, d.Bitwise, "round trip: %v", d)

	assert.Same(t, m, m.ReluInPlace())
	v, err := m.ToDense(torch.Float32).Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 0, 3, 0, 5, 0, 7, 0}, v)
	v, err = x.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2, 3, -4, 5, -6, 7, -8}, v, "the dense original changed")
}

// A dense weight cannot be laid out for oneDNN: the error names the operator, no panic.
func TestMkldnnConv2dWeightNeedsOneDNNTensor(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	w := torch.Randn(s, []int64{4, 3, 3, 3}, torch.Float32)
	err := w.MkldnnConv2dWeight(torch.Conv2dOptions{}).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mkldnn_reorder_conv2d_weight")
}

// A bfloat16 oneDNN tensor holds x rounded to bfloat16, as x.To(BFloat16) does; a convolution on
// it and a bfloat16 weight computes the convolution of those rounded values, accumulated in
// float32 and rounded once more to bfloat16: within 2⁻⁸ of each output (plus float32's rounding
// of the sum) of the same convolution in float64. IsMkldnn tells the two layouts apart.
func TestMkldnnBFloat16(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	require.NoError(t, torch.ManualSeed(6))
	x := torch.Randn(s, []int64{1, 16, 24, 24}, torch.Float32)
	w := torch.Randn(s, []int64{8, 16, 3, 3}, torch.Float32)
	b := torch.Randn(s, []int64{8}, torch.Float32)
	m := x.ToMkldnn(torch.BFloat16)
	assert.True(t, m.IsMkldnn())
	assert.False(t, x.IsMkldnn())
	assert.Equal(t, torch.BFloat16, m.DType())
	d, err := torchtest.Compare(m.ToDense(torch.Float32), x.To(torch.BFloat16).To(torch.Float32))
	require.NoError(t, err)
	assert.True(t, d.Bitwise, "bfloat16 round trip: %v", d)

	o := torch.Conv2dOptions{Padding: [2]int64{1, 1}}
	got, err := m.MkldnnConv2d(w.ToMkldnn(torch.BFloat16).MkldnnConv2dWeight(o), b, o).ToDense(torch.Float32).Float64s()
	require.NoError(t, err)
	r := func(t *torch.Tensor) *torch.Tensor { return t.To(torch.BFloat16).To(torch.Float64) }
	want, err := r(x).Conv2d(r(w), b.To(torch.Float64), o).Float64s()
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.InDelta(t, want[i], got[i], math.Abs(want[i])/256+1e-5, "output %d", i)
	}
	require.NoError(t, s.Err())

	bad := torch.NewInferenceScope()
	defer bad.Close()
	assert.ErrorContains(t, torch.FromSlice(bad, []int64{1, 2}, 1, 2).ToMkldnn(torch.BFloat16).Err(), "to_mkldnn")
}
