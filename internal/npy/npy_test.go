package npy

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGolden reads the arrays numpy.save wrote (testdata/
// testdata/gen_pseudolabel_golden.py (csad/pseudolabel)) and checks that WriteNPY reproduces numpy's
// bytes exactly.
func TestGolden(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		file string
		want Array
	}{
		{"npy_f64_2d.npy", Array{Shape: []int{2, 3}, F64: []float64{0, 0.25, -1.5, 1e-300, math.Pi, 7}}},
		{"npy_i64_1d.npy", Array{Shape: []int{5}, I64: []int64{0, 3, 5, -2, 1 << 40}}},
		{"npy_i64_0d.npy", Array{I64: []int64{6}}},
	} {
		got, err := Read(filepath.Join("testdata", c.file))
		require.NoError(t, err, "regenerate with /usr/bin/python3 csad/pseudolabel/testdata/testdata/gen_pseudolabel_golden.py (csad/pseudolabel)")
		assert.Equal(t, c.want, got, c.file)
		out := filepath.Join(dir, c.file)
		require.NoError(t, Write(out, c.want))
		a, err := os.ReadFile(filepath.Join("testdata", c.file))
		require.NoError(t, err)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, a, b, "%s: bytes differ from numpy.save", c.file)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	require.ErrorContains(t, Write(p, Array{Shape: []int{2}, F64: []float64{1}}), "2 values for shape [2]")
	require.ErrorContains(t, Write(p, Array{Shape: []int{1}, F64: []float64{1}, I64: []int64{1}}), "exactly one")
	require.ErrorContains(t, Write(p, Array{Shape: []int{-1}}), "negative")
	require.NoError(t, Write(p, Array{Shape: []int{0, 3}, F64: []float64{}}))
	a, err := Read(p)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 3}, a.Shape)

	for name, data := range map[string][]byte{
		"bad magic": []byte("PK\x03\x04 not npy"),
		"truncated": []byte("\x93NUMPY\x01\x00\xff\x00{'descr'"),
		"float32":   append([]byte("\x93NUMPY\x01\x00\x46\x00"), []byte("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }             \n\x00\x00\x80\x3f")...),
	} {
		require.NoError(t, os.WriteFile(p, data, 0o644))
		_, err := Read(p)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), p, name)
	}
	// Data shorter than the shape.
	require.NoError(t, Write(p, Array{Shape: []int{3}, I64: []int64{1, 2, 3}}))
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, raw[:len(raw)-8], 0o644))
	_, err = Read(p)
	require.ErrorContains(t, err, "needs 24")
}

// FuzzDecode: any bytes give an array or an error, never a panic, and a
// decoded array re-encodes to a file that decodes to the same array.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"npy_f64_2d.npy", "npy_i64_1d.npy", "npy_i64_0d.npy"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decode(data)
		if err != nil {
			return
		}
		p := filepath.Join(dir, "x.npy")
		require.NoError(t, Write(p, a))
		b, err := Read(p)
		require.NoError(t, err)
		if len(a.Shape) == 0 {
			a.Shape = nil
		}
		assert.Equal(t, a.Shape, b.Shape)
		assert.Equal(t, len(a.F64)+len(a.I64), len(b.F64)+len(b.I64))
	})
}
