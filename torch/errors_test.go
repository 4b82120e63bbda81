package torch_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	m.Close()
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
	x.Close()
	x.Close() // idempotent
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
