package torch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
// PyTorch checkpoints).
func LoadTensorsMeta(s *Scope, path string) ([]Named, map[string]string, error) {
	var raw []checkpoint.Named
	var meta map[string]string
	if isSafetensorsFile(path) {
		r, m, err := checkpoint.LoadSafetensors(path)
		if err != nil {
			return nil, nil, err
		}
		raw, meta = r, m
	} else {
		v, err := checkpoint.LoadFile(path)
		if err != nil {
			return nil, nil, err
		}
		if raw, err = checkpoint.Flatten(v); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
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
	return out, meta, nil
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
