package torch_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
)

// TestSafetensorsFileReadsStraightIntoTensors: a safetensors file opened with OpenSafetensors
// gives back every tensor bit for bit, in file order, whether read into a new tensor or into one
// that exists (a model's parameter), and refuses a destination that does not fit, naming both.
func TestSafetensorsFileReadsStraightIntoTensors(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	require.NoError(t, torch.ManualSeed(4))
	want := []torch.Named{
		{Name: "w", Tensor: torch.Randn(s, []int64{3, 4, 5}, torch.Float32)},
		{Name: "i", Tensor: torch.Randint(s, -9, 9, []int64{7})},
		{Name: "d", Tensor: torch.Randn(s, []int64{2}, torch.Float64)},
		{Name: "empty", Tensor: torch.Zeros(s, []int64{0, 3}, torch.Float32)},
		{Name: "scalar", Tensor: torch.Scalar(s, 2.5, torch.Float32)},
	}
	path := filepath.Join(t.TempDir(), "t.safetensors")
	require.NoError(t, torch.SaveTensorsMeta(path, want, map[string]string{"k": "v"}))

	f, err := torch.OpenSafetensors(path)
	require.NoError(t, err)
	defer func() { assert.NoError(t, f.Close()) }()
	assert.Equal(t, map[string]string{"k": "v"}, f.Metadata())
	require.Len(t, f.Entries(), len(want))
	for i, n := range want {
		e := f.Entries()[i]
		require.Equal(t, n.Name, e.Name, "file order")
		got := f.Load(s, n.Name)
		require.NoError(t, got.Err())
		assertSameBytes(t, n.Tensor, got, n.Name)

		dst := n.Tensor.ZerosLike()
		require.NoError(t, f.ReadInto(n.Name, dst), n.Name)
		assertSameBytes(t, n.Tensor, dst, n.Name+" read into an existing tensor")
		require.NoError(t, dst.Close())
	}

	// LoadTensorsMeta takes the same path.
	all, meta, err := torch.LoadTensorsMeta(s, path)
	require.NoError(t, err)
	assert.Equal(t, "v", meta["k"])
	require.Len(t, all, len(want))
	for i, n := range want {
		assertSameBytes(t, n.Tensor, all[i].Tensor, n.Name)
	}

	wrongShape := torch.Zeros(s, []int64{3, 4, 4}, torch.Float32)
	err = f.ReadInto("w", wrongShape)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[3 4 5]")
	assert.Contains(t, err.Error(), "[3 4 4]")
	wrongType := torch.Zeros(s, []int64{3, 4, 5}, torch.Float64)
	assert.Error(t, f.ReadInto("w", wrongType), "dtype differs")
	transposed := torch.Zeros(s, []int64{5, 4, 3}, torch.Float32).Permute(2, 1, 0)
	require.NoError(t, transposed.Err())
	err = f.ReadInto("w", transposed)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "contiguous")
	err = f.ReadInto("nope", wrongShape)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"nope"`)
	assert.Error(t, f.Load(s, "nope").Err())

	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "Close is idempotent")
	err = f.ReadInto("w", torch.Zeros(s, []int64{3, 4, 5}, torch.Float32))
	require.Error(t, err)
	assert.True(t, errors.Is(err, torch.ErrClosed), "reading a closed file: %v", err)
}

// TestOpenSafetensorsRejectsOtherFiles: a file that is not safetensors fails at open, before
// anything is allocated.
func TestOpenSafetensorsRejectsOtherFiles(t *testing.T) {
	_, err := torch.OpenSafetensors("../testdata/golden/model_small.pth")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "model_small.pth")
	_, err = torch.OpenSafetensors(filepath.Join(t.TempDir(), "missing.safetensors"))
	require.Error(t, err)
	_, err = torch.OpenSafetensors(t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a regular file")
}

func assertSameBytes(t *testing.T, want, got *torch.Tensor, what string) {
	t.Helper()
	require.Equal(t, want.Shape(), got.Shape(), what)
	require.Equal(t, want.DType(), got.DType(), what)
	a, err := want.Bytes()
	require.NoError(t, err)
	b, err := got.Bytes()
	require.NoError(t, err)
	assert.Equal(t, a, b, what)
}

// TestOpCountsAndTiming: every operator call is counted, and with op timing on each operator
// reports its calls; in-place operators count as calls but make no tensor handle.
func TestOpCountsAndTiming(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	x := torch.Ones(s, []int64{4}, torch.Float32)
	torch.OpStats() // start afresh
	c0 := torch.Counts()
	torch.SetOpTiming(true)
	y := x.Add(x).Relu()
	y.MulScalarInPlace(3)
	torch.SetOpTiming(false)
	c1 := torch.Counts()
	assert.Equal(t, int64(3), c1.OpCalls-c0.OpCalls)
	assert.Equal(t, int64(2), c1.Tensors-c0.Tensors, "the in-place result is x itself")
	v, err := y.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{6, 6, 6, 6}, v)
	calls := map[string]int64{}
	for _, st := range torch.OpStats() {
		calls[st.Name] = st.Calls
		assert.GreaterOrEqual(t, int64(st.Total), int64(0))
	}
	assert.Equal(t, map[string]int64{"aten::add.Tensor": 1, "aten::relu": 1, "aten::mul_.Scalar": 1}, calls)
	assert.Empty(t, torch.OpStats(), "OpStats starts counting afresh")
}
