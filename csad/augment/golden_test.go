package augment

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenPath is written by testdata/gen_augment_golden.py (Debian's
// python3-opencv 4.6 and numpy).
var goldenPath = filepath.Join("..", "..", "testdata", "augment", "warp.json")

type goldenWarp struct {
	Name   string   `json:"name"`
	M      []string `json:"m"`
	LinRGB string   `json:"linear_rgb"`
	LinG   string   `json:"linear_grey"`
	NearR  string   `json:"nearest_rgb"`
	NearG  string   `json:"nearest_grey"`
}

type golden struct {
	OpenCV   string `json:"opencv"`
	W, H     int
	SrcRGB   string `json:"src_rgb"`
	SrcGrey  string `json:"src_grey"`
	Rotation []struct {
		CX, CY, Angle, Scale float64
		M                    []string
	} `json:"rotation"`
	Warp []goldenWarp `json:"warp"`
	Big  struct {
		M         []string `json:"m"`
		LinRGBSHA string   `json:"linear_rgb_sha256"`
		NearRGBSH string   `json:"nearest_rgb_sha256"`
		LinGZ     string   `json:"linear_grey_z"`
		NearGZ    string   `json:"nearest_grey_z"`
	} `json:"big"`
	LUT []struct {
		Alpha, Beta string
		LUT         string `json:"lut"`
	} `json:"lut"`
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	data, err := os.ReadFile(goldenPath)
	require.NoError(t, err, "regenerate with: apt-get install python3-opencv && /usr/bin/python3 testdata/gen_augment_golden.py")
	var g golden
	require.NoError(t, json.Unmarshal(data, &g))
	require.NotEmpty(t, g.Warp)
	return g
}

func hexFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return v
}

func hexAffine(t *testing.T, s []string) Affine {
	t.Helper()
	require.Len(t, s, 6)
	var m Affine
	for i, v := range s {
		m[i] = hexFloat(t, v)
	}
	return m
}

func unb64(t *testing.T, s string) []uint8 {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func unzlib(t *testing.T, s string) []uint8 {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(unb64(t, s)))
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return b
}

// countDiff returns how many bytes differ and the largest difference.
func countDiff(got, want []uint8) (n, maxd int) {
	for i := range got {
		d := int(got[i]) - int(want[i])
		if d != 0 {
			n++
			maxd = max(maxd, d, -d)
		}
	}
	return n, maxd
}

// TestGoldenWarpAffine: WarpAffine equals cv2.warpAffine bit for bit
// (tolerance 0) for nine matrices — identity, half-pixel shift, rotations
// with and without scale, a general affine, an LSA T·R matrix, a
// ShiftScaleRotate-like map, a mostly-outside map and a flip — on a random
// 32×24 RGB image and grey map, bilinear and nearest.
func TestGoldenWarpAffine(t *testing.T) {
	g := loadGolden(t)
	rgb, grey := unb64(t, g.SrcRGB), unb64(t, g.SrcGrey)
	require.Len(t, rgb, 3*g.W*g.H)
	require.Len(t, grey, g.W*g.H)
	for _, c := range g.Warp {
		m := hexAffine(t, c.M)
		for _, k := range []struct {
			name   string
			src    []uint8
			ch     int
			interp Interp
			want   string
		}{
			{"linear_rgb", rgb, 3, Bilinear, c.LinRGB},
			{"linear_grey", grey, 1, Bilinear, c.LinG},
			{"nearest_rgb", rgb, 3, Nearest, c.NearR},
			{"nearest_grey", grey, 1, Nearest, c.NearG},
		} {
			got, err := WarpAffine(k.src, g.W, g.H, k.ch, m, k.interp)
			require.NoError(t, err)
			want := unb64(t, k.want)
			require.Len(t, got, len(want))
			n, maxd := countDiff(got, want)
			assert.Zerof(t, n, "%s %s: %d bytes differ from OpenCV %s, largest by %d", c.Name, k.name, n, g.OpenCV, maxd)
		}
	}
}

// TestGoldenWarpAffine256 repeats the check on a 256×256 LSA-style warp of
// a pattern (ramps, checkerboard, disc) built here with the script's
// formula: grey outputs bitwise, RGB outputs by SHA-256.
func TestGoldenWarpAffine256(t *testing.T) {
	g := loadGolden(t)
	rgb, grey := goldenPattern(256, 256)
	m := hexAffine(t, g.Big.M)
	for _, k := range []struct {
		interp  Interp
		rgbSHA  string
		greyZip string
	}{{Bilinear, g.Big.LinRGBSHA, g.Big.LinGZ}, {Nearest, g.Big.NearRGBSH, g.Big.NearGZ}} {
		got, err := WarpAffine(rgb, 256, 256, 3, m, k.interp)
		require.NoError(t, err)
		sum := sha256.Sum256(got)
		assert.Equal(t, k.rgbSHA, hex.EncodeToString(sum[:]), "%v RGB warp differs from OpenCV", k.interp)
		gotG, err := WarpAffine(grey, 256, 256, 1, m, k.interp)
		require.NoError(t, err)
		want := unzlib(t, k.greyZip)
		require.Len(t, gotG, len(want))
		n, maxd := countDiff(gotG, want)
		assert.Zerof(t, n, "%v grey: %d bytes differ, largest by %d", k.interp, n, maxd)
	}
}

// goldenPattern is pattern() of gen_augment_golden.py.
func goldenPattern(w, h int) (rgb, grey []uint8) {
	rgb = make([]uint8, 3*w*h)
	grey = make([]uint8, w*h)
	for y := range h {
		for x := range w {
			i := y*w + x
			rgb[3*i] = uint8(x)
			rgb[3*i+1] = uint8((x + 3*y) / 4)
			rgb[3*i+2] = uint8(((x/16 + y/16) % 2) * 255)
			if (x-100)*(x-100)+(y-140)*(y-140) < 50*50 {
				grey[i] = 255
			}
		}
	}
	return rgb, grey
}

// TestGoldenRotationMatrix2D: RotationMatrix2D equals
// cv2.getRotationMatrix2D up to the last bit of sin and cos, which Go's
// math package may round differently from glibc (it does for 1.2345°):
// rotation entries within 4e-16·scale, translation entries, where that bit
// is multiplied by the centre, within 4e-16·scale·(1+|cx|+|cy|). Includes a
// centre that float32 rounds (10.3, 7.7).
func TestGoldenRotationMatrix2D(t *testing.T) {
	g := loadGolden(t)
	require.NotEmpty(t, g.Rotation)
	for _, c := range g.Rotation {
		want := hexAffine(t, c.M)
		got := RotationMatrix2D(c.CX, c.CY, c.Angle, c.Scale)
		for i := range want {
			tol := 4e-16 * math.Max(1, c.Scale)
			if i == 2 || i == 5 {
				tol *= 1 + math.Abs(c.CX) + math.Abs(c.CY)
			}
			assert.InDeltaf(t, want[i], got[i], tol, "center (%g,%g) angle %g scale %g entry %d", c.CX, c.CY, c.Angle, c.Scale, i)
		}
	}
}

// TestGoldenBrightnessLUT: BrightnessContrast equals albucore's float32
// lookup table (clip, then truncation to uint8) exactly, for six (α, β)
// pairs including the range limits.
func TestGoldenBrightnessLUT(t *testing.T) {
	g := loadGolden(t)
	require.NotEmpty(t, g.LUT)
	levels := make([]uint8, 256)
	for i := range levels {
		levels[i] = uint8(i)
	}
	for _, c := range g.LUT {
		a, b := hexFloat(t, c.Alpha), hexFloat(t, c.Beta)
		want := unb64(t, c.LUT)
		got := BrightnessContrast(levels, a, b)
		assert.Equal(t, want, got, "alpha %g beta %g", a, b)
	}
}
