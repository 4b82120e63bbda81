package csad_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// bfloat16 fast mode's tolerances against the exact forward pass, about twice the worst
// measured on the reduced golden model (figures in docs/numerics.md#bfloat16). The student's
// and the autoencoder's maps carry bfloat16's 8-bit significand, so the maps and the LGST score
// move by far more than float32 rounding; the segmentation branch is float32 fast mode's.
const (
	bf16MapAbs  = 3e-3 // |Δ| of the normalised local and global maps (measured 7.0e-6 and 1.3e-3)
	bf16LGSTRel = 4e-3 // relative |Δ| of the LGST score (measured 1.6e-3)
	// bf16Moves is the least relative change of the LGST score from float32 fast mode's: less
	// would mean the student ran in float32 after all.
	bf16Moves = 1e-5
)

// needBFloat16 skips a test on a CPU without bfloat16 arithmetic, after checking that such a
// CPU gets the error that says so.
func needBFloat16(t *testing.T, net *csad.Network) {
	t.Helper()
	if err := csad.CheckBFloat16CPU(); err != nil {
		require.ErrorContains(t, net.UseBFloat16(), "AVX512_BF16")
		t.Skipf("this CPU cannot run bfloat16 fast mode: %v", err)
	}
}

// assertBitwise asserts that each pair's got (first) equals its want bit for bit.
func assertBitwise(t *testing.T, what string, pairs map[string][2]*torch.Tensor) {
	t.Helper()
	for name, p := range pairs {
		d, err := torchtest.Compare(p[0], p[1])
		require.NoError(t, err, name)
		assert.True(t, d.Bitwise, "%s, %s: %v", name, what, d)
	}
}

func relMax(t testing.TB, got, want *torch.Tensor) float64 {
	t.Helper()
	g, w := float64s(t, got), float64s(t, want)
	require.Len(t, g, len(w))
	var m float64
	for i := range w {
		m = max(m, math.Abs(g[i]-w[i])/max(math.Abs(w[i]), 1e-30))
	}
	return m
}

// bfloat16 fast mode segments and scores the patch histogram exactly as float32 fast mode does
// (the encoder, segmentor and teacher stay float32); its maps and LGST score are within the
// stated tolerances of the exact forward pass, and measurably not float32's. UseChannelsLast
// afterwards is float32 fast mode again, bit for bit.
func TestBFloat16FastMode(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	net, x := smallGoldenNet(t, s)
	needBFloat16(t, net)
	exact, err := net.Forward(x)
	require.NoError(t, err)
	require.NoError(t, net.UseChannelsLast())
	fast, err := net.Forward(x)
	require.NoError(t, err)
	require.NoError(t, net.UseBFloat16())
	bf, err := net.Forward(x)
	require.NoError(t, err)

	assertBitwise(t, "as float32 fast mode", map[string][2]*torch.Tensor{
		"labels": {bf.Labels, fast.Labels}, "patch hist": {bf.PatchHist, fast.PatchHist},
		"d256": {bf.D256, fast.D256}, "d128": {bf.D128, fast.D128},
	})
	local, global := maxAbsDiff(t, bf.Local, exact.Local), maxAbsDiff(t, bf.Global, exact.Global)
	lgst, moved := relMax(t, bf.LGST, exact.LGST), relMax(t, bf.LGST, fast.LGST)
	t.Logf("bfloat16 vs exact: maps %.3g / %.3g, LGST rel %.3g (vs float32 fast mode %.3g)", local, global, lgst, moved)
	assert.LessOrEqual(t, local, bf16MapAbs, "local map")
	assert.LessOrEqual(t, global, bf16MapAbs, "global map")
	assert.LessOrEqual(t, lgst, bf16LGSTRel, "LGST score")
	assert.GreaterOrEqual(t, moved, bf16Moves, "the LGST score is float32 fast mode's: the student did not run in bfloat16")

	require.NoError(t, net.UseChannelsLast())
	again, err := net.Forward(x)
	require.NoError(t, err)
	assertBitwise(t, "after UseChannelsLast", map[string][2]*torch.Tensor{"score": {again.Score, fast.Score}, "local": {again.Local, fast.Local}})
	require.NoError(t, s.Err())
}

// A Model loaded with Fast and BFloat16 (one copy of the weights, the originals freed) scores
// bit for bit as a network switched with UseBFloat16; BFloat16 without Fast, or on another
// backend, is refused with the fix.
func TestBFloat16Model(t *testing.T) {
	_, err := csad.Load("no-such.csad", csad.Options{BFloat16: true})
	require.ErrorContains(t, err, "set Fast as well")
	_, err = csad.Load("no-such.csad", csad.Options{BFloat16: true, Fast: true, Backend: csad.BackendONNXRuntime})
	require.ErrorContains(t, err, "BFloat16 is an option of the torch backend")

	ref, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	require.NoError(t, err)
	defer func() { assert.NoError(t, ref.Close()) }()
	needBFloat16(t, ref)
	path := filepath.Join(t.TempDir(), "small.csad")
	h, err := csad.NewHeader(ref, "x", csad.Provenance{})
	require.NoError(t, err)
	require.NoError(t, csad.SaveModel(path, ref, h))
	require.NoError(t, ref.UseBFloat16())

	m, err := csad.Load(path, csad.Options{Fast: true, BFloat16: true})
	require.NoError(t, err)
	defer func() { assert.NoError(t, m.Close()) }()
	s := torch.NewInferenceScope()
	defer s.Close()
	require.NoError(t, torch.ManualSeed(4))
	x := torch.Rand(s, []int64{1, 3, 256, 256}, torch.Float32)
	got, err := m.ScoreTensor(x)
	require.NoError(t, err)
	want, err := ref.Forward(x)
	require.NoError(t, err)
	assertBitwise(t, "as UseBFloat16's", map[string][2]*torch.Tensor{
		"score": {got.Score, want.Score}, "local": {got.Local, want.Local},
		"global": {got.Global, want.Global}, "labels": {got.Labels, want.Labels},
	})
	require.NoError(t, s.Err())
}
