package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/trt"
)

const tinyONNX = "../../testdata/trt/tiny.onnx"

func runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// Bad command lines are refused, naming the flag and what it wants, before anything is read
// or built (exit status 2).
func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.csad")
	require.NoError(t, os.WriteFile(model, []byte("not read: the flags fail first"), 0o644))
	out := filepath.Join(dir, "m.engine")
	cases := []struct {
		args []string
		want string
	}{
		{nil, "-in is required"},
		{[]string{"-in", tinyONNX}, "-out is required"},
		{[]string{"-in", "model.pt", "-out", out}, "-in model.pt: want a .csad model or an .onnx graph"},
		{[]string{"-in", filepath.Join(dir, "missing.onnx"), "-out", out}, "no such file or directory"},
		{[]string{"-in", dir + "/", "-out", out}, "want a .csad model or an .onnx graph"},
		{[]string{"-in", tinyONNX, "-out", tinyONNX}, "is the input"},
		{[]string{"-in", tinyONNX, "-out", filepath.Join(dir, "no", "m.engine")}, "the folder " + filepath.Join(dir, "no") + " does not exist"},
		{[]string{"-in", tinyONNX, "-out", out, "-min-batch", "0"}, "-min-batch 0 is out of range: want 1..65536"},
		{[]string{"-in", tinyONNX, "-out", out, "-min-batch", "4", "-opt-batch", "2"}, "-opt-batch 2 is out of range: want -min-batch (4)..65536"},
		{[]string{"-in", tinyONNX, "-out", out, "-opt-batch", "8", "-max-batch", "4"}, "-max-batch 4 is out of range: want max(-min-batch, -opt-batch) (8)"},
		{[]string{"-in", tinyONNX, "-out", out, "-max-batch", "70000"}, "-max-batch 70000 is out of range"},
		{[]string{"-in", tinyONNX, "-out", out, "-workspace", "-5"}, "-workspace -5 MiB is out of range"},
		{[]string{"-in", tinyONNX, "-out", out, "-hardware-compatibility", "hopper+"}, `unknown hardware compatibility level "hopper+": want one of none, ampere+, same-compute-capability`},
		{[]string{"-in", tinyONNX, "-out", out, "-device", "-1"}, "-device -1"},
		{[]string{"-in", tinyONNX, "-out", out, "-timing-cache", "/nonexistent/dir/t.cache"}, "-timing-cache /nonexistent/dir/t.cache: the folder /nonexistent/dir does not exist"},
		{[]string{"-in", tinyONNX, "-out", out, "-maps=false"}, "-maps=false applies to a .csad input only"},
		{[]string{"-in", tinyONNX, "-out", out, "-fast"}, "-fast applies to a .csad input only"},
		{[]string{"-in", tinyONNX, "-out", out, "extra"}, `unexpected argument "extra"`},
		{[]string{"-in", tinyONNX, "-out", out, "-max-batchs", "4"}, "flag provided but not defined: -max-batchs"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCmd(c.args...)
		assert.Equal(t, 2, code, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "%v", c.args)
		assert.Empty(t, stdout)
	}
	_, err := os.Stat(out)
	assert.True(t, os.IsNotExist(err), "no engine file for a bad command line")
}

func TestHelp(t *testing.T) {
	code, _, stderr := runCmd("-h")
	assert.Equal(t, 0, code)
	for _, f := range []string{"-in", "-out", "-fp16", "-min-batch", "-opt-batch", "-max-batch", "-workspace", "-timing-cache", "-version-compatible", "-hardware-compatibility", "-plan"} {
		assert.Regexp(t, `\n  `+f+`[ \n]`, stderr)
	}
}

// Without the tensorrt tag a valid command line ends with the fix: which tag, TENSORRT_ROOT
// and where TensorRT comes from; nothing is written.
func TestWithoutTagSaysHowToBuild(t *testing.T) {
	if trt.Enabled {
		t.Skip("built with the tensorrt tag: the GPU tests build engines")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "tiny.engine")
	for _, extra := range [][]string{nil, {"-plan", "-fp16", "-max-batch", "8", "-timing-cache", filepath.Join(dir, "t.cache")}} {
		code, stdout, stderr := runCmd(append([]string{"-in", tinyONNX, "-out", out}, extra...)...)
		assert.Equal(t, 1, code)
		assert.Empty(t, stdout)
		assert.Regexp(t, `^build-engine: probe: this binary was built without TensorRT \(the tensorrt build tag\)`, stderr)
		for _, want := range []string{"make trt-build TENSORRT_ROOT=", "-tags tensorrt", "NVIDIA's tar or deb packages", "pip install tensorrt"} {
			assert.Contains(t, stderr, want)
		}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Empty(t, entries, "nothing is written without TensorRT")
	}
}
