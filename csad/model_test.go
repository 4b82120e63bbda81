package csad_test

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/synth"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// smallModelFile imports the reduced-width reference checkpoint into a .csad file.
func smallModelFile(t testing.TB) string {
	t.Helper()
	net, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	h, err := csad.NewHeader(net, "noise", csad.Provenance{Tool: "test"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "small.csad")
	if err := csad.SaveModel(path, net, h); err != nil {
		t.Fatal(err)
	}
	return path
}

// testImages generates a few synthetic scene images of different sizes.
func testImages(t testing.TB, n int) []image.Image {
	t.Helper()
	dir := t.TempDir()
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 200, 150
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = n, 1, 1, 1, 1
	if err := synth.Generate(dir, "box", opt); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "box", "train", "good", "*.png"))
	if err != nil || len(files) < n {
		t.Fatalf("generated %d images (%v), want %d", len(files), err, n)
	}
	var imgs []image.Image
	for _, f := range files[:n] {
		img, err := imageproc.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

func TestModelFileRoundTrip(t *testing.T) {
	path := smallModelFile(t)
	m, err := csad.Load(path, csad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := m.Header()
	// The file holds exactly the imported tensors, and the header it was written with.
	ref, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want, err := csad.NewHeader(ref, "noise", csad.Provenance{Tool: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, h, cmpopts.IgnoreFields(csad.Provenance{}, "Created")); d != "" {
		t.Errorf("header changed through the model file (-want +got):\n%s", d)
	}
	if h.Preset != "cpu" || len(h.Normalise) == 0 {
		t.Errorf("header preset %q, normalisers %v", h.Preset, h.Normalise)
	}
	got := nn.StateDict(m.Network())
	for i, n := range nn.StateDict(ref) {
		a, err := n.Tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		b, err := got[i].Tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if got[i].Name != n.Name || string(a) != string(b) {
			t.Fatalf("tensor %s changed through the model file", n.Name)
		}
	}
}

func TestModelFileErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.csad")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{filepath.Join(dir, "missing.csad"), "no such file"},
		{garbage, "garbage.csad"},
		{"../testdata/golden/model_small.pth", "not a .csad file"},
		{"../testdata/checkpoint/tensors.safetensors", "no csad header"},
	}
	for _, c := range cases {
		_, err := csad.Load(c.path, csad.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s) = %v, want an error mentioning %q", c.path, err, c.want)
		}
	}
	// A header that promises 6 classes over 5-class weights is refused before anything is
	// allocated, naming the field.
	net, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	h, err := csad.NewHeader(net, "x", csad.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	h6 := h
	h6.Config.Segmentor.Classes = 6
	hb, err := json.Marshal(h6)
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "wrong.csad")
	if err := torch.SaveTensorsMeta(wrong, nn.StateDict(net), map[string]string{"csad": string(hb)}); err != nil {
		t.Fatal(err)
	}
	if _, err = csad.Load(wrong, csad.Options{}); err == nil || !strings.Contains(err.Error(), "segmentor.classes 6 ≠ 5") {
		t.Errorf("loading a header that does not match the weights: %v", err)
	}
	// A consistent header over one mis-shaped tensor names the key.
	hb, err = json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	var sd []torch.Named
	for _, n := range nn.StateDict(net) {
		if n.Name == "patch_hist_detector.hist_invcov" {
			n.Tensor = torch.Zeros(s, []int64{4, 4}, torch.Float32)
		}
		sd = append(sd, n)
	}
	if err := torch.SaveTensorsMeta(wrong, sd, map[string]string{"csad": string(hb)}); err != nil {
		t.Fatal(err)
	}
	_, err = csad.Load(wrong, csad.Options{})
	for _, want := range []string{"shape mismatch", "patch_hist_detector.hist_invcov: checkpoint [4 4] vs model [5 5]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("loading mis-shaped weights: %v; want it to mention %q", err, want)
		}
	}
	// A checkpoint of something else is refused with the reason.
	if _, err := csad.ImportUnified("../testdata/checkpoint/optimizer.pt"); err == nil ||
		!strings.Contains(err.Error(), "param_groups") {
		t.Errorf("importing an optimizer state: %v", err)
	}
	// A state dict that is not CSAD's names what is missing.
	if _, err := csad.ImportUnified("../testdata/checkpoint/state_dict.pt"); err == nil ||
		!strings.Contains(err.Error(), "not a CSAD unified checkpoint: missing key encoder.conv1.weight") {
		t.Errorf("importing a foreign state dict: %v", err)
	}
}

// Scoring in an explicit batch gives what scoring each image alone gives up to float32 rounding,
// and a closed model refuses work.
func TestScoreBatchMatchesSingles(t *testing.T) {
	m, err := csad.Load(smallModelFile(t), csad.Options{MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	imgs := testImages(t, 4)
	batch, err := m.ScoreBatch(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		r, err := m.Score(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		// Convolutions may round differently per batch size (oneDNN picks kernels by shape), so
		// the bar is 1e-5 relative, as for PyTorch itself; the segmentation must not change.
		if rel := relDiff(r.Score, batch[i].Score); rel > 1e-5 {
			t.Errorf("image %d: alone %v, in a batch %v", i, r.Score, batch[i].Score)
		}
		// ...and the segmentation argmax may flip where two classes are within that rounding:
		// at most 0.1 % of the pixels.
		diff := 0
		for k := range r.Segmentation {
			if r.Segmentation[k] != batch[i].Segmentation[k] {
				diff++
			}
		}
		if diff*1000 > len(r.Segmentation) {
			t.Errorf("image %d: %d of %d segmentation pixels differ between batch and single", i, diff, len(r.Segmentation))
		}
		b := img.Bounds()
		if r.Width != b.Dx() || r.Height != b.Dy() || len(r.AnomalyMap) != b.Dx()*b.Dy() ||
			len(r.Local) != 64*64 || len(r.Segmentation) != 256*256 {
			t.Errorf("image %d: result sizes %dx%d, %d, %d, %d", i, r.Width, r.Height, len(r.AnomalyMap), len(r.Local), len(r.Segmentation))
		}
	}
	m.Close()
	if _, err := m.Score(context.Background(), imgs[0]); !errors.Is(err, csad.ErrClosed) {
		t.Errorf("score after Close: %v", err)
	}
}

func relDiff(a, b float64) float64 {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d / max(1, abs(b))
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// Eight goroutines scoring with one model get what one goroutine gets (run under -race in CI).
func TestConcurrentScoring(t *testing.T) {
	m, err := csad.Load(smallModelFile(t), csad.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	imgs := testImages(t, 2)
	want := make([]*csad.Result, len(imgs))
	for i, img := range imgs {
		if want[i], err = m.Score(context.Background(), img); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 3 {
				i := (g + k) % len(imgs)
				r, err := m.Score(context.Background(), imgs[i])
				if err != nil {
					errs <- err
					return
				}
				if r.Score != want[i].Score || string(r.Segmentation) != string(want[i].Segmentation) {
					errs <- errors.New("concurrent result differs from the sequential one")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// ScoreFiles scores the readable files and reports the others.
func TestScoreFilesBadInput(t *testing.T) {
	m, err := csad.Load(smallModelFile(t), csad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	if err := imageproc.WritePNG(good, testImages(t, 1)[0]); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.png")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	rs := m.ScoreFiles(context.Background(), []string{truncated, good, filepath.Join(dir, "missing.png")})
	if rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), "truncated.png") {
		t.Errorf("truncated file: %v", rs[0].Err)
	}
	if rs[1].Err != nil || rs[1].Result == nil {
		t.Errorf("good file not scored: %v", rs[1].Err)
	}
	if rs[2].Err == nil || !strings.Contains(rs[2].Err.Error(), "missing.png") {
		t.Errorf("missing file: %v", rs[2].Err)
	}
}

// A model whose normalisers are NaN gives NaN scores: that is every image's error, named, never
// a number.
func TestNonFiniteScoreIsAnError(t *testing.T) {
	m, err := csad.Load(smallModelFile(t), csad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Network().LGSTStd.FillInPlace(math.NaN()).Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "img.png")
	if err := imageproc.WritePNG(p, testImages(t, 1)[0]); err != nil {
		t.Fatal(err)
	}
	rs := m.ScoreFiles(context.Background(), []string{p})
	if !errors.Is(rs[0].Err, csad.ErrNonFinite) || !strings.Contains(rs[0].Err.Error(), "img.png") {
		t.Errorf("NaN score reported as %v", rs[0].Err)
	}
	if _, err := m.Score(context.Background(), rs[0].Image); !errors.Is(err, csad.ErrNonFinite) {
		t.Errorf("Score with NaN normalisers: %v", err)
	}
}

// By default every image is scored alone, so batch scoring is bit for bit single scoring.
func TestDefaultBatchIsExact(t *testing.T) {
	m, err := csad.Load(smallModelFile(t), csad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	imgs := testImages(t, 3)
	batch, err := m.ScoreBatch(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		r, err := m.Score(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if r.Score != batch[i].Score || r.LGST != batch[i].LGST || string(r.Segmentation) != string(batch[i].Segmentation) {
			t.Errorf("image %d: ScoreBatch %v, Score %v: the default must score one image per forward pass", i, batch[i].Score, r.Score)
		}
	}
	if _, err := csad.Load(smallModelFile(t), csad.Options{MaxBatch: -1}); err == nil {
		t.Error("a negative MaxBatch is accepted")
	}
}

// The patch-histogram explanation breaks the detector's distances down exactly: its distances
// are the scorer's (to float32 rounding) and each detector's shares sum to 1.
func TestExplainPatchHist(t *testing.T) {
	m, err := csad.Load(smallModelFile(t), csad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := testImages(t, 1)[0]
	e, err := m.ExplainPatchHist(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	s := torch.NewInferenceScope()
	defer s.Close()
	x := torch.FromSlice(s, imageproc.Preprocess(img, 256), 1, 3, 256, 256)
	o, err := m.ScoreTensor(x)
	if err != nil {
		t.Fatal(err)
	}
	d256, err := o.D256.Item()
	if err != nil {
		t.Fatal(err)
	}
	d128, err := o.D128.Item()
	if err != nil {
		t.Fatal(err)
	}
	if relDiff(e.D256, d256) > 1e-4 || relDiff(e.D128, d128) > 1e-4 {
		t.Errorf("explained distances %v, %v; scorer's %v, %v", e.D256, e.D128, d256, d128)
	}
	for name, cs := range map[string][]csad.Contribution{"whole": e.Whole, "quadrants": e.Quadrants} {
		var sum float64
		for _, c := range cs {
			sum += c.Share
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("%s: shares sum to %v", name, sum)
		}
	}
	if len(e.Segmentation) != 256*256 || len(e.Quadrants) != 4*(len(e.Whole)) {
		t.Errorf("segmentation %d pixels, %d whole and %d quadrant entries", len(e.Segmentation), len(e.Whole), len(e.Quadrants))
	}
}
