package npy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.npy")
	in := Array{Shape: []int{2, 3}, Float64: []float64{1, 2.5, -3, 4, 5, 6e-300}}
	require.NoError(t, Write(p, in))
	out, err := Read(p)
	require.NoError(t, err)
	require.Equal(t, in, out)
	q := filepath.Join(dir, "i.npy")
	require.NoError(t, Write(q, Array{Shape: []int{4}, Int64: []int64{0, 3, 7, -1}}))
	got, err := Read(q)
	require.NoError(t, err)
	require.Equal(t, []int64{0, 3, 7, -1}, got.Int64)
	require.Equal(t, []int{4}, got.Shape)
}

// NumPy reads what we write and we read what NumPy writes.
func TestNumPyInterop(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "go.npy")
	require.NoError(t, Write(p, Array{Shape: []int{2, 2}, Float64: []float64{1, 2, 3, 4}}))
	script := `import numpy as np, sys
a = np.load(sys.argv[1]); assert a.dtype == np.float64 and a.shape == (2, 2) and a[1, 0] == 3, a
np.save(sys.argv[2], np.array([5, 6, 7], dtype=np.int64))`
	q := filepath.Join(dir, "py.npy")
	out, err := exec.Command("/usr/bin/python3", "-c", script, p, q).CombinedOutput()
	require.NoError(t, err, string(out))
	got, err := Read(q)
	require.NoError(t, err)
	require.Equal(t, []int64{5, 6, 7}, got.Int64)
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"garbage": "not a npy file at all",
		"huge":    "\x93NUMPY\x01\x00\x46\x00{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }      \n",
		"dtype":   "\x93NUMPY\x01\x00\x3e\x00{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }  \n",
	}
	for name, body := range cases {
		p := filepath.Join(dir, name+".npy")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		_, err := Read(p)
		require.Error(t, err, name)
		require.True(t, strings.Contains(err.Error(), name+".npy"), err.Error())
	}
}
