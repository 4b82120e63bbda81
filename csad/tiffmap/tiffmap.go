package tiffmap

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/csad-go/csad/internal/atomicfile"
)

// Map is a 2-D float32 anomaly map.
type Map struct {
	Width, Height int
	// Pix holds Width×Height values, row-major.
	Pix []float32
}

// New returns a zero map of the given size.
func New(w, h int) *Map { return &Map{Width: w, Height: h, Pix: make([]float32, w*h)} }

// At returns the value at column x, row y.
func (m *Map) At(x, y int) float32 { return m.Pix[y*m.Width+x] }

// MaxPixels bounds the maps Write and Resize produce and Read accepts (1 GiB of float32), so a
// corrupt header cannot ask for more; the largest MVTec LOCO image has 1.7 M pixels.
const MaxPixels = 1 << 28

const maxPixels = MaxPixels

const (
	tagWidth        = 256
	tagHeight       = 257
	tagBitsPerSamp  = 258
	tagCompression  = 259
	tagPhotometric  = 262
	tagStripOffsets = 273
	tagSamplesPerPx = 277
	tagRowsPerStrip = 278
	tagStripCounts  = 279
	tagPlanar       = 284
	tagPredictor    = 317
	tagTileWidth    = 322
	tagSampleFormat = 339

	typeShort = 3
	typeLong  = 4
)

// check rejects maps Write cannot encode: the strip length is a 32-bit field, and a map larger
// than Read accepts would be a file this package cannot read back.
func check(m *Map) error {
	if m == nil {
		return errors.New("tiffmap: nil map")
	}
	if m.Width <= 0 || m.Height <= 0 || int64(m.Width)*int64(m.Height) != int64(len(m.Pix)) {
		return fmt.Errorf("tiffmap: bad map: %d×%d with %d values", m.Width, m.Height, len(m.Pix))
	}
	if len(m.Pix) > maxPixels {
		return fmt.Errorf("tiffmap: map %d×%d has more than %d pixels; write it smaller", m.Width, m.Height, maxPixels)
	}
	return nil
}

// Write encodes m as a float32 TIFF.
func Write(w io.Writer, m *Map) error {
	if err := check(m); err != nil {
		return err
	}
	n := uint32(len(m.Pix) * 4)
	type entry struct {
		tag, typ uint16
		val      uint32
	}
	entries := []entry{
		{tagWidth, typeLong, uint32(m.Width)},
		{tagHeight, typeLong, uint32(m.Height)},
		{tagBitsPerSamp, typeShort, 32},
		{tagCompression, typeShort, 1},
		{tagPhotometric, typeShort, 1}, // min-is-black
		{tagStripOffsets, typeLong, 0}, // patched below
		{tagSamplesPerPx, typeShort, 1},
		{tagRowsPerStrip, typeLong, uint32(m.Height)},
		{tagStripCounts, typeLong, n},
		{tagPlanar, typeShort, 1},
		{tagSampleFormat, typeShort, 3}, // IEEE float
	}
	ifdLen := 2 + 12*len(entries) + 4
	dataOff := uint32(8 + ifdLen)
	dataOff = (dataOff + 7) &^ 7
	entries[5].val = dataOff

	var b bytes.Buffer
	b.Grow(int(dataOff) + int(n))
	le := binary.LittleEndian
	b.Write([]byte{'I', 'I', 42, 0})
	b.Write(le.AppendUint32(nil, 8))
	b.Write(le.AppendUint16(nil, uint16(len(entries))))
	for _, e := range entries {
		var rec [12]byte
		le.PutUint16(rec[0:], e.tag)
		le.PutUint16(rec[2:], e.typ)
		le.PutUint32(rec[4:], 1)
		if e.typ == typeShort {
			le.PutUint16(rec[8:], uint16(e.val))
		} else {
			le.PutUint32(rec[8:], e.val)
		}
		b.Write(rec[:])
	}
	b.Write([]byte{0, 0, 0, 0}) // no next IFD
	for b.Len() < int(dataOff) {
		b.WriteByte(0)
	}
	buf := make([]byte, 4*len(m.Pix))
	for i, v := range m.Pix {
		le.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	b.Write(buf)
	_, err := w.Write(b.Bytes())
	return err
}

// WriteFile writes m to path, creating parent folders. The file appears whole or not at all
// (temporary file and rename), so a reader or a run killed mid-write never sees a truncated map.
func WriteFile(path string, m *Map) error {
	if err := check(m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("tiffmap: %w", err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return Write(w, m) }); err != nil {
		return fmt.Errorf("tiffmap: write %s: %w", path, err)
	}
	return nil
}

// ReadFile reads a float32 TIFF map from path; errors name the path.
func ReadFile(path string) (*Map, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Read decodes a float32 TIFF map from r.
func Read(r io.Reader) (*Map, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return Decode(data)
}

var errShort = errors.New("tiffmap: file truncated")

// Decode decodes a float32 TIFF map held in memory.
func Decode(data []byte) (*Map, error) {
	if len(data) < 8 {
		return nil, errShort
	}
	var bo binary.ByteOrder
	switch string(data[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return nil, errors.New("tiffmap: not a TIFF file (no II/MM byte-order mark)")
	}
	switch bo.Uint16(data[2:]) {
	case 42:
	case 43:
		return nil, errors.New("tiffmap: BigTIFF is not supported")
	default:
		return nil, errors.New("tiffmap: not a TIFF file (bad magic number)")
	}
	ifd := int64(bo.Uint32(data[4:]))
	if ifd+2 > int64(len(data)) {
		return nil, errShort
	}
	nent := int64(bo.Uint16(data[ifd:]))
	if ifd+2+12*nent > int64(len(data)) {
		return nil, errShort
	}
	tags := map[uint16][]uint32{}
	for i := int64(0); i < nent; i++ {
		rec := data[ifd+2+12*i:]
		tag, typ, count := bo.Uint16(rec), bo.Uint16(rec[2:]), int64(bo.Uint32(rec[4:]))
		var size int64
		switch typ {
		case typeShort:
			size = 2
		case typeLong:
			size = 4
		default:
			continue // other types carry nothing this reader needs
		}
		if count > maxPixels {
			return nil, fmt.Errorf("tiffmap: tag %d has %d values", tag, count)
		}
		vals := rec[8:12]
		if size*count > 4 {
			off := int64(bo.Uint32(rec[8:]))
			if off < 0 || off+size*count > int64(len(data)) {
				return nil, errShort
			}
			vals = data[off : off+size*count]
		}
		out := make([]uint32, count)
		for j := range out {
			if typ == typeShort {
				out[j] = uint32(bo.Uint16(vals[2*j:]))
			} else {
				out[j] = bo.Uint32(vals[4*j:])
			}
		}
		tags[tag] = out
	}
	get := func(tag uint16, def uint32) uint32 {
		if v := tags[tag]; len(v) > 0 {
			return v[0]
		}
		return def
	}
	w, h := int64(get(tagWidth, 0)), int64(get(tagHeight, 0))
	if w <= 0 || h <= 0 || w*h > maxPixels {
		return nil, fmt.Errorf("tiffmap: bad image size %d×%d", w, h)
	}
	if _, tiled := tags[tagTileWidth]; tiled {
		return nil, errors.New("tiffmap: tiled TIFF is not supported; write strips")
	}
	if spp := get(tagSamplesPerPx, 1); spp != 1 {
		return nil, fmt.Errorf("tiffmap: %d samples per pixel, want a single-channel map", spp)
	}
	if bps, sf := get(tagBitsPerSamp, 1), get(tagSampleFormat, 1); bps != 32 || sf != 3 {
		return nil, fmt.Errorf("tiffmap: %d-bit samples of format %d, want 32-bit float (SampleFormat 3)", bps, sf)
	}
	if p := get(tagPredictor, 1); p != 1 {
		return nil, fmt.Errorf("tiffmap: predictor %d is not supported", p)
	}
	comp := get(tagCompression, 1)
	if comp != 1 && comp != 8 && comp != 32946 {
		return nil, fmt.Errorf("tiffmap: compression %d is not supported (only none and Deflate)", comp)
	}
	offs, counts := tags[tagStripOffsets], tags[tagStripCounts]
	if len(offs) == 0 || len(offs) != len(counts) {
		return nil, errors.New("tiffmap: missing or inconsistent strip offsets")
	}
	need := w * h * 4
	raw := make([]byte, 0, need)
	for i, o := range offs {
		end := int64(o) + int64(counts[i])
		if end > int64(len(data)) {
			return nil, errShort
		}
		strip := data[o:end]
		if comp != 1 {
			zr, err := zlib.NewReader(bytes.NewReader(strip))
			if err != nil {
				return nil, fmt.Errorf("tiffmap: strip %d: %w", i, err)
			}
			strip, err = io.ReadAll(io.LimitReader(zr, need-int64(len(raw))+1))
			if err != nil {
				return nil, fmt.Errorf("tiffmap: strip %d: %w", i, err)
			}
		}
		raw = append(raw, strip...)
		if int64(len(raw)) > need {
			raw = raw[:need]
			break
		}
	}
	if int64(len(raw)) < need {
		return nil, errShort
	}
	m := &Map{Width: int(w), Height: int(h), Pix: make([]float32, w*h)}
	for i := range m.Pix {
		m.Pix[i] = math.Float32frombits(bo.Uint32(raw[4*i:]))
	}
	return m, nil
}

// Resize returns m resized to w×h by bilinear interpolation with PyTorch's align_corners=false
// convention (F.interpolate(mode="bilinear")): output pixel centres map to input pixel centres
// and the edges are clamped. It serves maps written at a size other than the image's; the
// image-size map of the scorer is LibTorch's own interpolation of the same 64×64 values, which
// Resize matches within float32 rounding.
func (m *Map) Resize(w, h int) (*Map, error) {
	if err := check(m); err != nil {
		return nil, err
	}
	if w <= 0 || h <= 0 || int64(w)*int64(h) > maxPixels {
		return nil, fmt.Errorf("tiffmap: resize to %d×%d: want both sides positive and at most %d pixels", w, h, maxPixels)
	}
	xs := taps(m.Width, w)
	ys := taps(m.Height, h)
	out := New(w, h)
	for y, ty := range ys {
		r0 := m.Pix[ty.i0*m.Width:]
		r1 := m.Pix[ty.i1*m.Width:]
		for x, tx := range xs {
			// The order of PyTorch's CPU kernel: weights in float32, rows blended last.
			top := tx.w0*r0[tx.i0] + tx.w1*r0[tx.i1]
			bot := tx.w0*r1[tx.i0] + tx.w1*r1[tx.i1]
			out.Pix[y*w+x] = ty.w0*top + ty.w1*bot
		}
	}
	return out, nil
}

// tap is one output position's two source indices and their weights.
type tap struct {
	i0, i1 int
	w0, w1 float32
}

func taps(in, out int) []tap {
	scale := float32(in) / float32(out)
	t := make([]tap, out)
	for o := range t {
		src := max(scale*(float32(o)+0.5)-0.5, 0)
		i0 := min(int(src), in-1)
		i1 := min(i0+1, in-1)
		l1 := src - float32(i0)
		t[o] = tap{i0, i1, 1 - l1, l1}
	}
	return t
}
