package ortscore_test

import (
	"context"
	"image"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/ortscore"
)

// TestNamesMatchCSAD keeps the names this package repeats (it cannot import csad) in step with
// the exporter's.
func TestNamesMatchCSAD(t *testing.T) {
	assert.Equal(t, csad.ONNXInput, ortscore.InputName)
	assert.Equal(t, csad.ONNXScore, ortscore.ScoreName)
	assert.Equal(t, csad.ONNXLGST, ortscore.LGSTName)
	assert.Equal(t, csad.ONNXPatchHist, ortscore.PatchHistName)
	assert.Equal(t, csad.ONNXSegmentation, ortscore.SegmentationName)
	assert.Equal(t, csad.ONNXLocalMap, ortscore.LocalMapName)
	assert.Equal(t, csad.ONNXGlobalMap, ortscore.GlobalMapName)
	assert.Equal(t, csad.ONNXHeaderKey, ortscore.HeaderKey)
	assert.Equal(t, ortscore.ErrNonFinite.Error(), csad.ErrNonFinite.Error())
}

// matchImages are the images of TestMatchesCSADModel: odd and even sizes, wider and taller than
// the 128 px input, a 1×1 and a 1-pixel-high strip.
func matchImages() []image.Image {
	return []image.Image{
		testImage(96, 72, 7), testImage(128, 128, 8), testImage(37, 53, 9), testImage(300, 200, 10),
		testImage(1, 1, 11), testImage(250, 1, 12),
	}
}

// relDiff is |a−b| / max(|b|, 1), the bar docs/onnx.md uses between backends.
func relDiff(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1) }

func maxRel32(a, b []float32) float64 {
	d := 0.0
	for i := range b {
		d = max(d, relDiff(float64(a[i]), float64(b[i])))
	}
	return d
}

// TestMatchesCSADModel scores the reduced golden model's export with ortscore and with
// csad.Model on both backends.
//
//   - csad.Model on BackendONNXRuntime runs the same graph on the same ONNX Runtime, and resizes
//     the map with LibTorch: every field is equal, bit for bit (AnomalyMap included, since Resize
//     is LibTorch's bilinear to the last bit).
//   - csad.Model on the torch backend: scores and maps within 1e-4 relative to max(|v|, 1),
//     segmentations equal in at least 99.9 % of the pixels (docs/onnx.md's bar).
func TestMatchesCSADModel(t *testing.T) {
	onnxPath, csadPath := smallModel(t)
	s, err := ortscore.Load(onnxPath, ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	h := s.Header()
	assert.Equal(t, "tray", h.Category)
	require.NotNil(t, h.Threshold)
	assert.Equal(t, 130.0, *h.Threshold)

	viaORT, err := csad.Load(onnxPath, csad.Options{Backend: csad.BackendONNXRuntime, Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, viaORT.Close()) }()
	viaTorch, err := csad.Load(csadPath, csad.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, viaTorch.Close()) }()
	assert.Equal(t, int64(h.ImageSize), viaTorch.Header().Config.ImageSize)
	assert.Equal(t, int64(h.FeatureSize), viaTorch.Header().Config.FeatureSize)

	ctx := context.Background()
	imgs := matchImages()
	got, err := s.ScoreBatch(ctx, imgs)
	require.NoError(t, err)
	wantORT, err := viaORT.ScoreBatch(ctx, imgs)
	require.NoError(t, err)
	wantTorch, err := viaTorch.ScoreBatch(ctx, imgs)
	require.NoError(t, err)

	var worstScore, worstMap, worstAMap float64
	var flipped, pixels, sameSeg int
	anomalous := map[bool]int{}
	for i, r := range got {
		o := wantORT[i]
		assert.Equal(t, o.Score, r.Score, "image %d score", i)
		assert.Equal(t, o.LGST, r.LGST, "image %d lgst", i)
		assert.Equal(t, o.PatchHist, r.PatchHist, "image %d patch_hist", i)
		assert.Equal(t, o.Local, r.Local, "image %d local", i)
		assert.Equal(t, o.Global, r.Global, "image %d global", i)
		assert.Equal(t, o.MapSide, r.MapSide)
		assert.Equal(t, o.Segmentation, r.Segmentation, "image %d segmentation", i)
		assert.Equal(t, o.Width, r.Width)
		assert.Equal(t, o.Height, r.Height)
		assert.Equal(t, o.AnomalyMap, r.AnomalyMap, "image %d anomaly map: Resize must be LibTorch's bit for bit", i)
		assert.Equal(t, o.Anomalous, r.Anomalous)
		anomalous[r.Anomalous]++

		w := wantTorch[i]
		require.Len(t, r.AnomalyMap, w.Width*w.Height)
		worstMap = max(worstMap, maxRel32(r.Local, w.Local), maxRel32(r.Global, w.Global))
		worstAMap = max(worstAMap, maxRel32(r.AnomalyMap, w.AnomalyMap))
		require.Len(t, r.Segmentation, len(w.Segmentation))
		changed := 0
		for p := range w.Segmentation {
			if r.Segmentation[p] != w.Segmentation[p] {
				changed++
			}
		}
		flipped += changed
		pixels += len(w.Segmentation)
		worstScore = max(worstScore, relDiff(r.LGST, w.LGST))
		if changed == 0 {
			// A pixel of another class changes the histograms, and with them the patch-histogram
			// and fused scores by more than rounding; those images' scores are held bit for bit
			// to the csad onnxruntime backend's above, and their segmentation counted below.
			worstScore = max(worstScore, relDiff(r.Score, w.Score), relDiff(r.PatchHist, w.PatchHist))
			sameSeg++
		}
	}
	assert.GreaterOrEqual(t, 2*sameSeg, len(imgs), "images segmented as the torch backend segments them, at least half")
	assert.LessOrEqual(t, worstScore, 1e-4, "scores vs the torch backend")
	assert.LessOrEqual(t, worstMap, 1e-4, "local/global maps vs the torch backend")
	assert.LessOrEqual(t, worstAMap, 1e-4, "anomaly maps vs the torch backend")
	assert.LessOrEqual(t, float64(flipped), 0.001*float64(pixels), "segmentation pixels differing from the torch backend")
	assert.Positive(t, anomalous[true], "some image above the threshold")
	assert.Positive(t, anomalous[false], "some image below the threshold")
	t.Logf("vs csad onnxruntime backend: equal bit for bit on %d images; vs torch backend: scores %.2g (patch-histogram and fused on the %d images segmented alike), maps %.2g, anomaly maps %.2g (relative), %d of %d segmentation pixels differ",
		len(imgs), worstScore, sameSeg, worstMap, worstAMap, flipped, pixels)
}

// TestFP16Export: the FP16 export (float16 trunks, float32 outputs) loads and scores as
// csad.Model's onnxruntime backend does, bit for bit.
func TestFP16Export(t *testing.T) {
	path := smallVariant(t, "fp16")
	requireSameResults(t, path, path, csad.Options{Backend: csad.BackendONNXRuntime, Threads: 1})
}

// TestFastExport: fast mode's export scores as csad.Model's onnxruntime backend does with Fast
// on the .csad file (which makes the same graph in memory), bit for bit.
func TestFastExport(t *testing.T) {
	_, csadPath := smallModel(t)
	requireSameResults(t, smallVariant(t, "fast"), csadPath, csad.Options{Backend: csad.BackendONNXRuntime, Threads: 1, Fast: true})
}

// requireSameResults scores two images with ortscore on graph and with csad.Model on model.
func requireSameResults(t *testing.T, graph, model string, opts csad.Options) {
	t.Helper()
	s, err := ortscore.Load(graph, ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	m, err := csad.Load(model, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	imgs := matchImages()[:2]
	got, err := s.ScoreBatch(context.Background(), imgs)
	require.NoError(t, err)
	want, err := m.ScoreBatch(context.Background(), imgs)
	require.NoError(t, err)
	for i := range imgs {
		assert.Equal(t, want[i].Score, got[i].Score, "image %d", i)
		assert.Equal(t, want[i].Local, got[i].Local, "image %d", i)
		assert.Equal(t, want[i].Segmentation, got[i].Segmentation, "image %d", i)
		assert.Equal(t, want[i].AnomalyMap, got[i].AnomalyMap, "image %d", i)
	}
}

// TestGatherBatchMatchesCSADBatch: a gathered pass on the reduced golden model's export hands
// each caller exactly what csad.Model's onnxruntime backend gives the image in a batch of the
// same images in the same order, bit for bit.
func TestGatherBatchMatchesCSADBatch(t *testing.T) {
	onnxPath, _ := smallModel(t)
	s, err := ortscore.Load(onnxPath, ortscore.Options{Threads: 1, MaxInFlight: 1, GatherBatch: 6})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	viaORT, err := csad.Load(onnxPath, csad.Options{Backend: csad.BackendONNXRuntime, Threads: 1, MaxBatch: 6})
	require.NoError(t, err)
	defer func() { require.NoError(t, viaORT.Close()) }()

	imgs := append([]image.Image{testImage(64, 64, 30)}, matchImages()...)
	got, batches := gatherBehindFirst(t, s, imgs)
	require.Equal(t, []int{1, 6}, batches, "the first image alone, then the six queued behind it in one pass")
	want, err := viaORT.ScoreBatch(context.Background(), imgs[1:])
	require.NoError(t, err)
	for i, w := range want {
		r := got[i+1]
		require.NotNil(t, r, "image %d", i+1)
		assert.Equal(t, w.Score, r.Score, "image %d score", i+1)
		assert.Equal(t, w.LGST, r.LGST, "image %d lgst", i+1)
		assert.Equal(t, w.PatchHist, r.PatchHist, "image %d patch_hist", i+1)
		assert.Equal(t, w.Local, r.Local, "image %d local", i+1)
		assert.Equal(t, w.Global, r.Global, "image %d global", i+1)
		assert.Equal(t, w.Segmentation, r.Segmentation, "image %d segmentation", i+1)
		assert.Equal(t, w.AnomalyMap, r.AnomalyMap, "image %d anomaly map", i+1)
		assert.Equal(t, w.Anomalous, r.Anomalous, "image %d anomalous", i+1)
	}
}
