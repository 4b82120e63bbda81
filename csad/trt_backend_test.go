package csad_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/trt"
)

// Without the tensorrt tag the backend fails with the error that names the tag.
func TestTensorRTBackendNeedsTheTag(t *testing.T) {
	if trt.Enabled {
		t.Skip("built with the tensorrt tag")
	}
	_, err := csad.Load(smallModelFile(t), csad.Options{Backend: csad.BackendTensorRT, Engine: "m.engine", Device: "cuda"})
	require.ErrorIs(t, err, trt.ErrNotBuilt)
	assert.ErrorContains(t, err, "tensorrt")
}

// On a GPU with TensorRT (scripts/trt-gpu-check.sh), a Model on the tensorrt backend scores
// as the torch backend does: FP32 within 1e-3 relative to max(|score|, 1), segmentation equal on
// 99 % of the pixels.
func TestTensorRTBackendMatchesTorch(t *testing.T) {
	if _, err := trt.Probe(0); err != nil {
		t.Skipf("no TensorRT GPU: %v", err)
	}
	model := smallModelFile(t)
	net, h, err := csad.LoadModel(model)
	require.NoError(t, err)
	graph, err := csad.ExportONNX(net, h, csad.ExportOptions{Maps: true})
	net.Close()
	require.NoError(t, err)
	b, err := trt.Build(graph, trt.BuildOptions{MaxBatch: 2})
	require.NoError(t, err)
	engine := filepath.Join(t.TempDir(), "small.engine")
	require.NoError(t, b.WriteFile(engine))

	imgs := testImages(t, 3)
	ref, err := csad.Load(model, csad.Options{})
	require.NoError(t, err)
	defer ref.Close()
	m, err := csad.Load(model, csad.Options{Backend: csad.BackendTensorRT, Engine: engine, Device: "cuda"})
	require.NoError(t, err)
	defer m.Close()
	want, err := ref.ScoreBatch(context.Background(), imgs)
	require.NoError(t, err)
	got, err := m.ScoreBatch(context.Background(), imgs)
	require.NoError(t, err)
	for i := range want {
		assert.LessOrEqual(t, relDiff(got[i].Score, want[i].Score), 1e-3, "image %d", i)
		same := 0
		for j := range want[i].Segmentation {
			if got[i].Segmentation[j] == want[i].Segmentation[j] {
				same++
			}
		}
		assert.GreaterOrEqual(t, float64(same)/float64(len(want[i].Segmentation)), 0.99, "image %d", i)
	}
}

// ReadHeader gives LoadModel's header without the weights, and its errors.
func TestReadHeader(t *testing.T) {
	model := smallModelFile(t)
	net, want, err := csad.LoadModel(model)
	require.NoError(t, err)
	net.Close()
	got, err := csad.ReadHeader(model)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	_, err = csad.ReadHeader(filepath.Join(t.TempDir(), "missing.csad"))
	assert.ErrorContains(t, err, "missing.csad: no such file")
}
