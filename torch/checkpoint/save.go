package checkpoint

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/csad-go/csad/internal/atomicfile"
)

// Save writes v in torch.save's zip format (archive version 3, pickle protocol 2, little
// endian), which torch.load reads back, with weights_only=True as well. v may be built from
// *Dict (saved as collections.OrderedDict, string and integer keys), List, Tuple, string, int
// and int64 (any Go integer that fits int64), float64, bool, nil and *Tensor. A *Tensor that
// appears more than once is written once and comes back as tensors sharing one storage.
func Save(w io.Writer, v any) error {
	if err := save(w, v); err != nil {
		return &Error{Op: "save", Err: err}
	}
	return nil
}

// SaveFile is Save into a file, written atomically: the data goes to a temporary file in the
// same directory, is synced, and is renamed over path only when complete, so a crash leaves
// either the old checkpoint or the new one, never half of one.
func SaveFile(path string, v any) error {
	if err := writeAtomic(path, func(w io.Writer) error { return save(w, v) }); err != nil {
		return &Error{Op: "save", Path: path, Err: err}
	}
	return nil
}

func save(w io.Writer, v any) error {
	p := &pickler{keys: map[*Tensor]int{}}
	p.buf.WriteString("\x80\x02") // PROTO 2, the protocol torch.save uses by default
	if err := p.value(v, 0); err != nil {
		return err
	}
	p.buf.WriteByte('.')

	recs := []record{
		{"archive/data.pkl", p.buf.Bytes()},
		{"archive/byteorder", []byte("little")},
	}
	for i, t := range p.tensors {
		recs = append(recs, record{"archive/data/" + strconv.Itoa(i), t.Data})
	}
	recs = append(recs, record{"archive/version", []byte("3\n")})
	return writeZip(w, recs)
}

type record struct {
	name string
	data []byte
}

// zipAlignment is the boundary PyTorch aligns record data to, so that readers can map tensor
// data straight from the file.
const zipAlignment = 64

// writeZip stores the records uncompressed. PyTorch pads each local header with an extra field
// (id "FB") so the data starts on a 64-byte boundary; the same is done here. Offsets are tracked
// by hand because raw entries are written byte for byte: header, name, extra, data.
func writeZip(w io.Writer, recs []record) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	zw := zip.NewWriter(bw)
	var off uint64
	for _, r := range recs {
		const localHeaderLen = 30
		pad := (zipAlignment - (off+localHeaderLen+uint64(len(r.name))+4)%zipAlignment) % zipAlignment
		extra := make([]byte, 4+pad)
		extra[0], extra[1] = 'F', 'B'
		binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
		for i := 4; i < len(extra); i++ {
			extra[i] = 'Z'
		}
		fh := &zip.FileHeader{
			Name:               r.name,
			Method:             zip.Store,
			ReaderVersion:      20,
			CreatorVersion:     20,
			CRC32:              crc32.ChecksumIEEE(r.data),
			CompressedSize64:   uint64(len(r.data)),
			UncompressedSize64: uint64(len(r.data)),
			Extra:              extra,
		}
		fw, err := zw.CreateRaw(fh)
		if err != nil {
			return err
		}
		if _, err := fw.Write(r.data); err != nil {
			return err
		}
		off += localHeaderLen + uint64(len(r.name)) + uint64(len(extra)) + uint64(len(r.data))
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// pickler writes the subset of pickle protocol 2 that torch.load's weights_only unpickler
// accepts, without memoization (nothing is shared but tensors, which share by storage key).
type pickler struct {
	buf     bytes.Buffer
	tensors []*Tensor
	keys    map[*Tensor]int
}

func (p *pickler) value(v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("value nested deeper than %d levels (is it cyclic?)", maxDepth)
	}
	b := &p.buf
	switch x := v.(type) {
	case nil:
		b.WriteByte('N')
	case bool:
		if x {
			b.WriteByte(0x88)
		} else {
			b.WriteByte(0x89)
		}
	case int:
		p.int(int64(x))
	case int64:
		p.int(x)
	case int32:
		p.int(int64(x))
	case int16:
		p.int(int64(x))
	case int8:
		p.int(int64(x))
	case uint8:
		p.int(int64(x))
	case uint16:
		p.int(int64(x))
	case uint32:
		p.int(int64(x))
	case uint:
		if uint64(x) > math.MaxInt64 {
			return fmt.Errorf("integer %d does not fit in int64", x)
		}
		p.int(int64(x))
	case uint64:
		if x > math.MaxInt64 {
			return fmt.Errorf("integer %d does not fit in int64", x)
		}
		p.int(int64(x))
	case float64:
		p.float(x)
	case float32:
		p.float(float64(x))
	case string:
		return p.str(x)
	case *Tensor:
		return p.tensor(x)
	case *Dict:
		if x == nil {
			return errors.New("nil *Dict")
		}
		return p.dict(x, depth)
	case Dict:
		return p.dict(&x, depth)
	case List:
		b.WriteByte(']')
		return p.items(x, 'e', depth)
	case Tuple:
		switch len(x) {
		case 0:
			b.WriteByte(')')
			return nil
		case 1, 2, 3:
			for _, e := range x {
				if err := p.value(e, depth+1); err != nil {
					return err
				}
			}
			b.WriteByte(0x84 + byte(len(x))) // TUPLE1..TUPLE3
			return nil
		}
		b.WriteByte('(')
		for _, e := range x {
			if err := p.value(e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('t')
	case []byte:
		// Protocol 2 can only spell bytes through _codecs.encode, which weights_only rejects.
		return errors.New("[]byte values cannot be saved; store them in a uint8 tensor")
	default:
		return fmt.Errorf("cannot save a value of type %T; use *Dict, List, Tuple, *Tensor or a scalar", v)
	}
	return nil
}

// items appends elements in batches of 1000 under MARK, as CPython's pickler does, so the
// unpickler's stack stays small.
func (p *pickler) items(xs []any, op byte, depth int) error {
	for start := 0; start < len(xs); start += 1000 {
		p.buf.WriteByte('(')
		for _, e := range xs[start:min(start+1000, len(xs))] {
			if err := p.value(e, depth+1); err != nil {
				return err
			}
		}
		p.buf.WriteByte(op)
	}
	return nil
}

func (p *pickler) dict(d *Dict, depth int) error {
	p.buf.WriteString("ccollections\nOrderedDict\n)R")
	seen := make(map[any]bool, len(d.Entries))
	kv := make([]any, 0, 2*len(d.Entries))
	for _, e := range d.Entries {
		var k any
		switch kk := e.Key.(type) {
		case string:
			k = kk
		case int64:
			k = kk
		case int:
			k = int64(kk)
		default:
			return fmt.Errorf("dict key of type %T; only string and integer keys are supported", e.Key)
		}
		if seen[k] {
			return fmt.Errorf("duplicate dict key %v", k)
		}
		seen[k] = true
		kv = append(kv, k, e.Value)
	}
	for start := 0; start < len(kv); start += 2000 {
		p.buf.WriteByte('(')
		for i, x := range kv[start:min(start+2000, len(kv))] {
			if err := p.value(x, depth+1); err != nil {
				if i%2 == 1 {
					return fmt.Errorf("key %v: %w", kv[start+i-1], err)
				}
				return err
			}
		}
		p.buf.WriteByte('u')
	}
	return nil
}

func (p *pickler) int(n int64) {
	b := &p.buf
	switch {
	case n >= 0 && n < 1<<8:
		b.WriteByte('K')
		b.WriteByte(byte(n))
	case n >= 0 && n < 1<<16:
		b.WriteByte('M')
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(n)))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		b.WriteByte('J')
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(n))))
	default:
		// LONG1: little-endian two's complement, shortest form that keeps the sign.
		le := binary.LittleEndian.AppendUint64(nil, uint64(n))
		for len(le) > 1 {
			top, next := le[len(le)-1], le[len(le)-2]
			if (top == 0 && next&0x80 == 0) || (top == 0xff && next&0x80 != 0) {
				le = le[:len(le)-1]
				continue
			}
			break
		}
		b.WriteByte(0x8a)
		b.WriteByte(byte(len(le)))
		b.Write(le)
	}
}

func (p *pickler) float(f float64) {
	p.buf.WriteByte('G')
	p.buf.Write(binary.BigEndian.AppendUint64(nil, math.Float64bits(f)))
}

func (p *pickler) str(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("string %q is not valid UTF-8", s)
	}
	p.buf.WriteByte('X')
	p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.buf.WriteString(s)
	return nil
}

// tensor writes what torch.save writes for a contiguous CPU tensor:
// _rebuild_tensor_v2(persistent storage, 0, size, stride, requires_grad, OrderedDict()).
func (p *pickler) tensor(t *Tensor) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if len(t.Data) > math.MaxUint32 {
		// Go's zip writer records such sizes only in the central directory, which PyTorch's
		// reader does not consult for the data offset.
		return fmt.Errorf("tensor of %d bytes is larger than the 4 GiB a record can hold here", len(t.Data))
	}
	key, ok := p.keys[t]
	if !ok {
		key = len(p.tensors)
		p.keys[t] = key
		p.tensors = append(p.tensors, t)
	}
	n, ok := numel(t.Shape)
	if !ok { // Validate has checked the shape; this only guards against a change there
		return fmt.Errorf("shape %v has no element count", t.Shape)
	}
	b := &p.buf
	b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n(")
	b.WriteString("(")
	p.str("storage")
	b.WriteString("ctorch\n" + dtypes[t.DType].storage + "\n")
	p.str(strconv.Itoa(key))
	p.str("cpu")
	p.int(n)
	b.WriteString("tQ") // TUPLE, BINPERSID
	p.int(0)
	stride := make([]int64, len(t.Shape))
	s := int64(1)
	for i := len(t.Shape) - 1; i >= 0; i-- {
		stride[i] = s
		s *= max(t.Shape[i], 1)
	}
	for _, dims := range [][]int64{t.Shape, stride} {
		b.WriteByte('(')
		for _, d := range dims {
			p.int(d)
		}
		b.WriteByte('t')
	}
	if t.RequiresGrad {
		b.WriteByte(0x88)
	} else {
		b.WriteByte(0x89)
	}
	b.WriteString("ccollections\nOrderedDict\n)R")
	b.WriteString("tR")
	return nil
}

// writeAtomic writes a file through a temporary sibling, synced and renamed into place
// (internal/atomicfile), so a signal handler's RemoveTemps also cleans up checkpoint writes.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return unwrapPathError(err)
	}
	return nil
}
