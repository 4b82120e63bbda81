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

// maxPixels bounds what Read allocates, so a corrupt header cannot ask for
// gigabytes (the largest MVTec LOCO image has 1.7 M pixels).
const maxPixels = 1 << 28

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

// Write encodes m as a float32 TIFF.
func Write(w io.Writer, m *Map) error {
	if m.Width <= 0 || m.Height <= 0 || len(m.Pix) != m.Width*m.Height {
		return fmt.Errorf("tiffmap: bad map: %d×%d with %d values", m.Width, m.Height, len(m.Pix))
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

// WriteFile writes m to path, creating parent folders.
func WriteFile(path string, m *Map) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := Write(&b, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
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
