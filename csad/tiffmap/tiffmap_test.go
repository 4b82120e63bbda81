package tiffmap

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	m := New(7, 5)
	for i := range m.Pix {
		m.Pix[i] = float32(i)*0.25 - 3
	}
	m.Pix[3] = float32(math.Inf(1))
	p := filepath.Join(t.TempDir(), "a", "b.tiff")
	if err := WriteFile(p, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 7 || got.Height != 5 {
		t.Fatalf("size %d×%d", got.Width, got.Height)
	}
	for i := range m.Pix {
		if got.Pix[i] != m.Pix[i] {
			t.Fatalf("pixel %d: %v, want %v", i, got.Pix[i], m.Pix[i])
		}
	}
	if got.At(2, 1) != m.Pix[9] {
		t.Error("At")
	}
}

// handmade writes a big-endian TIFF with two strips, optionally
// Deflate-compressed, the way libtiff-based writers do.
func handmade(t *testing.T, deflate bool, w, h int, vals []float32) []byte {
	t.Helper()
	be := binary.BigEndian
	rowsPer := (h + 1) / 2
	var strips [][]byte
	for y0 := 0; y0 < h; y0 += rowsPer {
		var raw []byte
		for y := y0; y < min(h, y0+rowsPer); y++ {
			for x := 0; x < w; x++ {
				raw = be.AppendUint32(raw, math.Float32bits(vals[y*w+x]))
			}
		}
		if deflate {
			var b bytes.Buffer
			zw := zlib.NewWriter(&b)
			if _, err := zw.Write(raw); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			raw = b.Bytes()
		}
		strips = append(strips, raw)
	}
	comp := uint32(1)
	if deflate {
		comp = 8
	}
	type ent struct {
		tag, typ uint16
		vals     []uint32
	}
	// Data first, after the header; the IFD at the end.
	var data []byte
	var offs, counts []uint32
	for _, s := range strips {
		offs = append(offs, uint32(8+len(data)))
		counts = append(counts, uint32(len(s)))
		data = append(data, s...)
	}
	ents := []ent{
		{256, 3, []uint32{uint32(w)}}, {257, 3, []uint32{uint32(h)}}, {258, 3, []uint32{32}},
		{259, 3, []uint32{comp}}, {262, 3, []uint32{1}}, {273, 4, offs}, {277, 3, []uint32{1}},
		{278, 4, []uint32{uint32(rowsPer)}}, {279, 4, counts}, {339, 3, []uint32{3}},
	}
	ifd := uint32(8 + len(data))
	extra := ifd + uint32(2+12*len(ents)+4)
	var tail []byte
	out := []byte{'M', 'M', 0, 42}
	out = be.AppendUint32(out, ifd)
	out = append(out, data...)
	out = be.AppendUint16(out, uint16(len(ents)))
	for _, e := range ents {
		out = be.AppendUint16(out, e.tag)
		out = be.AppendUint16(out, e.typ)
		out = be.AppendUint32(out, uint32(len(e.vals)))
		if len(e.vals) == 1 {
			if e.typ == 3 {
				out = be.AppendUint16(out, uint16(e.vals[0]))
				out = append(out, 0, 0)
			} else {
				out = be.AppendUint32(out, e.vals[0])
			}
			continue
		}
		out = be.AppendUint32(out, extra+uint32(len(tail)))
		for _, v := range e.vals {
			tail = be.AppendUint32(tail, v)
		}
	}
	out = be.AppendUint32(out, 0)
	return append(out, tail...)
}

func TestReadOtherWriters(t *testing.T) {
	const w, h = 5, 3
	vals := make([]float32, w*h)
	for i := range vals {
		vals[i] = float32(i) / 3
	}
	for _, deflate := range []bool{false, true} {
		m, err := Decode(handmade(t, deflate, w, h, vals))
		if err != nil {
			t.Fatalf("deflate=%v: %v", deflate, err)
		}
		for i := range vals {
			if m.Pix[i] != vals[i] {
				t.Fatalf("deflate=%v: pixel %d = %v, want %v", deflate, i, m.Pix[i], vals[i])
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	var good bytes.Buffer
	if err := Write(&good, New(4, 4)); err != nil {
		t.Fatal(err)
	}
	b := good.Bytes()
	cases := map[string][]byte{
		"truncated": b[:len(b)-5],
		"not tiff":  []byte("\x89PNG\r\n\x1a\nxxxxxxxx"),
		"bigtiff":   append([]byte{'I', 'I', 43, 0}, b[4:]...),
		"empty":     nil,
	}
	for name, data := range cases {
		if _, err := Decode(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// An 8-bit file: patch BitsPerSample (third entry, value at 8+2+2*12+8).
	bad := bytes.Clone(b)
	binary.LittleEndian.PutUint16(bad[8+2+2*12+8:], 8)
	if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "32-bit float") {
		t.Errorf("8-bit: %v", err)
	}
	if err := Write(&good, &Map{Width: 2, Height: 2, Pix: make([]float32, 3)}); err == nil {
		t.Error("bad map written")
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	if err := Write(&b, New(3, 2)); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err == nil && len(m.Pix) != m.Width*m.Height {
			t.Fatalf("inconsistent map %d×%d with %d values", m.Width, m.Height, len(m.Pix))
		}
	})
}
