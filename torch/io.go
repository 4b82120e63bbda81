package torch

/*
#include "tensor.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/csad-go/csad/torch/checkpoint"
)

// Named pairs a PyTorch-style dotted name with a tensor, as in a state dict.
type Named struct {
	Name   string
	Tensor *Tensor
}

var dtypeToCkpt = map[DType]checkpoint.DType{
	Float32: checkpoint.Float32, Float64: checkpoint.Float64, Float16: checkpoint.Float16,
	BFloat16: checkpoint.BFloat16, Int64: checkpoint.Int64, Int32: checkpoint.Int32,
	Int16: checkpoint.Int16, Int8: checkpoint.Int8, Uint8: checkpoint.Uint8, Bool: checkpoint.Bool,
}

// DTypeFromCheckpoint maps a checkpoint dtype name to a DType.
func DTypeFromCheckpoint(d checkpoint.DType) (DType, bool) {
	for k, v := range dtypeToCkpt {
		if v == d {
			return k, true
		}
	}
	return 0, false
}

// FromCheckpoint copies a pure-Go checkpoint tensor into a new CPU tensor owned by s (nil: the
// caller).
func FromCheckpoint(s *Scope, c *checkpoint.Tensor) *Tensor {
	if err := c.Validate(); err != nil {
		return failed(errorf("FromCheckpoint", CodeInvalid, "%v", err), s)
	}
	d, ok := DTypeFromCheckpoint(c.DType)
	if !ok {
		return failed(errorf("FromCheckpoint", CodeType, "unsupported dtype %s", c.DType), s)
	}
	shape := c.Shape
	if shape == nil {
		shape = []int64{}
	}
	return FromBytes(s, c.Data, d, shape...)
}

// ToCheckpoint copies t's values (to the CPU) into a pure-Go checkpoint tensor.
func ToCheckpoint(t *Tensor) (*checkpoint.Tensor, error) {
	shape, err := t.shape("ToCheckpoint")
	if err != nil {
		return nil, err
	}
	d, ok := dtypeToCkpt[t.DType()]
	if !ok {
		return nil, errorf("ToCheckpoint", CodeType, "dtype %v cannot be saved", t.DType())
	}
	data, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	return &checkpoint.Tensor{DType: d, Shape: shape, Data: data}, nil
}

// LoadTensors reads a state dict from a PyTorch checkpoint (.pth/.pt/.bin: the zip format of
// torch.save; a state dict or nested dicts of tensors, whose names are joined with dots) or a
// .safetensors file. No pickle code is executed. The tensors belong to s (nil: the caller).
func LoadTensors(s *Scope, path string) ([]Named, error) {
	ts, _, err := LoadTensorsMeta(s, path)
	return ts, err
}

// LoadTensorsMeta is LoadTensors that also returns a safetensors file's string metadata (nil for
// PyTorch checkpoints). A safetensors file is read tensor by tensor straight into LibTorch's
// memory (OpenSafetensors), so loading holds the tensors once, not the file beside them.
func LoadTensorsMeta(s *Scope, path string) ([]Named, map[string]string, error) {
	if isSafetensorsFile(path) {
		f, err := OpenSafetensors(path)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		out := make([]Named, 0, len(f.Entries()))
		for _, e := range f.Entries() {
			t := f.Load(s, e.Name)
			if err := t.Err(); err != nil {
				for _, o := range out {
					o.Tensor.Close()
				}
				t.Close()
				return nil, nil, err
			}
			out = append(out, Named{Name: e.Name, Tensor: t})
		}
		return out, f.Metadata(), nil
	}
	v, err := checkpoint.LoadFile(path)
	if err != nil {
		return nil, nil, err
	}
	raw, err := checkpoint.Flatten(v)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]Named, 0, len(raw))
	for _, n := range raw {
		t := FromCheckpoint(s, n.Tensor)
		if err := t.Err(); err != nil {
			for _, o := range out {
				o.Tensor.Close()
			}
			t.Close()
			return nil, nil, fmt.Errorf("%s: %s: %w", path, n.Name, err)
		}
		out = append(out, Named{Name: n.Name, Tensor: t})
	}
	return out, nil, nil
}

// SafetensorsFile is an open safetensors file whose header has been read and checked; its
// tensors are read on demand, each straight from the file into LibTorch's memory, so nothing
// of the file is held in Go's heap. Close it when done. Not safe for concurrent use.
type SafetensorsFile struct {
	path  string
	f     *os.File
	h     *checkpoint.SafetensorsHeader
	index map[string]int
}

// OpenSafetensors opens a safetensors file and reads its header (checked as
// checkpoint.ParseSafetensors checks it: the tensors must tile the file's data section).
func OpenSafetensors(path string) (*SafetensorsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torch: %w", err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	var h *checkpoint.SafetensorsHeader
	if err == nil {
		h, err = checkpoint.ReadSafetensorsHeader(f, st.Size())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("torch: %s: %w", path, err)
	}
	sf := &SafetensorsFile{path: path, f: f, h: h, index: make(map[string]int, len(h.Tensors))}
	for i, e := range h.Tensors {
		sf.index[e.Name] = i
	}
	return sf, nil
}

// Metadata is the file's string metadata (nil when it has none).
func (f *SafetensorsFile) Metadata() map[string]string { return f.h.Metadata }

// Entries lists the file's tensors in file order, without their data.
func (f *SafetensorsFile) Entries() []checkpoint.SafetensorsEntry { return f.h.Tensors }

// Entry describes the tensor called name.
func (f *SafetensorsFile) Entry(name string) (checkpoint.SafetensorsEntry, bool) {
	i, ok := f.index[name]
	if !ok {
		return checkpoint.SafetensorsEntry{}, false
	}
	return f.h.Tensors[i], true
}

// Load reads the tensor called name into a new CPU tensor owned by s (nil: the caller).
func (f *SafetensorsFile) Load(s *Scope, name string) *Tensor {
	e, ok := f.Entry(name)
	if !ok {
		return failed(errorf("Load", CodeInvalid, "%s has no tensor %q", f.path, name), s)
	}
	d, ok := DTypeFromCheckpoint(e.DType)
	if !ok {
		return failed(errorf("Load", CodeType, "%s: %s: unsupported dtype %s", f.path, name, e.DType), s)
	}
	t := Empty(s, e.Shape, d)
	if err := f.read(e, t); err != nil {
		t.Close()
		return failed(err, s)
	}
	return t
}

// ReadInto reads the tensor called name into dst, a contiguous CPU tensor of the same dtype and
// shape, in place: loading weights into parameters that already exist costs no second copy.
// Autograd does not see the write (as with Assign); dst keeps its handle and requires_grad.
func (f *SafetensorsFile) ReadInto(name string, dst *Tensor) error {
	e, ok := f.Entry(name)
	if !ok {
		return errorf("ReadInto", CodeInvalid, "%s has no tensor %q", f.path, name)
	}
	shape, err := dst.shape("ReadInto")
	if err != nil {
		return err
	}
	if d, ok := DTypeFromCheckpoint(e.DType); !ok || d != dst.DType() || !sameShape(shape, e.Shape) {
		return errorf("ReadInto", CodeInvalid, "%s: %s is %s %v, the destination %v %v", f.path, name, e.DType, e.Shape, dst.DType(), shape)
	}
	return f.read(e, dst)
}

// read fills t, allocated for entry e, from the file.
func (f *SafetensorsFile) read(e checkpoint.SafetensorsEntry, t *Tensor) error {
	if f.f == nil {
		return errorf("ReadInto", CodeClosed, "%s was closed", f.path)
	}
	h, err := t.handle("ReadInto")
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	var p unsafe.Pointer
	var n C.size_t
	if err := statusErr("ReadInto", C.torch_tensor_data(h, &p, &n)); err != nil {
		return err
	}
	if int64(n) != e.Size {
		return errorf("ReadInto", CodeInternal, "%s: %s: tensor holds %d bytes, the file %d", f.path, e.Name, n, e.Size)
	}
	if n == 0 {
		return nil
	}
	// The destination is LibTorch's memory, not Go's: the read writes it directly.
	if _, err := f.f.ReadAt(unsafe.Slice((*byte)(p), int(n)), e.Offset); err != nil {
		return fmt.Errorf("torch: %s: %s: %w", f.path, e.Name, err)
	}
	return nil
}

// Close closes the file. It is idempotent.
func (f *SafetensorsFile) Close() error {
	if f == nil || f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SaveTensors writes tensors atomically as a state dict: .safetensors by extension, otherwise
// the torch.save zip format (an OrderedDict that torch.load reads back).
func SaveTensors(path string, ts []Named) error { return SaveTensorsMeta(path, ts, nil) }

// SaveTensorsMeta is SaveTensors with string metadata, which only the safetensors format can
// carry: with metadata every path is written as safetensors (e.g. .csad model files).
func SaveTensorsMeta(path string, ts []Named, meta map[string]string) error {
	raw := make([]checkpoint.Named, 0, len(ts))
	for _, n := range ts {
		c, err := ToCheckpoint(n.Tensor)
		if err != nil {
			return fmt.Errorf("torch: save %s: %s: %w", path, n.Name, err)
		}
		raw = append(raw, checkpoint.Named{Name: n.Name, Tensor: c})
	}
	if meta != nil || isSafetensors(path) {
		return checkpoint.SaveSafetensors(path, raw, meta)
	}
	d := &checkpoint.Dict{}
	for _, n := range raw {
		d.Set(n.Name, n.Tensor)
	}
	return checkpoint.SaveFile(path, d)
}

func isSafetensors(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".safetensors")
}

// isSafetensorsFile decides by content: a safetensors file is an 8-byte little-endian header
// length followed by the JSON header's '{'; torch.save files are zip archives ("PK") or, in the
// legacy format, start with a pickle opcode (0x80). The '{' decides, not the first byte: a
// header length's low byte is 0x80 in one file out of 256. So .csad and other extensions load.
func isSafetensorsFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return isSafetensors(path)
	}
	defer f.Close()
	var head [9]byte
	n, _ := io.ReadFull(f, head[:])
	switch {
	case n == len(head) && head[8] == '{':
		return true
	case n >= 2 && (string(head[:2]) == "PK" || head[0] == 0x80):
		return false
	}
	return isSafetensors(path)
}
