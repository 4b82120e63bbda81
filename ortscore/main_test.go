package ortscore_test

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/ort"
	"github.com/csad-go/csad/ortscore"
	"github.com/csad-go/csad/torch/torchtest"
)

// The tests compare with package csad, so this test binary links LibTorch; the package itself
// does not (TestNoLibTorchDependency, TestBinaryWithoutLibTorch).
func TestMain(m *testing.M) {
	// Every test needs ONNX Runtime: without it they would all fail with the same message, so
	// say it once and fail.
	if _, err := os.Stat(ort.LibraryPath()); err != nil {
		fmt.Fprintf(os.Stderr, "ortscore: FAIL: ONNX Runtime library %s: %v (run `make setup` or set ORT_LIB)\n", ort.LibraryPath(), err)
		os.Exit(1)
	}
	torchtest.Main(m)
}

// testImage is a smooth gradient with seeded noise: textured enough that every branch of the
// model sees non-constant input.
func testImage(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(32))
			img.SetRGBA(x, y, color.RGBA{uint8(x*255/max(w, 1)) ^ n, uint8(y*255/max(h, 1)) + n, uint8((x+y)*3) + n, 255})
		}
	}
	return img
}

// writeFake writes a Fake graph to a temporary file and returns its path.
func writeFake(t *testing.T, f ortscore.Fake) string {
	t.Helper()
	data, err := f.Graph()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "fake.onnx")
	require.NoError(t, atomicfile.WriteFile(path, data))
	return path
}

// fake is the default Fake: side 32, a header with threshold 0, every output.
func fake(threshold *float64) ortscore.Fake {
	return ortscore.Fake{Size: 32, Header: ortscore.FakeHeader(32, threshold), ScoreScale: 1}
}

// small is the reduced golden model (testdata/golden/model_small.pth) as csad-go loads it,
// exported with maps, and the same network and header as a .csad file, both kept in memory
// once per test binary.
var small struct {
	once        sync.Once
	err         error
	graph, file []byte
	variants    map[string][]byte // "fp16", "fast": the graph exported with that option
	threshold   float64
}

// smallModel writes the reduced golden model's graph and .csad file into t's temporary folder.
func smallModel(t testing.TB) (onnxPath, csadPath string) {
	t.Helper()
	small.once.Do(func() { small.err = exportSmall() })
	require.NoError(t, small.err, "exporting testdata/golden/model_small.pth")
	dir := t.TempDir()
	onnxPath, csadPath = filepath.Join(dir, "model.onnx"), filepath.Join(dir, "model.csad")
	require.NoError(t, atomicfile.WriteFile(onnxPath, small.graph))
	require.NoError(t, atomicfile.WriteFile(csadPath, small.file))
	return onnxPath, csadPath
}

// smallVariant writes the reduced golden model's export (with maps) with FP16 ("fp16") or Fast
// ("fast") into t's temporary folder.
func smallVariant(t *testing.T, name string) string {
	t.Helper()
	small.once.Do(func() { small.err = exportSmall() })
	require.NoError(t, small.err, "exporting testdata/golden/model_small.pth")
	require.Contains(t, small.variants, name)
	path := filepath.Join(t.TempDir(), "model_"+name+".onnx")
	require.NoError(t, atomicfile.WriteFile(path, small.variants[name]))
	return path
}

func exportSmall() error {
	net, err := csad.ImportUnified(filepath.Join("..", "testdata", "golden", "model_small.pth"))
	if err != nil {
		return err
	}
	defer net.Close()
	h, err := csad.NewHeader(net, "tray", csad.Provenance{Tool: "ortscore test"})
	if err != nil {
		return err
	}
	// A threshold inside the range of the test images' scores (108 to 258 on this
	// random-weight model), so that Anomalous is both true and false among them
	// (TestMatchesCSADModel checks).
	small.threshold = 130
	h.Threshold = &small.threshold
	if small.graph, err = csad.ExportONNX(net, h, csad.ExportOptions{Maps: true}); err != nil {
		return err
	}
	small.variants = map[string][]byte{}
	for name, o := range map[string]csad.ExportOptions{"fp16": {Maps: true, FP16: true}, "fast": {Maps: true, Fast: true}} {
		if small.variants[name], err = csad.ExportONNX(net, h, o); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "ortscore-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.csad")
	if err := csad.SaveModel(path, net, h); err != nil {
		return err
	}
	small.file, err = os.ReadFile(path)
	return err
}
