//go:build tensorrt

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/trt"
)

func requireGPU(t *testing.T) {
	t.Helper()
	if _, err := trt.Probe(0); err != nil {
		t.Skipf("no CUDA device for TensorRT: %v", err)
	}
}

func TestGPUBuildEngineFromONNX(t *testing.T) {
	requireGPU(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "tiny.engine")
	cache := filepath.Join(dir, "timing.cache")
	code, stdout, stderr := runCmd("-in", tinyONNX, "-out", out, "-max-batch", "4", "-opt-batch", "2", "-timing-cache", cache, "-log", filepath.Join(dir, "build.log"))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "profile: batch min 1, opt 2, max 4 on input [-1 3 8 8]")
	assert.Contains(t, stdout, "model: category tiny, 2 normalisers")
	assert.Regexp(t, `tiny\.engine: engine of [0-9.]+ MiB, built in `, stdout)
	for _, f := range []string{out, cache, filepath.Join(dir, "build.log")} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.Positive(t, st.Size(), f)
	}
	e, err := trt.Load(out, trt.LoadOptions{})
	require.NoError(t, err)
	require.NoError(t, e.Close())

	plan := filepath.Join(dir, "model.plan")
	code, stdout, stderr = runCmd("-in", tinyONNX, "-out", plan, "-plan")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "raw TensorRT plan (no csad header)")
	_, err = trt.ReadHeaderFile(plan)
	require.ErrorContains(t, err, "not a csad engine file")
}

func TestGPUBuildEngineFromCSAD(t *testing.T) {
	requireGPU(t)
	net, err := csad.ImportUnified("../../testdata/golden/model_small.pth")
	require.NoError(t, err)
	h, err := csad.NewHeader(net, "noise", csad.Provenance{Tool: "test"})
	require.NoError(t, err)
	dir := t.TempDir()
	model := filepath.Join(dir, "small.csad")
	require.NoError(t, csad.SaveModel(model, net, h))
	require.NoError(t, net.Close())
	out := filepath.Join(dir, "small.engine")
	code, stdout, stderr := runCmd("-in", model, "-out", out, "-max-batch", "2")
	if code != 0 && strings.Contains(stderr, "not implemented") {
		t.Skipf("csad.ExportONNX: %s", stderr)
	}
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "model: category noise")
	eh, err := trt.ReadHeaderFile(out)
	require.NoError(t, err)
	assert.Equal(t, "noise", eh.Category)
	assert.NotEmpty(t, eh.Normalisers)
	assert.Contains(t, string(eh.Model), `"category":"noise"`)
}
