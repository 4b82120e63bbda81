package checkpoint

import (
	"fmt"
	"math/bits"
	"strconv"
)

// Tensor is a dense CPU tensor detached from any runtime: the element type, the shape and the
// elements in contiguous row-major, little-endian order.
type Tensor struct {
	DType DType
	Shape []int64
	// Data holds Numel()*DType.Size() bytes.
	Data []byte
	// RequiresGrad records the flag torch.save stored (true for nn.Parameter).
	RequiresGrad bool
}

// Numel is the number of elements, the product of Shape (1 for a scalar).
// It returns -1 when a dimension is negative or the product overflows int64.
func (t *Tensor) Numel() int64 {
	n, ok := numel(t.Shape)
	if !ok {
		return -1
	}
	return n
}

// Validate reports whether the dtype is known and Data has exactly the length the shape needs.
func (t *Tensor) Validate() error {
	if t == nil {
		return fmt.Errorf("nil tensor")
	}
	if !t.DType.Valid() {
		return fmt.Errorf("unsupported dtype %q", string(t.DType))
	}
	n, ok := numel(t.Shape)
	if !ok {
		return fmt.Errorf("invalid shape %v", t.Shape)
	}
	hi, lo := bits.Mul64(uint64(n), uint64(t.DType.Size()))
	if hi != 0 || lo != uint64(len(t.Data)) {
		return fmt.Errorf("tensor of shape %v and dtype %s needs %d elements but has %d bytes of data",
			t.Shape, t.DType, n, len(t.Data))
	}
	return nil
}

// numel multiplies the dimensions, refusing negative ones and overflow past int64.
func numel(shape []int64) (int64, bool) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > 1<<63-1 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// Dict is an ordered dictionary. Loading yields one for both collections.OrderedDict and the
// plain dict, because Python dicts keep insertion order too and state dicts depend on it.
// Keys are string or int64 (optimizer state dicts key their per-parameter state by index).
type Dict struct{ Entries []Entry }

// Entry is one key/value pair of a Dict.
type Entry struct{ Key, Value any }

// Get returns the value stored under key. An int key matches an int64 one.
func (d *Dict) Get(key any) (any, bool) {
	if d == nil {
		return nil, false
	}
	if k, ok := key.(int); ok {
		key = int64(k)
	}
	for _, e := range d.Entries {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// Set replaces the value under key in place, or appends a new entry, the way Python's
// d[key] = value keeps an existing key's position.
func (d *Dict) Set(key, value any) {
	if k, ok := key.(int); ok {
		key = int64(k)
	}
	for i, e := range d.Entries {
		if e.Key == key {
			d.Entries[i].Value = value
			return
		}
	}
	d.Entries = append(d.Entries, Entry{Key: key, Value: value})
}

// Len is the number of entries.
func (d *Dict) Len() int {
	if d == nil {
		return 0
	}
	return len(d.Entries)
}

// List is a Python list.
type List []any

// Tuple is a Python tuple.
type Tuple []any

// Named is a tensor with its dotted state-dict name.
type Named struct {
	Name   string
	Tensor *Tensor
}

// Flatten turns nested dicts of tensors into dotted names in dict order, the way
// nn.Module.state_dict names parameters ("encoder.layer1.0.conv1.weight"). Any other leaf,
// including an int64 scalar such as a training step counter, is an error naming its key: a
// state dict stores even BatchNorm's num_batches_tracked as a tensor, so a bare number means
// the value is not a state dict and silently dropping it would hide that.
func Flatten(v any) ([]Named, error) {
	f := &flattener{seen: map[string]bool{}}
	if err := f.walk(v, "", 0); err != nil {
		return nil, err
	}
	return f.out, nil
}

// maxFlattenEntries bounds the work of Flatten: a loaded pickle may reference one dict from
// many places, and a chain of such references describes exponentially many names.
const maxFlattenEntries = 1 << 24

type flattener struct {
	out     []Named
	seen    map[string]bool
	entries int
}

func (f *flattener) walk(v any, prefix string, depth int) error {
	seen, out := f.seen, &f.out
	if depth > maxDepth {
		return fmt.Errorf("checkpoint: flatten %q: nesting deeper than %d levels", prefix, maxDepth)
	}
	switch x := v.(type) {
	case *Tensor:
		if prefix == "" {
			return fmt.Errorf("checkpoint: flatten: a bare tensor has no name; wrap it in a Dict")
		}
		if x == nil {
			return fmt.Errorf("checkpoint: flatten %q: nil tensor", prefix)
		}
		if seen[prefix] {
			return fmt.Errorf("checkpoint: flatten: duplicate name %q", prefix)
		}
		seen[prefix] = true
		*out = append(*out, Named{Name: prefix, Tensor: x})
		return nil
	case *Dict:
		if x == nil {
			return fmt.Errorf("checkpoint: flatten %q: nil dict", prefix)
		}
		f.entries += len(x.Entries)
		if f.entries > maxFlattenEntries {
			return fmt.Errorf("checkpoint: flatten: more than %d entries (dicts shared many times?)", maxFlattenEntries)
		}
		for _, e := range x.Entries {
			var k string
			switch kk := e.Key.(type) {
			case string:
				k = kk
			case int64:
				k = strconv.FormatInt(kk, 10)
			case int:
				k = strconv.Itoa(kk)
			default:
				return fmt.Errorf("checkpoint: flatten %q: unsupported key type %T", prefix, e.Key)
			}
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			if err := f.walk(e.Value, name, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if prefix == "" {
		return fmt.Errorf("checkpoint: flatten: top-level value is %s, not a dict of tensors", describe(v))
	}
	return fmt.Errorf("checkpoint: flatten %q: value is %s, not a tensor or dict", prefix, describe(v))
}

// describe names a value's kind in error messages without dumping large contents.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case int64:
		return fmt.Sprintf("int %d", x)
	case int:
		return fmt.Sprintf("int %d", x)
	case float64:
		return fmt.Sprintf("float %g", x)
	case bool:
		return fmt.Sprintf("bool %t", x)
	case string:
		return fmt.Sprintf("str %q", x)
	case []byte:
		return fmt.Sprintf("bytes of length %d", len(x))
	case List:
		return fmt.Sprintf("list of length %d", len(x))
	case Tuple:
		return fmt.Sprintf("tuple of length %d", len(x))
	}
	return fmt.Sprintf("%T", v)
}
