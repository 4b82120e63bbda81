package train_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/augment"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/train"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// rgbOf turns a golden (H, W, 3) uint8 tensor into an image.
func rgbOf(t *testing.T, x *torch.Tensor) *imageproc.RGB {
	t.Helper()
	sh := x.Shape()
	require.Len(t, sh, 3)
	b, err := x.Bytes()
	require.NoError(t, err)
	return &imageproc.RGB{W: int(sh[1]), H: int(sh[0]), Pix: b}
}

// A penalty folder with the 10×12 fixture (b.png), a mirrored copy (a.png), a text file and a
// sub-folder: the two images load in name order, and image b rendered in colour and grey equals
// torchvision's Resize((2S, 2S)) → [rgb_to_grayscale] → CenterCrop(S) → ToTensor → Normalize
// bit for bit, for an even S and an odd one (whose crop offset 16.5 rounds to even).
func TestPenaltyImagesMatchTorchvision(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, lgstGoldenPath(t))
	fix := rgbOf(t, g["penalty/image"])
	mirror := imageproc.NewRGB(fix.W, fix.H)
	for y := range fix.H {
		for x := range fix.W {
			copy(mirror.Pix[3*(y*fix.W+x):][:3], fix.Pix[3*(y*fix.W+fix.W-1-x):][:3])
		}
	}
	dir := t.TempDir()
	require.NoError(t, imageproc.WritePNG(filepath.Join(dir, "b.png"), fix))
	require.NoError(t, imageproc.WritePNG(filepath.Join(dir, "a.PNG"), mirror))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.png"), 0o755))

	var sizes []int
	require.NoError(t, json.Unmarshal([]byte(meta["penalty_sizes"]), &sizes))
	require.Equal(t, []int{32, 33}, sizes)
	for _, size := range sizes {
		set, err := train.LoadPenaltyImages(dir, size)
		require.NoError(t, err)
		require.Equal(t, 2, set.Len())
		assert.Equal(t, []string{filepath.Join(dir, "a.PNG"), filepath.Join(dir, "b.png")}, set.Paths)
		for _, grey := range []bool{false, true} {
			name := fmt.Sprintf("penalty/%d/colour", size)
			if grey {
				name = fmt.Sprintf("penalty/%d/grey", size)
			}
			got, err := set.Render(1, grey)
			require.NoError(t, err)
			torchtest.RequireBitwise(t, name, torch.FromSlice(s, got, 3, int64(size), int64(size)), g[name])
		}
		_, err = set.Render(2, false)
		require.ErrorContains(t, err, "penalty image 2 of 2")
	}
}

// Image turns about 30 % of the draws grey, from the seed alone.
func TestPenaltyImageGreyDraws(t *testing.T) {
	dir := t.TempDir()
	img := imageproc.NewRGB(8, 8)
	for i := range img.Pix {
		img.Pix[i] = uint8(37 * i)
	}
	require.NoError(t, imageproc.WritePNG(filepath.Join(dir, "x.png"), img))
	set, err := train.LoadPenaltyImages(dir, 4)
	require.NoError(t, err)
	grey, err := set.Render(0, true)
	require.NoError(t, err)
	colour, err := set.Render(0, false)
	require.NoError(t, err)
	require.NotEqual(t, grey, colour)
	r := rand.New(rand.NewPCG(3, 4))
	const n = 2000
	var greys int
	for range n {
		v, err := set.Image(r, 0)
		require.NoError(t, err)
		switch {
		case slices.Equal(v, grey):
			greys++
		case !slices.Equal(v, colour):
			t.Fatal("a draw is neither the grey nor the colour rendering")
		}
	}
	assert.InDelta(t, train.PenaltyGreyP*n, greys, 80, "%d grey of %d", greys, n)
	_, err = set.Image(nil, 0)
	require.ErrorContains(t, err, "nil *rand.Rand")
}

func TestLoadPenaltyImagesErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "readme.md"), []byte("#"), 0o644))
	_, err := train.LoadPenaltyImages(dir, 16)
	require.ErrorContains(t, err, "penalty image folder "+dir+" has no PNG or JPEG file")
	_, err = train.LoadPenaltyImages(filepath.Join(dir, "missing"), 16)
	require.ErrorContains(t, err, "train: penalty images:")
	_, err = train.LoadPenaltyImages(dir, 0)
	require.ErrorContains(t, err, "penalty image size 0 must lie in 1..")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.png"), []byte("not a png"), 0o644))
	_, err = train.LoadPenaltyImages(dir, 16)
	require.ErrorContains(t, err, "broken.png")
}

// AugImage jitters the full-resolution image, then resizes and normalises it; the draw depends
// on the seed alone.
func TestAugImage(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, _ := torchtest.Golden(t, s, lgstGoldenPath(t))
	img := rgbOf(t, g["jitter/image"])
	for seed := range uint64(6) {
		got, p, err := train.AugImage(rand.New(rand.NewPCG(seed, 1)), img, 16, augment.DefaultColorJitter())
		require.NoError(t, err)
		j, err := augment.Enhance(img.Pix, img.W, img.H, p.Enhancer, p.Factor)
		require.NoError(t, err)
		want := imageproc.Normalize(imageproc.ResizeBilinear(&imageproc.RGB{W: img.W, H: img.H, Pix: j}, 16, 16))
		require.Equal(t, want, got, "seed %d (%v %v)", seed, p.Enhancer, p.Factor)
		again, q, err := train.AugImage(rand.New(rand.NewPCG(seed, 1)), img, 16, augment.DefaultColorJitter())
		require.NoError(t, err)
		require.Equal(t, p, q)
		require.Equal(t, got, again)
	}
	_, _, err := train.AugImage(rand.New(rand.NewPCG(1, 1)), nil, 16, augment.DefaultColorJitter())
	require.ErrorContains(t, err, "nil image")
	_, _, err = train.AugImage(rand.New(rand.NewPCG(1, 1)), img, 0, augment.DefaultColorJitter())
	require.ErrorContains(t, err, "size 0 must be positive")
	_, _, err = train.AugImage(nil, img, 16, augment.DefaultColorJitter())
	require.ErrorContains(t, err, "train: aug_image: augment: nil *rand.Rand")
}

// A folder of natural images becomes the penalty set: each image is resized to twice the
// network size and centre-cropped once, at load.
func ExampleLoadPenaltyImages() {
	dir, err := os.MkdirTemp("", "penalty")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := imageproc.WritePNG(filepath.Join(dir, "cat.png"), imageproc.NewRGB(64, 64)); err != nil {
		panic(err)
	}
	set, err := train.LoadPenaltyImages(dir, 256)
	if err != nil {
		panic(err)
	}
	x, err := set.Render(0, false)
	if err != nil {
		panic(err)
	}
	fmt.Println(set.Len(), "image,", len(x), "values; black normalises to", x[0])
	// Output: 1 image, 196608 values; black normalises to -2.117904
}
