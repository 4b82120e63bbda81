package csad_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

const e2eDir = "../testdata/e2e"

// e2eImage is one entry of the golden's "images" metadata (testdata/gen_e2e_golden.py).
type e2eImage struct {
	Name, File, Mode string
	Width, Height    int
	InputSHA256      string `json:"input_sha256"`
	AnomalyMapSHA256 string `json:"anomaly_map_sha256"`
}

// float32Digest is the SHA-256 of v as little-endian float32s, the byte layout numpy hashes.
func float32Digest(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// requireBits fails unless got and want hold the same float32 bit patterns; the message counts
// the differing values and the largest difference, to tell rounding from a wrong computation.
func requireBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	require.Len(t, got, len(want), what)
	n, worst := 0, 0.0
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			n++
			worst = max(worst, math.Abs(float64(got[i])-float64(want[i])))
		}
	}
	require.Zerof(t, n, "%s: %d of %d values differ from PyTorch, max |diff| %.3g", what, n, len(want), worst)
}

// e2eGolden is the reference's outputs for the committed images, made on this machine
// (testdata/gen_e2e_golden.py --outputs): LibTorch's CPU kernels round differently on different
// instruction sets, in Python as in Go.
func e2eGolden(t *testing.T) string {
	return torchtest.GoldenDir(t, "../testdata", "gen_e2e_golden.py", "--outputs")
}

// goldenSegmentation reads seg_<name>.png, the reference's 256×256 class map.
func goldenSegmentation(t *testing.T, name string) []uint8 {
	t.Helper()
	f, err := os.Open(filepath.Join(e2eGolden(t), "seg_"+name+".png"))
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	g, ok := img.(*image.Gray)
	require.Truef(t, ok, "seg_%s.png decodes as %T, want 8-bit grey", name, img)
	require.Equal(t, image.Rect(0, 0, 256, 256), g.Bounds())
	require.Equal(t, 256, g.Stride)
	return g.Pix
}

// checkE2E compares one Result with the reference, field by field, bit for bit.
func checkE2E(t *testing.T, r *csad.Result, g map[string]*torch.Tensor, im e2eImage) {
	t.Helper()
	require.NotNil(t, r)
	for _, c := range []struct {
		key string
		got float64
	}{{"score", r.Score}, {"lgst", r.LGST}, {"patch_hist", r.PatchHist}} {
		want, err := g[im.Name+"/"+c.key].Float32s()
		require.NoError(t, err, c.key)
		require.Len(t, want, 1, c.key)
		require.Equalf(t, c.got, float64(float32(c.got)), "%s %v is not a float32 value", c.key, c.got)
		requireBits(t, c.key, []float32{float32(c.got)}, want)
	}
	for _, c := range []struct {
		key string
		got []float32
	}{{"local", r.Local}, {"global", r.Global}} {
		want, err := g[im.Name+"/"+c.key].Float32s()
		require.NoError(t, err, c.key)
		requireBits(t, c.key+" map", c.got, want)
	}
	seg := goldenSegmentation(t, im.Name)
	require.Len(t, r.Segmentation, len(seg))
	differ := 0
	for i := range seg {
		if r.Segmentation[i] != seg[i] {
			differ++
		}
	}
	require.Zerof(t, differ, "segmentation: %d of %d pixels differ from PyTorch", differ, len(seg))
	assert.Equal(t, im.Width, r.Width, "width")
	assert.Equal(t, im.Height, r.Height, "height")
	require.Len(t, r.AnomalyMap, im.Width*im.Height)
	assert.Equal(t, im.AnomalyMapSHA256, float32Digest(r.AnomalyMap),
		"anomaly map (m_l + m_g resized to the image) differs from F.interpolate's")
}

// Image files of every kind the decoder handles (RGB, RGBA, paletted, grey, 16-bit PNG, JPEG; odd
// sizes, up- and downscaled) score exactly as the reference pipeline does: Pillow decode and
// convert("RGB"), Pillow BILINEAR resize, ToTensor/Normalize, the PyTorch model
// (testdata/gen_e2e_golden.py). Tolerance: none; score, LGST and patch-histogram scores, both
// 64×64 maps, the 256×256 segmentation and the image-sized anomaly map are bitwise equal, with
// one image per forward pass (the reference's batch of 1) both through ScoreFiles and Score.
func TestGoldenEndToEnd(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, filepath.Join(e2eGolden(t), "golden.safetensors"))
	defer torchtest.UseGoldenThreads(t, meta)()
	const pth = "../testdata/golden/model_small.pth"
	data, err := os.ReadFile(pth)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	require.Equal(t, meta["model_sha256"], hex.EncodeToString(sum[:]),
		"%s changed after the end-to-end golden was made: regenerate it with /usr/bin/python3 testdata/gen_e2e_golden.py", pth)
	var images []e2eImage
	require.NoError(t, json.Unmarshal([]byte(meta["images"]), &images))
	require.Len(t, images, 6)

	m, err := csad.Load(smallModelFile(t), csad.Options{MaxBatch: 1})
	require.NoError(t, err)
	defer m.Close()
	paths := make([]string, len(images))
	for i, im := range images {
		paths[i] = filepath.Join(e2eDir, im.File)
	}
	ctx := context.Background()
	files := m.ScoreFiles(ctx, paths)
	require.Len(t, files, len(images))
	for i, im := range images {
		t.Run(im.Name, func(t *testing.T) {
			fr := files[i]
			require.NoError(t, fr.Err)
			require.NotNil(t, fr.Image)
			// The input first: a mismatch here is the image pipeline's, not the network's.
			require.Equal(t, im.InputSHA256, float32Digest(imageproc.Preprocess(fr.Image, 256)),
				"network input differs from torchvision's Normalize(ToTensor(Resize(convert('RGB'))))")
			checkE2E(t, fr.Result, g, im)
			r, err := m.Score(ctx, fr.Image)
			require.NoError(t, err)
			checkE2E(t, r, g, im)
		})
	}
}
