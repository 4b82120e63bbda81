package imageproc

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeErrors checks that damaged and foreign files fail with an error
// that names the file and says what is wrong.
func TestDecodeErrors(t *testing.T) {
	pngData, err := os.ReadFile(filepath.Join(goldenDir, "src_small.png"))
	if err != nil {
		t.Fatal(err)
	}
	jpgData, err := os.ReadFile(filepath.Join(goldenDir, "src_jpeg.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	flipped := bytes.Clone(pngData)
	flipped[len(flipped)/2] ^= 0xff // breaks the IDAT checksum
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty.png", nil, "empty file"},
		{"truncated.png", pngData[:len(pngData)/2], "truncated"},
		{"header_only.png", pngData[:20], "truncated"},
		{"corrupt.png", flipped, "png"},
		{"truncated.jpg", jpgData[:len(jpgData)/2], "truncated"},
		{"noise.bin", noise, "not a PNG or JPEG image"},
		{"text.png", []byte("hello, world\n"), "not a PNG or JPEG image"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded (%d×%d)", img.W, img.H)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "imageproc: decode "+path+": ") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want it to name %s and say %q", msg, path, c.want)
			}
			if _, err := Decode(bytes.NewReader(c.data)); err == nil || !strings.HasPrefix(err.Error(), "imageproc: decode: ") {
				t.Errorf("Decode: error %v", err)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.png")); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: error %v", err)
	}
	if _, err := Decode(bytes.NewReader(noise)); !errors.Is(err, ErrFormat) {
		t.Errorf("noise: %v does not wrap ErrFormat", err)
	}
}

// TestDecodeTooLarge checks that the header size is checked before pixels
// are allocated.
func TestDecodeTooLarge(t *testing.T) {
	defer SetMaxPixels(SetMaxPixels(100))
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 11, 10))); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(&buf); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "11×10 is 0.0 Mpx, above the limit") {
		t.Errorf("error %v", err)
	}
}

// TestFromImage covers the image types Go code hands over: alpha is dropped
// (not composited), grey replicated, 16-bit reduced to the high byte,
// sub-images honoured.
func TestFromImage(t *testing.T) {
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	nrgba.Set(0, 0, color.NRGBA{200, 100, 50, 0})
	nrgba.Set(1, 0, color.NRGBA{1, 2, 3, 128})
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.Set(0, 0, color.RGBA{200, 100, 50, 255})
	rgba.Set(1, 0, color.RGBA{64, 32, 0, 128}) // premultiplied: NRGBA{127, 63, 0}
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{0x12ff})
	g16.SetGray16(1, 0, color.Gray16{0x00ff})
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{9, 8, 7, 255}, color.NRGBA{1, 2, 3, 0}})
	pal.SetColorIndex(0, 0, 1)
	big := image.NewGray(image.Rect(0, 0, 4, 4))
	big.Pix[1*4+2], big.Pix[1*4+3] = 10, 20
	cases := []struct {
		name string
		img  image.Image
		want []uint8
	}{
		{"nrgba", nrgba, []uint8{200, 100, 50, 1, 2, 3}},
		{"rgba", rgba, []uint8{200, 100, 50, 127, 63, 0}},
		{"gray16", g16, []uint8{0x12, 0x12, 0x12, 0, 0, 0}},
		{"paletted", pal, []uint8{1, 2, 3, 9, 8, 7}},
		{"subimage", big.SubImage(image.Rect(2, 1, 4, 2)), []uint8{10, 10, 10, 20, 20, 20}},
		{"rgb", &RGB{W: 2, H: 1, Pix: []uint8{1, 2, 3, 4, 5, 6}}, []uint8{1, 2, 3, 4, 5, 6}},
	}
	for _, c := range cases {
		got := FromImage(c.img)
		if got.W != 2 || got.H != 1 || !bytes.Equal(got.Pix, c.want) {
			t.Errorf("%s: %d×%d %v, want 2×1 %v", c.name, got.W, got.H, got.Pix, c.want)
		}
	}
}

// TestResizeIdentityCopies checks that an unchanged size returns a copy, not
// the input.
func TestResizeIdentityCopies(t *testing.T) {
	src := &RGB{W: 1, H: 1, Pix: []uint8{1, 2, 3}}
	for _, f := range []func(*RGB, int, int) *RGB{ResizeBilinear, ResizeNearest} {
		out := f(src, 1, 1)
		out.Pix[0] = 9
		if src.Pix[0] != 1 {
			t.Fatal("resize returned its input")
		}
	}
}

// TestResizeNearestGray checks the single-channel variant against the RGB
// one on a golden source.
func TestResizeNearestGray(t *testing.T) {
	src := mustLoad(t, "src_small.png")
	g := make([]uint8, src.W*src.H)
	for i := range g {
		g[i] = src.Pix[3*i+1]
	}
	want := ResizeNearest(src, 100, 77)
	got := ResizeNearestGray(g, src.W, src.H, 100, 77)
	for i := range got {
		if got[i] != want.Pix[3*i+1] {
			t.Fatalf("pixel %d: %d, want %d", i, got[i], want.Pix[3*i+1])
		}
	}
}

func TestOverlayAndWritePNG(t *testing.T) {
	img := NewRGB(4, 2)
	for i := range img.Pix {
		img.Pix[i] = 100
	}
	// A 2×1 map: left half at lo (blue), right half above hi (red).
	ov := Overlay(img, []float32{0, 5}, 2, 1, 0, 1)
	if ov.Bounds() != image.Rect(0, 0, 4, 2) {
		t.Fatalf("bounds %v", ov.Bounds())
	}
	if got, want := ov.RGBAAt(0, 0), (color.RGBA{50, 50, 114, 255}); got != want {
		t.Errorf("left: %v, want %v (half image, half dark blue)", got, want)
	}
	if got, want := ov.RGBAAt(3, 1), (color.RGBA{114, 50, 50, 255}); got != want {
		t.Errorf("right: %v, want %v (half image, half dark red)", got, want)
	}
	path := filepath.Join(t.TempDir(), "ov.png")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WritePNG(path, ov); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.W != 4 || back.H != 2 || back.Pix[0] != 50 || back.Pix[2] != 114 {
		t.Errorf("read back %d×%d %v", back.W, back.H, back.Pix[:3])
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want 1", len(entries))
	}
	if err := WritePNG(filepath.Join(t.TempDir(), "no", "such", "dir.png"), ov); err == nil || !strings.Contains(err.Error(), "dir.png") {
		t.Errorf("write into a missing directory: %v", err)
	}
}

// FuzzDecode feeds arbitrary bytes to Decode: it must return an image or an
// error, never panic, and a returned image must be consistent.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"src_small.png", "src_pal.png", "src_gray16.png", "src_jpeg.jpg"} {
		data, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte{0xff, 0xd8, 0xff})
	defer SetMaxPixels(SetMaxPixels(1 << 20)) // keep hostile headers from allocating much
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "imageproc: decode: ") {
				t.Errorf("error without prefix: %v", err)
			}
			return
		}
		if img.W <= 0 || img.H <= 0 || len(img.Pix) != 3*img.W*img.H {
			t.Errorf("inconsistent image %d×%d with %d bytes", img.W, img.H, len(img.Pix))
		}
	})
}

// The *image.RGBA path of FromImage gives what the generic path (At and color.NRGBAModel)
// gives, for every alpha and every premultiplied value it allows, and for a sub-image.
func TestFromImageRGBAEqualsColorModel(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for a := range 256 {
		for v := range 256 {
			c := uint8(min(v, a)) // premultiplied: a colour value never exceeds its alpha
			img.SetRGBA(v, a, color.RGBA{c, uint8(min(v/2, a)), uint8(min(255-v, a)), uint8(a)})
		}
	}
	for _, m := range []image.Image{img, img.SubImage(image.Rect(3, 5, 200, 101))} {
		got := FromImage(m)
		want := FromImage(struct{ image.Image }{m}) // hides the type: the generic path
		if !bytes.Equal(got.Pix, want.Pix) || got.W != want.W || got.H != want.H {
			t.Fatalf("%v: the RGBA path differs from color.NRGBAModel's conversion", m.Bounds())
		}
	}
}
