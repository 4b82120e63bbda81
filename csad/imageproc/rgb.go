package imageproc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"sync/atomic"
)

// RGB is an 8-bit RGB image stored row-major with interleaved channels
// (HWC): the pixel (x, y) is Pix[3*(y*W+x) : 3*(y*W+x)+3] = R, G, B. It is
// the layout of a numpy array made from a Pillow "RGB" image, so golden
// files compare byte for byte.
//
// RGB implements [image.Image] (opaque colours), so it can be passed to
// [WritePNG] and to code that takes an image.Image.
type RGB struct {
	W, H int
	Pix  []uint8
}

// NewRGB returns a black w×h image.
func NewRGB(w, h int) *RGB {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("imageproc: negative image size %d×%d", w, h))
	}
	return &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
}

// ColorModel implements [image.Image].
func (m *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements [image.Image]; the origin is (0, 0).
func (m *RGB) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At implements [image.Image].
func (m *RGB) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return color.RGBA{}
	}
	p := m.Pix[3*(y*m.W+x):]
	return color.RGBA{p[0], p[1], p[2], 0xff}
}

// ErrFormat is wrapped by the errors of [Decode] and [Load] when the data is
// neither PNG nor JPEG.
var ErrFormat = errors.New("not a PNG or JPEG image")

// ErrTooLarge is wrapped by the errors of [Load], [Decode] and [ReadSize] when the header
// declares more pixels than [MaxPixels] allows.
var ErrTooLarge = errors.New("image too large")

// DefaultMaxPixels is the initial [MaxPixels]: 64 Mpx (8000×8000). A PNG of a few hundred KB can
// declare a huge canvas (one of 481 KB and 13000×13000 made 'csad score' use 4.4 GiB: the decoded
// image, its RGB copy, the full-size anomaly map and the overlay each grow with the canvas); at
// 64 Mpx one image stays near 1.5 GiB. MVTec LOCO images have at most 1.7 Mpx.
const DefaultMaxPixels = 64_000_000

var maxPixels atomic.Int64

func init() { maxPixels.Store(DefaultMaxPixels) }

// MaxPixels is the largest width×height that [Load], [Decode] and [ReadSize] accept. The size
// is checked on the header, before any pixel memory is allocated.
func MaxPixels() int { return int(maxPixels.Load()) }

// SetMaxPixels changes [MaxPixels] for the whole process (a command sets it from a flag at
// start-up) and returns the previous limit. It panics if n is not positive: a program that
// computed no limit has a bug, and zero would refuse every image.
func SetMaxPixels(n int) (old int) {
	if n <= 0 {
		panic(fmt.Sprintf("imageproc: SetMaxPixels(%d): the limit must be positive", n))
	}
	return int(maxPixels.Swap(int64(n)))
}

// checkSize applies the limit to a header's size.
func checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("image size %d×%d in the header is not positive", w, h)
	}
	if lim := maxPixels.Load(); int64(w)*int64(h) > lim {
		return fmt.Errorf("%w: %d×%d is %.1f Mpx, above the limit of %.1f Mpx (%d pixels)",
			ErrTooLarge, w, h, float64(w)*float64(h)/1e6, float64(lim)/1e6, lim)
	}
	return nil
}

// ReadSize returns the width and height of a PNG or JPEG file from its header alone, without
// decoding pixels, and applies [MaxPixels]. Errors name the file.
func ReadSize(path string) (w, h int, err error) {
	fail := func(err error) (int, int, error) {
		return 0, 0, fmt.Errorf("imageproc: read %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("imageproc: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, err := br.Peek(8)
	if len(head) == 0 {
		if err == nil || err == io.EOF {
			err = errors.New("empty file")
		}
		return fail(err)
	}
	var cfg image.Config
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		cfg, err = png.DecodeConfig(br)
	case bytes.HasPrefix(head, []byte{0xff, 0xd8}):
		cfg, err = jpeg.DecodeConfig(br)
	default:
		return fail(fmt.Errorf("%w (starts with % x)", ErrFormat, head))
	}
	if err != nil {
		return fail(truncated(err))
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return fail(err)
	}
	return cfg.Width, cfg.Height, nil
}

// Load reads a PNG or JPEG file and converts it to 8-bit RGB as Pillow's
// Image.open(path).convert("RGB") does (see the package documentation for the
// per-mode rules). Errors name the file.
func Load(path string) (*RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageproc: %w", err)
	}
	defer f.Close()
	return decode(f, path)
}

// Decode reads a PNG or JPEG stream and converts it to 8-bit RGB like
// [Load]. Use Load when the data comes from a file, so that errors name it.
func Decode(r io.Reader) (*RGB, error) { return decode(r, "") }

func decode(r io.Reader, name string) (*RGB, error) {
	fail := func(err error) (*RGB, error) {
		if name == "" {
			return nil, fmt.Errorf("imageproc: decode: %w", err)
		}
		return nil, fmt.Errorf("imageproc: decode %s: %w", name, err)
	}
	// The whole stream is read first: the header check below needs a second
	// look at the start, and the images of the data set are a few MB.
	data, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return fail(err)
	}
	if len(data) == 0 {
		return fail(errors.New("empty file"))
	}
	var (
		decodeConfig func(io.Reader) (image.Config, error)
		decodeImage  func(io.Reader) (image.Image, error)
		isJPEG       bool
	)
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		decodeConfig, decodeImage = png.DecodeConfig, png.Decode
	case bytes.HasPrefix(data, []byte{0xff, 0xd8}):
		decodeConfig, decodeImage, isJPEG = jpeg.DecodeConfig, jpeg.Decode, true
	default:
		n := min(len(data), 8)
		return fail(fmt.Errorf("%w (starts with % x)", ErrFormat, data[:n]))
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return fail(truncated(err))
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return fail(err)
	}
	img, err := decodeImage(bytes.NewReader(data))
	if err != nil {
		return fail(truncated(err))
	}
	switch m := img.(type) {
	case *image.Gray16:
		// Pillow opens a 16-bit grey PNG as a 32-bit integer image (mode
		// "I") and convert("RGB") clips it to 0..255 instead of scaling, so
		// nearly every pixel of such an image becomes white. Reproduced
		// because the point of this package is to feed the networks what
		// the reference pipeline fed them; FromImage scales instead.
		return gray16Clip(m), nil
	case *image.YCbCr:
		if isJPEG {
			return ycbcrLibjpeg(m), nil
		}
	}
	return FromImage(img), nil
}

// truncated turns the decoders' bare "unexpected EOF" into a sentence.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("truncated or incomplete data: %w", err)
	}
	return err
}

// FromImage converts any image.Image to 8-bit RGB. Alpha is dropped, not
// composited (the colour channels are taken as stored, un-premultiplied),
// grey is replicated, palettes are expanded and 16-bit channels keep their
// high byte. For the image types Go's PNG decoder returns this is exactly
// Pillow's convert("RGB"), except 16-bit grey, see [Load]. The result never
// shares memory with m.
func FromImage(m image.Image) *RGB {
	b := m.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	w, h := out.W, out.H
	o := out.Pix
	switch m := m.(type) {
	case *RGB:
		copy(o, m.Pix)
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				copy(o[3*(y*w+x):3*(y*w+x)+3], row[4*x:4*x+3])
			}
		}
	case *image.RGBA:
		// What image.RGBA.At and color.NRGBAModel would give, without a color.Color per
		// pixel (two allocations each: 130,000 for a 256×256 image).
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				i := 3 * (y*w + x)
				o[i], o[i+1], o[i+2] = unpremultiply(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				i := 3 * (y*w + x)
				o[i], o[i+1], o[i+2] = row[8*x], row[8*x+2], row[8*x+4]
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				i := 3 * (y*w + x)
				o[i], o[i+1], o[i+2] = row[x], row[x], row[x]
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				i := 3 * (y*w + x)
				o[i], o[i+1], o[i+2] = row[2*x], row[2*x], row[2*x]
			}
		}
	case *image.Paletted:
		var pal [256][3]uint8
		for i, c := range m.Palette {
			if i == 256 {
				break
			}
			pal[i] = nrgb(c)
		}
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				copy(o[3*(y*w+x):], pal[row[x]][:])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := nrgb(m.At(b.Min.X+x, b.Min.Y+y))
				copy(o[3*(y*w+x):], c[:])
			}
		}
	}
	return out
}

// nrgb returns the un-premultiplied 8-bit colour channels of c; a nil colour
// (Go's PNG decoder leaves missing palette entries nil) is black.
// unpremultiply is color.NRGBAModel's conversion of an alpha-premultiplied 8-bit colour.
func unpremultiply(r, g, b, a uint8) (uint8, uint8, uint8) {
	switch a {
	case 0xff:
		return r, g, b
	case 0:
		return 0, 0, 0
	}
	a16 := uint32(a) * 0x101
	un := func(v uint8) uint8 { return uint8((uint32(v) * 0x101 * 0xffff / a16) >> 8) }
	return un(r), un(g), un(b)
}

func nrgb(c color.Color) [3]uint8 {
	if c == nil {
		return [3]uint8{}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}

func gray16Clip(m *image.Gray16) *RGB {
	b := m.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	for y := 0; y < out.H; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		for x := 0; x < out.W; x++ {
			v := uint8(0xff)
			if row[2*x] == 0 {
				v = row[2*x+1]
			}
			i := 3 * (y*out.W + x)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = v, v, v
		}
	}
	return out
}

// ycbcrLibjpeg converts decoded JPEG samples to RGB the way libjpeg-turbo
// does for Pillow: chroma subsampled 2:1 horizontally (4:2:2) or in both
// directions (4:2:0) is upsampled with libjpeg's default "fancy" triangle
// filter (jdsample.c: 3/4 of the nearer and 1/4 of the farther sample, with
// its alternating rounding constants and edge rules), and colours use
// libjpeg's fixed-point formulas (16 fraction bits, round half up). Go's own
// conversion replicates chroma and rounds differently, which is up to 130
// levels off at colour edges of a 4:2:0 file. Other subsampling ratios fall
// back to replication. The IDCT is Go's, not libjpeg's islow, so results
// still differ from Pillow by a few levels on some pixels (the tests give
// the measured difference).
func ycbcrLibjpeg(m *image.YCbCr) *RGB {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	cb := upsampleChroma(m, m.Cb)
	cr := upsampleChroma(m, m.Cr)
	out := NewRGB(w, h)
	const half = 1 << 15
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			yy := int32(m.Y[m.YOffset(b.Min.X+x, b.Min.Y+y)])
			u := int32(cb[y*w+x]) - 128
			v := int32(cr[y*w+x]) - 128
			i := 3 * (y*w + x)
			out.Pix[i] = clamp255(yy + (91881*v+half)>>16)
			out.Pix[i+1] = clamp255(yy + (-22554*u-46802*v+half)>>16)
			out.Pix[i+2] = clamp255(yy + (116130*u+half)>>16)
		}
	}
	return out
}

// upsampleChroma returns one chroma plane of m at full resolution (w×h).
func upsampleChroma(m *image.YCbCr, plane []uint8) []uint8 {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]uint8, w*h)
	// The decoded planes are padded to whole MCUs; libjpeg only reads the
	// ceil(w/2)×ceil(h/2) samples that cover the image and repeats the
	// last one at the edges.
	cw, ch := (w+1)/2, (h+1)/2
	at := func(cx, cy int) int32 {
		cx = min(max(cx, 0), cw-1)
		cy = min(max(cy, 0), ch-1)
		return int32(plane[m.COffset(b.Min.X+2*cx, b.Min.Y+2*cy)])
	}
	switch {
	case m.SubsampleRatio == image.YCbCrSubsampleRatio420 && cw > 2 && b.Min == (image.Point{}):
		// jdsample.c h2v2_fancy_upsample: a vertical 3:1 sum, then a
		// horizontal 3:1 blend of the sums, /16 with bias 8 for the
		// left output of each pair and 7 for the right.
		for y := 0; y < h; y++ {
			cy, far := y/2, y/2-1
			if y%2 == 1 {
				far = y/2 + 1
			}
			col := func(cx int) int32 { return 3*at(cx, cy) + at(cx, far) }
			for x := 0; x < w; x++ {
				cx := x / 2
				var v int32
				switch {
				case x == 0:
					v = (4*col(0) + 8) >> 4
				case x%2 == 0:
					v = (3*col(cx) + col(cx-1) + 8) >> 4
				case cx == cw-1:
					v = (4*col(cx) + 7) >> 4
				default:
					v = (3*col(cx) + col(cx+1) + 7) >> 4
				}
				out[y*w+x] = uint8(v)
			}
		}
	case m.SubsampleRatio == image.YCbCrSubsampleRatio422 && cw > 2 && b.Min == (image.Point{}):
		// jdsample.c h2v1_fancy_upsample: /4 with bias 1 on the left, 2
		// on the right; the outermost outputs copy their sample. Chroma
		// rows are not subsampled.
		for y := 0; y < h; y++ {
			row := func(cx int) int32 {
				return int32(plane[m.COffset(b.Min.X+2*min(max(cx, 0), cw-1), b.Min.Y+y)])
			}
			for x := 0; x < w; x++ {
				cx := x / 2
				var v int32
				switch {
				case x == 0:
					v = row(0)
				case x%2 == 0:
					v = (3*row(cx) + row(cx-1) + 1) >> 2
				case cx == cw-1:
					v = row(cx)
				default:
					v = (3*row(cx) + row(cx+1) + 2) >> 2
				}
				out[y*w+x] = uint8(v)
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out[y*w+x] = plane[m.COffset(b.Min.X+x, b.Min.Y+y)]
			}
		}
	}
	return out
}

func clamp255(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
