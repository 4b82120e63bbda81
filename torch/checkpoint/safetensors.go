package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxSafetensorsHeader is the header size limit of the reference implementation (100 MB).
const maxSafetensorsHeader = 100 << 20

// LoadSafetensors reads a safetensors file. Tensors come back in file order (by data offset),
// which is the order they were written in by this package and by the Python library.
func LoadSafetensors(path string) ([]Named, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &Error{Op: "load safetensors", Path: path, Err: unwrapPathError(err)}
	}
	ts, meta, err := parseSafetensors(data)
	if err != nil {
		return nil, nil, &Error{Op: "load safetensors", Path: path, Err: err}
	}
	return ts, meta, nil
}

// ParseSafetensors decodes a safetensors file held in memory. The tensors' Data alias data, so
// data must not be modified while they are in use.
func ParseSafetensors(data []byte) ([]Named, map[string]string, error) {
	ts, meta, err := parseSafetensors(data)
	if err != nil {
		return nil, nil, &Error{Op: "load safetensors", Err: err}
	}
	return ts, meta, nil
}

// SafetensorsHeader is the header of a safetensors file: what each tensor is and where its
// bytes lie, without the bytes, so a reader can put them straight where they belong.
type SafetensorsHeader struct {
	// Tensors in file order (by data offset); their Offset counts from the start of the file.
	Tensors  []SafetensorsEntry
	Metadata map[string]string
}

// SafetensorsEntry is one tensor of a SafetensorsHeader: Size bytes at Offset of the file.
type SafetensorsEntry struct {
	Name         string
	DType        DType
	Shape        []int64
	Offset, Size int64
}

// ReadSafetensorsHeader reads and checks the header of a safetensors file of size bytes: every
// check ParseSafetensors makes, the tensors tiling the data section up to the file's end
// included, so the sizes it reports can be allocated without reading further.
func ReadSafetensorsHeader(r io.ReaderAt, size int64) (*SafetensorsHeader, error) {
	h, err := readSafetensorsHeader(r, size)
	if err != nil {
		return nil, &Error{Op: "load safetensors", Err: err}
	}
	return h, nil
}

func readSafetensorsHeader(r io.ReaderAt, size int64) (*SafetensorsHeader, error) {
	if size < 8 {
		return nil, fmt.Errorf("file of %d bytes is too short for a safetensors header", size)
	}
	var lb [8]byte
	if _, err := r.ReadAt(lb[:], 0); err != nil {
		return nil, err
	}
	hlen := binary.LittleEndian.Uint64(lb[:])
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after it", hlen, size-8)
	}
	if hlen > maxSafetensorsHeader {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", hlen, maxSafetensorsHeader)
	}
	header := make([]byte, hlen)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, err
	}
	entries, meta, err := parseSafetensorsHeader(header, uint64(size)-8-hlen)
	if err != nil {
		return nil, err
	}
	base := int64(8 + hlen)
	for i := range entries {
		entries[i].Offset += base
	}
	return &SafetensorsHeader{Tensors: entries, Metadata: meta}, nil
}

type stEntry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

func parseSafetensors(data []byte) ([]Named, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("file of %d bytes is too short for a safetensors header", len(data))
	}
	hlen := binary.LittleEndian.Uint64(data)
	if hlen > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("header length %d exceeds the %d bytes after it", hlen, len(data)-8)
	}
	if hlen > maxSafetensorsHeader {
		return nil, nil, fmt.Errorf("header length %d exceeds the %d-byte limit", hlen, maxSafetensorsHeader)
	}
	buf := data[8+hlen:]
	entries, meta, err := parseSafetensorsHeader(data[8:8+hlen], uint64(len(buf)))
	if err != nil {
		return nil, nil, err
	}
	out := make([]Named, len(entries))
	for i, e := range entries {
		end := e.Offset + e.Size
		out[i] = Named{Name: e.Name, Tensor: &Tensor{DType: e.DType, Shape: e.Shape, Data: buf[e.Offset:end:end]}}
	}
	return out, meta, nil
}

// parseSafetensorsHeader decodes a header whose data section has dataLen bytes; the entries'
// offsets count from the start of the data section, and come sorted by it.
func parseSafetensorsHeader(header []byte, dataLen uint64) ([]SafetensorsEntry, map[string]string, error) {
	if len(header) == 0 || header[0] != '{' {
		return nil, nil, errors.New("header is not a JSON object")
	}

	// A token decoder keeps the keys in header order, so tensors that share an offset (empty
	// ones) keep the order they were written in.
	dec := json.NewDecoder(bytes.NewReader(header))
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("invalid header JSON: %w", err)
	}
	var (
		meta  map[string]string
		ts    []SafetensorsEntry
		spans [][2]uint64
		seen  = map[string]bool{}
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid header JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("invalid header JSON: key is not a string")
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("tensor %q appears twice in the header", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, fmt.Errorf("__metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var e stEntry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: invalid header entry: %w", name, err)
		}
		dt, ok := dtypeFromSafetensors(e.Dtype)
		if !ok {
			return nil, nil, fmt.Errorf("tensor %q has unsupported dtype %q", name, e.Dtype)
		}
		if e.Shape == nil {
			return nil, nil, fmt.Errorf("tensor %q has no shape", name)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets must hold 2 numbers, has %d", name, len(e.DataOffsets))
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin > end || end > dataLen {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data section",
				name, begin, end, dataLen)
		}
		n, ok := numel(e.Shape)
		if !ok {
			return nil, nil, fmt.Errorf("tensor %q has invalid shape %v", name, e.Shape)
		}
		if hi, lo := bits.Mul64(uint64(n), uint64(dt.Size())); hi != 0 || lo != end-begin {
			return nil, nil, fmt.Errorf("tensor %q: shape %v of %s needs %d elements, data_offsets span %d bytes",
				name, e.Shape, e.Dtype, n, end-begin)
		}
		ts = append(ts, SafetensorsEntry{Name: name, DType: dt, Shape: e.Shape, Offset: int64(begin), Size: int64(end - begin)})
		spans = append(spans, [2]uint64{begin, end})
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("invalid header JSON: %w", err)
	}
	if rest := bytes.TrimLeft(header[dec.InputOffset():], " \t\r\n"); len(rest) != 0 {
		return nil, nil, errors.New("invalid header JSON: trailing data after the object")
	}

	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return spans[order[a]][0] < spans[order[b]][0] })
	out := make([]SafetensorsEntry, len(ts))
	// As in the reference implementation, the tensors must tile the data section exactly: no
	// gaps, no overlaps, nothing after the last one.
	var at uint64
	for i, j := range order {
		out[i] = ts[j]
		if spans[j][0] != at {
			return nil, nil, fmt.Errorf("tensor %q starts at byte %d of the data section, want %d (gap or overlap)",
				ts[j].Name, spans[j][0], at)
		}
		at = spans[j][1]
	}
	if at != dataLen {
		return nil, nil, fmt.Errorf("data section has %d bytes, tensors cover %d", dataLen, at)
	}
	return out, meta, nil
}

// SaveSafetensors writes tensors, in the given order, and optional metadata to a safetensors
// file, atomically like SaveFile.
func SaveSafetensors(path string, tensors []Named, metadata map[string]string) error {
	err := writeAtomic(path, func(w io.Writer) error { return writeSafetensors(w, tensors, metadata) })
	if err != nil {
		return &Error{Op: "save safetensors", Path: path, Err: err}
	}
	return nil
}

// WriteSafetensors is SaveSafetensors into a writer.
func WriteSafetensors(w io.Writer, tensors []Named, metadata map[string]string) error {
	if err := writeSafetensors(w, tensors, metadata); err != nil {
		return &Error{Op: "save safetensors", Err: err}
	}
	return nil
}

func writeSafetensors(w io.Writer, tensors []Named, metadata map[string]string) error {
	var h strings.Builder
	h.WriteByte('{')
	if len(metadata) > 0 {
		// Sorted keys make the file reproducible.
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return fmt.Errorf("metadata %q is not valid UTF-8", k)
			}
		}
		h.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			if err := writeJSONString(&h, k); err != nil {
				return err
			}
			h.WriteByte(':')
			if err := writeJSONString(&h, metadata[k]); err != nil {
				return err
			}
		}
		h.WriteByte('}')
	}
	seen := map[string]bool{}
	var off uint64
	for i, nt := range tensors {
		if nt.Name == "__metadata__" {
			return errors.New(`tensor name "__metadata__" is reserved`)
		}
		if !utf8.ValidString(nt.Name) {
			return fmt.Errorf("tensor name %q is not valid UTF-8", nt.Name)
		}
		if seen[nt.Name] {
			return fmt.Errorf("duplicate tensor name %q", nt.Name)
		}
		seen[nt.Name] = true
		if err := nt.Tensor.Validate(); err != nil {
			return fmt.Errorf("tensor %q: %w", nt.Name, err)
		}
		if i > 0 || len(metadata) > 0 {
			h.WriteByte(',')
		}
		if err := writeJSONString(&h, nt.Name); err != nil {
			return err
		}
		fmt.Fprintf(&h, `:{"dtype":"%s","shape":[`, dtypes[nt.Tensor.DType].safetensors)
		for j, d := range nt.Tensor.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			fmt.Fprint(&h, d)
		}
		end := off + uint64(len(nt.Tensor.Data))
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h.WriteByte('}')
	// Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
	for (8+h.Len())%8 != 0 {
		h.WriteByte(' ')
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(h.Len()))
	if _, err := bw.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := bw.WriteString(h.String()); err != nil {
		return err
	}
	for _, nt := range tensors {
		if _, err := bw.Write(nt.Tensor.Data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeJSONString(b *strings.Builder, s string) error {
	j, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding %q: %w", s, err)
	}
	b.Write(j)
	return nil
}
