package imageproc

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// goldenDir holds the files written by testdata/gen_imageproc_golden.py
// (Debian's python3-pil 9.4 and python3-torchvision).
var goldenDir = filepath.Join("..", "..", "testdata", "imageproc")

type goldenCases struct {
	Pillow string `json:"pillow"`
	Decode []struct {
		Src, Mode, Want string
	} `json:"decode"`
	Resize []struct {
		Src    string `json:"src"`
		W      int    `json:"w"`
		H      int    `json:"h"`
		Method string `json:"method"`
		Want   string `json:"want"`
		// PreNearest, when set, is the W×H the source is first brought to
		// with NEAREST, to test the data set's full-size shapes.
		PreNearest []int `json:"pre_nearest"`
	} `json:"resize"`
}

func loadCases(t *testing.T) goldenCases {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, "cases.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with: /usr/bin/python3 testdata/gen_imageproc_golden.py)", err)
	}
	var c goldenCases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustLoad(t *testing.T, name string) *RGB {
	t.Helper()
	img, err := Load(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// diff returns the number of differing bytes and the largest difference.
func diff(t *testing.T, got, want *RGB) (n, maxd int) {
	t.Helper()
	if got.W != want.W || got.H != want.H {
		t.Fatalf("size %d×%d, want %d×%d", got.W, got.H, want.W, want.H)
	}
	for i := range got.Pix {
		d := int(got.Pix[i]) - int(want.Pix[i])
		if d != 0 {
			n++
			maxd = max(maxd, d, -d)
		}
	}
	return n, maxd
}

// TestGoldenDecode compares Load with Pillow's Image.open(f).convert("RGB").
// Tolerance: identical for every PNG flavour (RGB, RGBA, L, LA, P with tRNS,
// 16-bit RGB, 16-bit grey). JPEG (4:4:4, 4:2:2 and 4:2:0 chroma): colour
// conversion and chroma upsampling follow libjpeg, but Go's decoder has its
// own IDCT, so about 3 % of the bytes differ from libjpeg-turbo's by 1 to 3
// levels (measured: max 3, mean |diff| < 0.04); the bar is max 4 and mean
// below 0.25.
func TestGoldenDecode(t *testing.T) {
	for _, c := range loadCases(t).Decode {
		t.Run(c.Src, func(t *testing.T) {
			got, want := mustLoad(t, c.Src), mustLoad(t, c.Want)
			n, maxd := diff(t, got, want)
			if filepath.Ext(c.Src) == ".jpg" {
				sum := 0
				for i := range got.Pix {
					sum += max(int(got.Pix[i])-int(want.Pix[i]), int(want.Pix[i])-int(got.Pix[i]))
				}
				mean := float64(sum) / float64(len(got.Pix))
				t.Logf("jpeg: %d of %d bytes differ, max %d, mean |diff| %.4f", n, len(got.Pix), maxd, mean)
				if maxd > 4 || mean >= 0.25 {
					t.Errorf("jpeg differs from Pillow: max %d, mean %.4f", maxd, mean)
				}
				return
			}
			if n != 0 {
				t.Errorf("mode %s: %d of %d bytes differ from Pillow, max %d", c.Mode, n, len(got.Pix), maxd)
			}
		})
	}
}

// TestGoldenResize compares ResizeBilinear and ResizeNearest with Pillow's
// Image.resize on downscales (including the five MVTec LOCO AD sizes to
// 256×256), upscales, mixed, single-pass, identity and 1×1 cases. Tolerance: identical (0 differing bytes); the bar set for the
// port is at most 1 level, and identical is what it reaches.
func TestGoldenResize(t *testing.T) {
	cases := loadCases(t)
	srcs := map[string]*RGB{}
	identical := 0
	for _, c := range cases.Resize {
		t.Run(c.Want, func(t *testing.T) {
			src := srcs[c.Src]
			if src == nil {
				src = mustLoad(t, c.Src)
				srcs[c.Src] = src
			}
			if len(c.PreNearest) == 2 {
				src = ResizeNearest(src, c.PreNearest[0], c.PreNearest[1])
			}
			var got *RGB
			switch c.Method {
			case "bilinear":
				got = ResizeBilinear(src, c.W, c.H)
			case "nearest":
				got = ResizeNearest(src, c.W, c.H)
			default:
				t.Fatalf("unknown method %q", c.Method)
			}
			n, maxd := diff(t, got, mustLoad(t, c.Want))
			if n != 0 {
				t.Errorf("%d×%d→%d×%d %s: %d of %d bytes differ from Pillow %s, max %d",
					src.W, src.H, c.W, c.H, c.Method, n, len(got.Pix), cases.Pillow, maxd)
				return
			}
			identical++
		})
	}
	t.Logf("%d of %d resize cases identical to Pillow %s", identical, len(cases.Resize), cases.Pillow)
}

func readFloat32s(t *testing.T, name string) []float32 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out
}

func bitsEqual(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("value %d: %v (%#08x), want %v (%#08x)", i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, len(got))
	}
}

// TestGoldenNormalize checks Normalize against torchvision's
// Normalize(ToTensor(img)) for every 8-bit level in every channel, and
// Preprocess against Resize((64,64)) → ToTensor → Normalize on a 37×23
// image. Tolerance: bitwise equal.
func TestGoldenNormalize(t *testing.T) {
	bitsEqual(t, Normalize(mustLoad(t, "levels.png")), readFloat32s(t, "norm_levels.bin"))
	bitsEqual(t, Preprocess(mustLoad(t, "src_small.png"), 64), readFloat32s(t, "prep_small.bin"))
}
