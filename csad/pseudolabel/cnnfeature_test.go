package pseudolabel

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/internal/npy"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

func TestMain(m *testing.M) { torchtest.Main(m) }

// cnnGolden runs testdata/gen_cnnfeature_golden.py once per machine (it writes the
// ~270 MB fixture checkpoint, so it is never committed) and returns its folder.
func cnnGolden(t *testing.T) string {
	t.Helper()
	return torchtest.GoldenDir(t, "../../testdata", "gen_cnnfeature_golden.py")
}

func readNpy(t *testing.T, dir, name string) npy.Array {
	t.Helper()
	a, err := npy.Read(filepath.Join(dir, name))
	require.NoError(t, err)
	return a
}

// npyImages turns an int64 (n, h, w, 3) or (h, w, 3) array into RGB images.
func npyImages(t *testing.T, a npy.Array) []*imageproc.RGB {
	t.Helper()
	sh := a.Shape
	if len(sh) == 3 {
		sh = append([]int{1}, sh...)
	}
	require.Len(t, sh, 4)
	require.Equal(t, 3, sh[3])
	n, h, w := sh[0], sh[1], sh[2]
	out := make([]*imageproc.RGB, n)
	for i := range out {
		im := imageproc.NewRGB(w, h)
		for k := range im.Pix {
			v := a.I64[i*h*w*3+k]
			require.True(t, v >= 0 && v <= 255)
			im.Pix[k] = uint8(v)
		}
		out[i] = im
	}
	return out
}

func TestRotateMatchesPillow(t *testing.T) {
	dir := cnnGolden(t)
	angles := readNpy(t, dir, "rot_angles.npy").F64
	require.Len(t, angles, Rotations+7)
	for _, name := range []string{"sq", "rect"} {
		src := npyImages(t, readNpy(t, dir, "rot_src_"+name+".npy"))[0]
		want := npyImages(t, readNpy(t, dir, "rot_out_"+name+".npy"))
		require.Len(t, want, len(angles))
		for i, a := range angles {
			got := Rotate(src, a)
			// Bitwise: Pillow's arithmetic is deterministic double precision.
			diff := 0
			for k := range got.Pix {
				if got.Pix[k] != want[i].Pix[k] {
					diff++
				}
			}
			assert.Zero(t, diff, "%s image rotated by %g°: bytes differing from Pillow's (of %d)", name, a, len(got.Pix))
		}
	}
}

func TestRotationAngles(t *testing.T) {
	a := RotationAngles()
	require.Len(t, a, Rotations)
	assert.Equal(t, 0.0, a[0])
	assert.Equal(t, 360.0, a[Rotations-1])
	assert.InDelta(t, 360.0/59, a[1], 1e-12)
}

func TestRotationBatchMatchesTorchvision(t *testing.T) {
	dir := cnnGolden(t)
	crop := npyImages(t, readNpy(t, dir, "crop.npy"))[0]
	want := readNpy(t, dir, "crop_input.npy")
	require.Equal(t, []int{Rotations, 3, AlignSize, AlignSize}, want.Shape)
	got := RotationBatch(crop)
	require.Len(t, got, len(want.F64))
	bad := 0
	for i, v := range got {
		// Bitwise: the float32 values of Pillow's rotation through ToTensor and Normalize.
		if float64(v) != want.F64[i] {
			bad++
		}
	}
	assert.Zero(t, bad, "values differing from torchvision's input batch")
}

// fixtureExtractor loads the golden script's random-weight wide_resnet50_2 (freed when the
// test ends, before TestMain's leak check).
func fixtureExtractor(t *testing.T) *csad.FeatureExtractor {
	t.Helper()
	fe, err := csad.LoadFeatureExtractor(filepath.Join(cnnGolden(t), "wrn50_2.pth"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, fe.Close()) })
	return fe
}

func TestCNNFeatureMatchesPython(t *testing.T) {
	dir := cnnGolden(t)
	fe := fixtureExtractor(t)
	crop := npyImages(t, readNpy(t, dir, "crop.npy"))[0]
	want := readNpy(t, dir, "feature.npy").F64
	require.Len(t, want, csad.FeatureChannels)
	got, err := CNNFeature(fe, crop)
	require.NoError(t, err)
	require.Len(t, got, csad.FeatureChannels)
	var maxAbs, maxDiff float64
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(want[i]))
		maxDiff = math.Max(maxDiff, math.Abs(got[i]-want[i]))
	}
	require.Greater(t, maxAbs, 0.0)
	// Same float32 input batch; LibTorch's convolution kernels and reduction order may
	// differ from the Python build's in the last bits, accumulated over 50 layers.
	assert.LessOrEqual(t, maxDiff/maxAbs, 1e-5, "max |Go − Python| / max |Python| (max |Python| = %g)", maxAbs)
	t.Logf("CNN feature: max abs diff %.3g, relative %.3g", maxDiff, maxDiff/maxAbs)
}

func TestCNNFeatureErrors(t *testing.T) {
	_, err := CNNFeature(nil, imageproc.NewRGB(AlignSize, AlignSize))
	require.ErrorContains(t, err, "feature extractor")
	// The crop is checked before the network runs.
	_, err = CNNFeature(&csad.FeatureExtractor{}, imageproc.NewRGB(8, 8))
	require.ErrorContains(t, err, "at least 32×32")
}

func TestLoadFeatureExtractorMissingLayer4(t *testing.T) {
	dir := cnnGolden(t)
	s := torch.NewScope()
	defer s.Close()
	ts, err := torch.LoadTensors(s, filepath.Join(dir, "wrn50_2.pth"))
	require.NoError(t, err)
	var keep []torch.Named
	for _, n := range ts {
		if !strings.HasPrefix(n.Name, "layer4.") {
			keep = append(keep, n)
		}
	}
	require.Less(t, len(keep), len(ts))
	path := filepath.Join(t.TempDir(), "no_layer4.safetensors")
	require.NoError(t, torch.SaveTensors(path, keep))
	fe, err := csad.LoadFeatureExtractor(path)
	require.Error(t, err)
	assert.Nil(t, fe)
	assert.Contains(t, err.Error(), "layer4.0.conv1.weight")
	assert.Contains(t, err.Error(), "lacks")
	assert.Contains(t, err.Error(), path)

	_, err = csad.LoadFeatureExtractor(filepath.Join(t.TempDir(), "absent.pth"))
	require.Error(t, err)
}

// rectMask is a mask with the pixels of [x0,x1]×[y0,y1] set.
func rectMask(w, h, x0, y0, x1, y1 int) Mask {
	m := NewMask(w, h)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			m.Pix[y*w+x] = true
		}
	}
	return m
}

// maskBox is the bounding box of m, inclusive.
func maskBox(t *testing.T, m Mask) (int, int, int, int) {
	t.Helper()
	x0, y0, x1, y1, ok := m.BBox()
	require.True(t, ok, "empty aligned mask")
	return x0, y0, x1 - 1, y1 - 1
}

func TestAlignRectangle(t *testing.T) {
	const W, H = 100, 80
	img := imageproc.NewRGB(W, H)
	for p := 0; p < W*H; p++ {
		img.Pix[3*p], img.Pix[3*p+1], img.Pix[3*p+2] = 200, 100, 50
	}
	// A 30×10 bar: pixel-centre rectangle 29×9, diagonal √(29²+9²).
	m := rectMask(W, H, 20, 30, 49, 39)
	a, err := Align(img, m)
	require.NoError(t, err)
	require.Equal(t, AlignSize, a.Image.W)
	require.Equal(t, AlignSize, a.Image.H)
	require.Equal(t, AlignSize, a.Mask.W)
	wantScale := AlignSize / (math.Hypot(29, 9) + 1)
	assert.InDelta(t, wantScale, a.Scale, 1e-12)
	tw, th := int(30*wantScale), int(10*wantScale) // 62, 20
	x0, y0, x1, y1 := maskBox(t, a.Mask)
	assert.Equal(t, tw, x1-x0+1, "aligned width")
	assert.Equal(t, th, y1-y0+1, "aligned height")
	// Centred: (65−w')//2 each side, the odd pixel on the left / top.
	assert.Equal(t, (AlignSize-tw+1)/2, x0)
	assert.Equal(t, (AlignSize-th+1)/2, y0)
	assert.Equal(t, tw*th, a.Mask.Area(), "a rectangle stays a full rectangle")
	// Inside: the component's colour (a constant area resizes to itself); outside: black.
	c := 3 * (32*AlignSize + 32)
	assert.Equal(t, []uint8{200, 100, 50}, a.Image.Pix[c:c+3])
	assert.Equal(t, []uint8{0, 0, 0}, a.Image.Pix[0:3])
	for y := range AlignSize {
		for x := range AlignSize {
			if y < y0 || y > y1 || x < x0 || x > x1 {
				q := 3 * (y*AlignSize + x)
				require.Equal(t, []uint8{0, 0, 0}, a.Image.Pix[q:q+3], "pixel (%d,%d) outside the crop", x, y)
			}
		}
	}
}

func TestAlignSinglePixelAndErrors(t *testing.T) {
	img := imageproc.NewRGB(20, 20)
	m := NewMask(20, 20)
	m.Pix[5*20+7] = true
	img.Pix[3*(5*20+7)] = 255
	a, err := Align(img, m)
	require.NoError(t, err)
	// Diagonal 0: scale 65, the single pixel fills the canvas (size clipped to 65).
	assert.Equal(t, float64(AlignSize), a.Scale)
	assert.Equal(t, AlignSize*AlignSize, a.Mask.Area())
	assert.Equal(t, uint8(255), a.Image.Pix[3*(32*AlignSize+32)])

	_, err = Align(img, NewMask(20, 20))
	require.ErrorContains(t, err, "empty")
	_, err = Align(imageproc.NewRGB(10, 10), m)
	require.ErrorContains(t, err, "20×20")
}

func TestAlignMainPartAndHoles(t *testing.T) {
	const W, H = 120, 90
	img := imageproc.NewRGB(W, H)
	for p := 0; p < W*H; p++ {
		img.Pix[3*p+1] = 90
	}
	// A 40×40 ring (hole 20×20) and a separate 5×5 square: the ring is the main part; its
	// hole is filled in the aligned mask but stays black in the crop.
	m := rectMask(W, H, 10, 10, 49, 49)
	for y := 20; y <= 39; y++ {
		for x := 20; x <= 39; x++ {
			m.Pix[y*W+x] = false
		}
	}
	for y := 60; y <= 64; y++ {
		for x := 90; x <= 94; x++ {
			m.Pix[y*W+x] = true
		}
	}
	a, err := Align(img, m)
	require.NoError(t, err)
	assert.InDelta(t, AlignSize/(math.Hypot(39, 39)+1), a.Scale, 1e-12, "the ring sets the scale, not the small square")
	x0, y0, x1, y1 := maskBox(t, a.Mask)
	side := int(40 * a.Scale) // 45
	assert.Equal(t, side, x1-x0+1)
	assert.Equal(t, side, y1-y0+1)
	assert.Equal(t, side*side, a.Mask.Area(), "the hole is filled in the aligned mask")
	c := 3 * (32*AlignSize + 32)
	assert.Equal(t, []uint8{0, 0, 0}, a.Image.Pix[c:c+3], "the hole is black in the crop")
	e := 3 * ((y0+1)*AlignSize + x0 + 1)
	assert.Equal(t, uint8(90), a.Image.Pix[e+1], "the ring keeps its colour")
}

func TestMinAreaRectDiagonalTilted(t *testing.T) {
	// A 40×6 bar tilted by 30°: its own rectangle's diagonal is about √(40²+6²) ≈ 40.4,
	// the bounding box's about 45.
	const W, H = 80, 60
	m := NewMask(W, H)
	th := math.Pi / 6
	for y := range H {
		for x := range W {
			u := (float64(x)-40)*math.Cos(th) + (float64(y)-30)*math.Sin(th)
			v := -(float64(x)-40)*math.Sin(th) + (float64(y)-30)*math.Cos(th)
			m.Pix[y*W+x] = math.Abs(u) <= 20 && math.Abs(v) <= 3
		}
	}
	x0, y0, x1, y1, ok := m.BBox()
	require.True(t, ok)
	d := minAreaRectDiagonal(m, x0, y0, x1, y1)
	assert.InDelta(t, math.Hypot(40, 6), d, 1.5)
	assert.Less(t, d, math.Hypot(float64(x1-x0-1), float64(y1-y0-1))-3, "tighter than the bounding box")
}

func TestResizeLinearCV(t *testing.T) {
	// Same size: a copy. 2× up of [0, 100]: half-pixel centres give 0, 25, 75, 100.
	src := []uint8{0, 100}
	assert.Equal(t, src, resizeLinearCV(src, 2, 1, 1, 2, 1))
	assert.Equal(t, []uint8{0, 25, 75, 100}, resizeLinearCV(src, 2, 1, 1, 4, 1))
	// 2× down averages pairs: (10+30)/2, (50+70)/2.
	assert.Equal(t, []uint8{20, 60}, resizeLinearCV([]uint8{10, 30, 50, 70}, 4, 1, 1, 2, 1))
}

func TestProject(t *testing.T) {
	const in = 64
	rows := make([][]float64, in)
	for i := range rows {
		rows[i] = make([]float64, in)
		rows[i][i] = 1
	}
	a, err := Project(rows, CNNProjectionDim, 7)
	require.NoError(t, err)
	b, err := Project(rows, CNNProjectionDim, 7)
	require.NoError(t, err)
	c, err := Project(rows, CNNProjectionDim, 8)
	require.NoError(t, err)
	assert.Equal(t, a, b, "same seed, same projection")
	assert.NotEqual(t, a, c, "another seed, another projection")
	// Unit rows read the matrix out: its entries are N(0, 0.01²).
	var s, sq float64
	n := float64(in * CNNProjectionDim)
	for _, r := range a {
		require.Len(t, r, CNNProjectionDim)
		for _, v := range r {
			s += v
			sq += v * v
		}
	}
	mean := s / n
	std := math.Sqrt(sq/n - mean*mean)
	assert.InDelta(t, 0, mean, 3*CNNProjectionStd/math.Sqrt(n))
	assert.InDelta(t, CNNProjectionStd, std, 0.02*CNNProjectionStd)

	_, err = Project(nil, 4, 1)
	require.Error(t, err)
	_, err = Project([][]float64{{1, 2}, {1}}, 4, 1)
	require.ErrorContains(t, err, "row 1")
}

// squaresCategory writes n small train images, each with one red rectangle of a slightly
// different size (so that the area histograms spread, as HDBSCAN needs) at a different
// place, and their masks (the §5.1 layout) under a masks root: one component per image,
// the fewest that HDBSCAN's histogram filter accepts (it needs 20 images).
func squaresCategory(t *testing.T, cat string, n int) (data, masks string) {
	t.Helper()
	const W, H = 64, 48
	data, masks = t.TempDir(), t.TempDir()
	good := filepath.Join(data, cat, "train", "good")
	require.NoError(t, os.MkdirAll(good, 0o755))
	for i := range n {
		img := imageproc.NewRGB(W, H)
		lm := NewLabelMap(W, H)
		bg := NewMask(W, H)
		x0, y0 := 4+(i*7)%40, 4+(i*5)%28
		rw, rh := 10+i%7, 12+i%3
		for p := 0; p < W*H; p++ {
			x, y := p%W, p/W
			if x >= x0 && x < x0+rw && y >= y0 && y < y0+rh {
				lm.Pix[p] = 1
				img.Pix[3*p], img.Pix[3*p+1], img.Pix[3*p+2] = 220, 60, 40
			} else {
				bg.Pix[p] = true
				img.Pix[3*p], img.Pix[3*p+1], img.Pix[3*p+2] = 90, 90, 100
			}
		}
		name := fmt.Sprintf("%03d", i)
		require.NoError(t, imageproc.WritePNG(filepath.Join(good, name+".png"), img))
		require.NoError(t, WriteImageMasks(filepath.Join(masks, cat, name),
			ImageMasks{Grounding: lm, Refined: lm, Background: bg, GroundingBackground: NewMask(W, H)}))
	}
	return data, masks
}

func TestRunWithEncoder(t *testing.T) {
	if testing.Short() {
		t.Skip("20 WideResNet-50-2 forwards of 60 crops: about a minute on two cores")
	}
	dir := cnnGolden(t)
	data, masks := squaresCategory(t, "squares", 20)
	out := t.TempDir()
	o := Options{DataRoot: data, Category: "squares", Out: out, Masks: masks, Seed: 3,
		Encoder: filepath.Join(dir, "wrn50_2.pth"), Workers: 1}
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, []string{FeatCNN}, sum.Features)
	assert.Len(t, sum.FeatureColumns, csad.FeatureChannels)
	assert.Equal(t, CNNProjectionDim, sum.ProjectionDim)
	assert.Nil(t, sum.FeatureMean)
	assert.Equal(t, DefaultCNNBandwidth, sum.Bandwidth)
	assert.Equal(t, 20, sum.Components)
	// Twenty copies of one part (their place, which the crop removes, and their size
	// differ a little): one class holding them all.
	assert.Equal(t, 1, sum.Classes)
	assert.Equal(t, []int{20}, sum.ClassComponents)
	feats, err := npy.Read(filepath.Join(out, "squares", InfoDir, "component_features.npy"))
	require.NoError(t, err)
	assert.Equal(t, []int{sum.Components, csad.FeatureChannels}, feats.Shape)
	js, err := os.ReadFile(filepath.Join(out, "squares", InfoDir, "info.json"))
	require.NoError(t, err)
	var info map[string]any
	require.NoError(t, json.Unmarshal(js, &info))
	assert.Equal(t, o.Encoder, info["encoder"])

	// Option errors: CNN mixed with descriptors, CNN without an encoder, a bad checkpoint.
	bad := o
	bad.Features = []string{FeatCNN, FeatLab}
	_, err = Run(context.Background(), bad)
	require.ErrorContains(t, err, "CNN feature alone")
	bad = o
	bad.Encoder, bad.Features = "", []string{FeatCNN}
	_, err = Run(context.Background(), bad)
	require.ErrorContains(t, err, "needs Options.Encoder")
	bad = o
	bad.Encoder = filepath.Join(t.TempDir(), "missing.pth")
	_, err = Run(context.Background(), bad)
	require.ErrorContains(t, err, "Options.Encoder")
}
