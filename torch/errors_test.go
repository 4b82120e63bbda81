package torch_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
)

// Each kind of failure comes back as a *torch.Error with the right code; nothing panics or aborts.
func TestErrorKinds(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.FromSlice(s, []float32{1, 2, 3, 4, 5, 6}, 2, 3)

	cases := []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"shape mismatch", x.Matmul(x).Err(), torch.ErrInvalid, "cannot be multiplied"},
		{"conv needs 4-D input", x.Conv2d(x, nil, torch.Conv2dOptions{}).Err(), torch.ErrInvalid, "4D"},
		{"broadcast mismatch", x.Add(torch.FromSlice(s, []float32{1, 2}, 2)).Err(), torch.ErrInvalid, "must match"},
		{"dimension out of range", x.Narrow(5, 0, 1).Err(), torch.ErrIndex, "out of range"},
		{"wrong dtype for op", x.OneHot(3).Err(), torch.ErrInvalid, "one_hot"},
		{"wrong Go type", dataErr(x), torch.ErrType, "asked for int64"},
		{"slice does not fill shape", torch.FromSlice(s, []float32{1, 2, 3}, 2, 2).Err(), torch.ErrInvalid, "do not fill"},
		{"out of memory", torch.Empty(s, []int64{1 << 40, 1 << 10}, torch.Float32).Err(), torch.ErrOutOfMemory, "memory"},
		{"missing TorchScript file", scriptErr("/nonexistent/model.pt"), torch.ErrIO, "no such file"},
		{"garbage TorchScript file", scriptErr(garbageFile(t)), torch.ErrIO, ""},
		{"use after close", closedErr(), torch.ErrClosed, ""},
		{"nil operand", x.Add(nil).Err(), torch.ErrInvalid, "nil tensor"},
		{"nil list entry", torch.Cat([]*torch.Tensor{x, nil}, 0).Err(), torch.ErrInvalid, "nil tensor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(c.err, c.want) {
				t.Errorf("error %q is not %v", c.err, c.want)
			}
			var te *torch.Error
			if !errors.As(c.err, &te) {
				t.Errorf("error %T is not a *torch.Error", c.err)
			}
			if !strings.Contains(strings.ToLower(c.err.Error()), strings.ToLower(c.msg)) {
				t.Errorf("error %q does not mention %q", c.err, c.msg)
			}
		})
	}
}

func dataErr(x *torch.Tensor) error {
	_, err := torch.Data[int64](x)
	return err
}

func scriptErr(path string) error {
	m, err := torch.LoadScript(path)
	if m != nil {
		return errors.Join(errors.New("LoadScript returned a module with its error"), m.Close())
	}
	return err
}

func garbageFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bad.pt")
	if err := os.WriteFile(p, []byte("PK\x03\x04 this is not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func closedErr() error {
	x := torch.Zeros(nil, []int64{2}, torch.Float32)
	if err := errors.Join(x.Err(), x.Close(), x.Close()); err != nil { // Close is idempotent
		return err
	}
	return x.Relu().Err()
}

// A failed operation's error travels through later operations and into the scope.
func TestStickyError(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.FromSlice(s, []float32{1, 2, 3}, 3)
	bad := x.View(2, 2)
	y := bad.Relu().MulScalar(2).Sum()
	if !errors.Is(y.Err(), torch.ErrInvalid) {
		t.Fatalf("error did not propagate: %v", y.Err())
	}
	if _, err := y.Item(); err == nil || err.Error() != bad.Err().Error() {
		t.Errorf("Item returned %v, want the original error %v", err, bad.Err())
	}
	if s.Err() == nil || s.Err().Error() != bad.Err().Error() {
		t.Errorf("scope error %v, want %v", s.Err(), bad.Err())
	}
}

// Using a closed tensor names the operation that was attempted, never "torch: : ...".
func TestClosedTensorErrorNamesOperation(t *testing.T) {
	live := torch.NewScope()
	defer live.Close()
	x := torch.Zeros(nil, []int64{2}, torch.Float32)
	require.NoError(t, x.Close())
	const why = ": use after close: the tensor was closed (by Close or by its scope's Close); " +
		"Keep it out of the scope or Share it to use it longer"
	for _, c := range []struct {
		op  string
		err error
	}{
		{"aten::relu", x.Relu().Err()},
		{"aten::add.Tensor", torch.Ones(live, []int64{2}, torch.Float32).Add(x).Err()},
		{"Data", dataErrF32(x)},
		{"Share", x.Share(nil).Err()},
		{"Size", sizeErr(x, 0)},
		{"Item", itemErr(x)},
		{"Backward", x.Backward()},
		{"Tensor", x.Err()},
	} {
		require.Error(t, c.err, c.op)
		assert.ErrorIs(t, c.err, torch.ErrClosed, c.op)
		assert.Equal(t, "torch: "+c.op+why, c.err.Error())
	}
	assert.Equal(t, "torch: use after close", torch.ErrClosed.Error(), "a sentinel prints without an empty Op")

	s := torch.NewScope()
	require.NoError(t, s.Close())
	err := torch.Zeros(s, []int64{1}, torch.Float32).Err()
	assert.ErrorIs(t, err, torch.ErrClosed)
	assert.Equal(t, "torch: aten::zeros: use after close: its results would belong to a closed scope; create them in an open one",
		err.Error())
}

func dataErrF32(x *torch.Tensor) error {
	_, err := torch.Data[float32](x)
	return err
}

func sizeErr(x *torch.Tensor, dim int) error {
	_, err := x.Size(dim)
	return err
}

func itemErr(x *torch.Tensor) error {
	_, err := x.Item()
	return err
}

// Share of a failed or closed tensor is a failed tensor with the reason, owned by the scope asked
// for, and frees nothing that is not its own.
func TestShareOfFailedOrClosed(t *testing.T) {
	base := torch.Live().Tensors
	s := torch.NewScope()
	defer s.Close()
	bad := torch.FromSlice(s, []float32{1, 2, 3}, 2, 2)
	require.ErrorIs(t, bad.Err(), torch.ErrInvalid)
	sh := bad.Share(s)
	assert.Equal(t, bad.Err(), sh.Err(), "Share passes the original error on")
	assert.Same(t, s, sh.Scope())

	closed := torch.Zeros(nil, []int64{2}, torch.Float32)
	require.NoError(t, closed.Close())
	sc := closed.Share(nil)
	assert.ErrorIs(t, sc.Err(), torch.ErrClosed)
	assert.Nil(t, sc.Scope())
	assert.Equal(t, base, torch.Live().Tensors, "a failed Share made a native tensor")
}

// Size reports each dimension, counting from the end for negative dims, and errors (never a
// panic or a nil slice to index) for failed tensors and dims out of range.
func TestSize(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.Zeros(s, []int64{2, 3, 5}, torch.Float32)
	for dim, want := range map[int]int64{0: 2, 1: 3, 2: 5, -1: 5, -3: 2} {
		got, err := x.Size(dim)
		require.NoError(t, err, "dim %d", dim)
		assert.Equal(t, want, got, "dim %d", dim)
	}
	_, err := x.Size(3)
	assert.ErrorIs(t, err, torch.ErrIndex)
	assert.EqualError(t, err, "torch: Size: index out of range: dimension 3 out of range for a 3-D tensor of shape [2 3 5] (valid: -3 to 2)")
	_, err = x.Size(-4)
	assert.ErrorIs(t, err, torch.ErrIndex)
	_, err = torch.Scalar(s, 1, torch.Float32).Size(0)
	assert.EqualError(t, err, "torch: Size: index out of range: dimension 0 of a 0-D tensor: it has no dimensions")

	bad := x.View(7)
	_, err = bad.Size(0)
	assert.Equal(t, bad.Err(), err, "Size of a failed tensor reports its error")
	assert.Nil(t, bad.Shape())
	assert.Zero(t, bad.Numel(), "a failed tensor has no elements")
	assert.Zero(t, bad.Dim())
}
