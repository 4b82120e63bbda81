package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// maxDepth bounds container nesting. Real checkpoints nest a handful of levels; the bound keeps
// a hostile pickle from recursing without end.
const maxDepth = 1000

// expandLimit is how many bytes Load will materialise beyond the storages it read, across all
// tensors of one file. Views with zero strides (expand) or many overlapping views of one storage
// can otherwise describe far more data than the file holds. A variable so tests can lower it.
var expandLimit int64 = 1 << 30

// Load reads a checkpoint written by torch.save in the zip format of PyTorch 1.6 and later.
// It returns the pickled value with tensors as *Tensor, dicts (plain and OrderedDict) as
// *Dict, lists as List, tuples as Tuple and the scalars as string, int64, float64, bool, nil
// and []byte. No pickle code is executed: only the globals torch.save uses for tensors and
// containers are recognised, and any other is an error naming it.
func Load(r io.ReaderAt, size int64) (any, error) {
	v, err := load(r, size)
	if err != nil {
		return nil, &Error{Op: "load", Err: err}
	}
	return v, nil
}

// LoadFile is Load for a file; errors name the file.
func LoadFile(path string) (any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Op: "load", Path: path, Err: unwrapPathError(err)}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Op: "load", Path: path, Err: unwrapPathError(err)}
	}
	v, err := load(f, st.Size())
	if err != nil {
		return nil, &Error{Op: "load", Path: path, Err: err}
	}
	return v, nil
}

// unwrapPathError drops the *os.PathError layer so the path is not named twice.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var (
	zipMagic      = []byte("PK\x03\x04")
	emptyZipMagic = []byte("PK\x05\x06")
)

func load(r io.ReaderAt, size int64) (any, error) {
	var head [16]byte
	n, err := r.ReadAt(head[:], 0)
	if n < len(head) && n < int(size) && err != nil {
		return nil, err
	}
	hb := head[:min(n, int(max(size, 0)))]
	switch {
	case bytes.HasPrefix(hb, zipMagic), bytes.HasPrefix(hb, emptyZipMagic):
	case len(hb) >= 2 && hb[0] == 0x80 && hb[1] <= 5:
		return nil, errors.New("legacy (pre-1.6, non-zip) torch.save format is not supported; " +
			"re-save it with torch.save in PyTorch 1.6 or later")
	case len(hb) >= 9 && hb[8] == '{' && binary.LittleEndian.Uint64(hb) < uint64(size):
		return nil, errors.New("not a torch.save zip archive; this looks like safetensors, use LoadSafetensors")
	case len(hb) == 0:
		return nil, errors.New("empty file is not a torch.save checkpoint")
	default:
		return nil, fmt.Errorf("not a torch.save zip archive (starts with %q, want %q)", hb[:min(len(hb), 4)], zipMagic)
	}

	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("corrupt or truncated zip archive: %w", err)
	}
	l := &loader{records: map[string]*zip.File{}, size: size, storages: map[string]*storage{}}
	for _, f := range zr.File {
		if _, dup := l.records[f.Name]; !dup {
			l.records[f.Name] = f
		}
		if l.prefix == "" {
			if dir, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && dir != "" && !strings.Contains(dir, "/") {
				l.prefix = dir + "/"
			}
		}
	}
	if l.prefix == "" {
		return nil, errors.New("zip archive has no <archive>/data.pkl record; not a torch.save checkpoint")
	}
	if l.records[l.prefix+"constants.pkl"] != nil || l.records[l.prefix+"code/"] != nil || l.hasDir(l.prefix+"code/") {
		return nil, errors.New("this is a TorchScript archive (torch.jit.save); only torch.save checkpoints can be loaded")
	}

	ver, ok := l.records[l.prefix+"version"]
	if !ok {
		// PyTorch refuses archives without a version record as well.
		return nil, fmt.Errorf("missing record %sversion", l.prefix)
	}
	vb, err := l.read(ver, -1, 64)
	if err != nil {
		return nil, err
	}
	if v, err := strconv.Atoi(strings.TrimSpace(string(vb))); err != nil || v < 1 || v > 10 {
		return nil, fmt.Errorf("unsupported archive version %q", strings.TrimSpace(string(vb)))
	}
	if bo, ok := l.records[l.prefix+"byteorder"]; ok {
		b, err := l.read(bo, -1, 64)
		if err != nil {
			return nil, err
		}
		switch s := strings.TrimSpace(string(b)); s {
		case "little":
		case "big":
			return nil, errors.New("big-endian checkpoints are not supported; re-save it on a little-endian machine")
		default:
			return nil, fmt.Errorf("unknown byteorder %q", s)
		}
	}

	pkl, err := l.read(l.records[l.prefix+"data.pkl"], -1, -1)
	if err != nil {
		return nil, err
	}
	return l.unpickle(pkl)
}

// unpickle rebuilds the value of data.pkl, reading storages from the loader's records.
func (l *loader) unpickle(pkl []byte) (any, error) {
	if err := scanPickle(pkl); err != nil {
		return nil, err
	}
	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = l.findClass
	u.PersistentLoad = l.persistentLoad
	raw, err := u.Load()
	if err != nil {
		return nil, err
	}
	c := converter{done: map[any]any{}, busy: map[any]bool{}}
	return c.convert(raw, 0)
}

type loader struct {
	records  map[string]*zip.File
	prefix   string
	size     int64
	storages map[string]*storage
	// storageBytes and expanded track the materialisation budget (see expandLimit).
	storageBytes int64
	expanded     int64
}

func (l *loader) hasDir(dir string) bool {
	for name := range l.records {
		if strings.HasPrefix(name, dir) {
			return true
		}
	}
	return false
}

// read returns a record's bytes. want is the exact length the caller expects (-1 for any),
// limit an upper bound (-1 for none). Lengths are checked against the file size before any
// allocation, so a forged header cannot make Load allocate more than the file could hold.
func (l *loader) read(f *zip.File, want, limit int64) ([]byte, error) {
	n := f.UncompressedSize64
	if want >= 0 && n != uint64(want) {
		return nil, fmt.Errorf("record %s holds %d bytes, want %d", f.Name, n, want)
	}
	if limit >= 0 && n > uint64(limit) {
		return nil, fmt.Errorf("record %s is too large (%d bytes)", f.Name, n)
	}
	switch f.Method {
	case zip.Store:
		if n > uint64(l.size) {
			return nil, fmt.Errorf("record %s claims %d bytes, more than the %d-byte file", f.Name, n, l.size)
		}
	case zip.Deflate:
		// Deflate cannot expand by more than about 1032:1.
		if n/1032 > f.CompressedSize64+1 || f.CompressedSize64 > uint64(l.size) {
			return nil, fmt.Errorf("record %s claims an impossible size", f.Name)
		}
	default:
		return nil, fmt.Errorf("record %s uses unsupported zip compression method %d", f.Name, f.Method)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, truncated(err))
	}
	// Reading to EOF lets archive/zip verify the CRC-32.
	var one [1]byte
	if m, err := rc.Read(one[:]); m != 0 || (err != nil && err != io.EOF) {
		if err == nil {
			err = errors.New("longer than its header says")
		}
		return nil, fmt.Errorf("record %s: %w", f.Name, truncated(err))
	}
	return buf, nil
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("truncated")
	}
	return err
}

// Values the unpickler sees for the allowlisted globals.
type (
	storageClass struct{ dtype DType }
	sizeClass    struct{}
	rebuildFunc  struct {
		name string
		l    *loader
	}
	storage struct {
		dtype DType
		key   string
		numel int64
		data  []byte
	}
)

func (sizeClass) Call(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("torch.Size takes 1 argument, got %d", len(args))
	}
	t, ok := args[0].(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("torch.Size argument is %T, want a tuple", args[0])
	}
	out := append(types.Tuple(nil), *t...)
	return &out, nil
}

func (l *loader) findClass(module, name string) (any, error) {
	if !allowedGlobals[module+" "+name] {
		return nil, &UnsupportedGlobalError{Module: module, Name: name}
	}
	switch {
	case module == "torch" && name == "Size":
		return sizeClass{}, nil
	case module == "torch":
		d, ok := dtypeFromStorage(name)
		if !ok {
			return nil, &UnsupportedGlobalError{Module: module, Name: name}
		}
		return &storageClass{dtype: d}, nil
	case module == "torch._utils":
		return &rebuildFunc{name: name, l: l}, nil
	}
	// collections.OrderedDict is resolved inside gopickle.
	return nil, &UnsupportedGlobalError{Module: module, Name: name}
}

// persistentLoad resolves ('storage', torch.XStorage, key, location, numel) to the record
// <archive>/data/<key>. Storages are shared by key, as tensor views share them in PyTorch.
func (l *loader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || len(*t) < 5 {
		return nil, fmt.Errorf("unsupported persistent id %s", describeRaw(pid))
	}
	if s, isStr := (*t)[0].(string); !isStr || s != "storage" {
		return nil, fmt.Errorf("unsupported persistent id of kind %s", describeRaw((*t)[0]))
	}
	cls, ok := (*t)[1].(*storageClass)
	if !ok {
		return nil, fmt.Errorf("persistent id has storage type %s, want a torch storage class", describeRaw((*t)[1]))
	}
	key, ok := (*t)[2].(string)
	if !ok {
		return nil, fmt.Errorf("persistent id has storage key %s, want a string", describeRaw((*t)[2]))
	}
	if _, ok := (*t)[3].(string); !ok {
		return nil, fmt.Errorf("persistent id has location %s, want a string", describeRaw((*t)[3]))
	}
	numel, ok := (*t)[4].(int)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("persistent id has storage size %s, want a non-negative int", describeRaw((*t)[4]))
	}
	if s, ok := l.storages[key]; ok {
		if s.dtype != cls.dtype || s.numel != int64(numel) {
			return nil, fmt.Errorf("storage %s is used as %d×%s and as %d×%s", key, s.numel, s.dtype, numel, cls.dtype)
		}
		return s, nil
	}
	name := l.prefix + "data/" + key
	f, ok := l.records[name]
	if !ok {
		return nil, fmt.Errorf("missing data record %s", name)
	}
	hi, nbytes := bits.Mul64(uint64(numel), uint64(cls.dtype.Size()))
	if hi != 0 || nbytes > uint64(l.size)*1100 {
		return nil, fmt.Errorf("storage %s of %d elements cannot fit in the file", key, numel)
	}
	data, err := l.read(f, int64(nbytes), -1)
	if err != nil {
		return nil, err
	}
	s := &storage{dtype: cls.dtype, key: key, numel: int64(numel), data: data}
	l.storages[key] = s
	l.storageBytes += int64(nbytes)
	return s, nil
}

func (f *rebuildFunc) Call(args ...any) (any, error) {
	switch f.name {
	case "_rebuild_tensor", "_rebuild_tensor_v2":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		want := 4
		if f.name == "_rebuild_tensor_v2" {
			want = 6
		}
		if len(args) < want || len(args) > want+1 {
			return nil, fmt.Errorf("%s takes %d arguments, got %d", f.name, want, len(args))
		}
		st, ok := args[0].(*storage)
		if !ok {
			return nil, fmt.Errorf("%s: storage is %s", f.name, describeRaw(args[0]))
		}
		off, ok := args[1].(int)
		if !ok || off < 0 {
			return nil, fmt.Errorf("%s: storage offset is %s", f.name, describeRaw(args[1]))
		}
		shape, err := intTuple(args[2], "size")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		stride, err := intTuple(args[3], "stride")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		t, err := f.l.materialise(st, int64(off), shape, stride)
		if err != nil {
			return nil, err
		}
		if want == 6 {
			rg, ok := args[4].(bool)
			if !ok {
				return nil, fmt.Errorf("%s: requires_grad is %s", f.name, describeRaw(args[4]))
			}
			t.RequiresGrad = rg
		}
		return t, nil
	case "_rebuild_parameter", "_rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]); the state holds Python attributes of
		// a Parameter subclass, which have no meaning here.
		want := 3
		if f.name == "_rebuild_parameter_with_state" {
			want = 4
		}
		if len(args) != want {
			return nil, fmt.Errorf("%s takes %d arguments, got %d", f.name, want, len(args))
		}
		t, ok := args[0].(*Tensor)
		if !ok {
			return nil, fmt.Errorf("%s: data is %s, want a tensor", f.name, describeRaw(args[0]))
		}
		rg, ok := args[1].(bool)
		if !ok {
			return nil, fmt.Errorf("%s: requires_grad is %s", f.name, describeRaw(args[1]))
		}
		p := *t
		p.RequiresGrad = rg
		return &p, nil
	}
	return nil, fmt.Errorf("unsupported function torch._utils.%s", f.name)
}

func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%s is %s, want a tuple of ints", what, describeRaw(v))
	}
	out := make([]int64, len(*t))
	for i, x := range *t {
		n, ok := x.(int)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%s[%d] is %s, want a non-negative int", what, i, describeRaw(x))
		}
		out[i] = int64(n)
	}
	return out, nil
}

// materialise copies the elements a (size, stride, offset) view selects from a storage into a
// new contiguous buffer, checking first that every index lies inside the storage.
func (l *loader) materialise(st *storage, off int64, shape, stride []int64) (*Tensor, error) {
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("tensor has %d sizes but %d strides", len(shape), len(stride))
	}
	n, ok := numel(shape)
	if !ok {
		return nil, fmt.Errorf("tensor size %v overflows", shape)
	}
	es := int64(st.dtype.Size())
	t := &Tensor{DType: st.dtype, Shape: shape}
	if n == 0 {
		t.Data = []byte{}
		return t, nil
	}
	// The last element's index is off + Σ (size-1)*stride; all others are smaller.
	last := uint64(off)
	for i := range shape {
		hi, lo := bits.Mul64(uint64(shape[i]-1), uint64(stride[i]))
		var carry uint64
		last, carry = bits.Add64(last, lo, 0)
		if hi != 0 || carry != 0 || last > 1<<62 {
			return nil, fmt.Errorf("tensor view (size %v, stride %v, offset %d) overflows", shape, stride, off)
		}
	}
	if last >= uint64(st.numel) {
		return nil, fmt.Errorf("tensor view (size %v, stride %v, offset %d) reaches element %d of storage %s, which has %d",
			shape, stride, off, last, st.key, st.numel)
	}
	hi, nbytes := bits.Mul64(uint64(n), uint64(es))
	if hi != 0 || nbytes > 1<<62 {
		return nil, fmt.Errorf("tensor size %v overflows", shape)
	}
	l.expanded += int64(nbytes)
	if l.expanded > 4*l.storageBytes+expandLimit {
		return nil, fmt.Errorf("tensors would take %d bytes from %d bytes of storage; refusing to expand past %d bytes",
			l.expanded, l.storageBytes, 4*l.storageBytes+expandLimit)
	}
	t.Data = make([]byte, nbytes)
	if contiguous(shape, stride) {
		copy(t.Data, st.data[off*es:off*es+int64(nbytes)])
		return t, nil
	}
	// Walk the index odometer, copying runs along the innermost dimension in one go when it is
	// dense (the common transposed-matrix case still needs element copies).
	nd := len(shape)
	inner := shape[nd-1]
	innerStride := stride[nd-1]
	idx := make([]int64, nd)
	src := off
	dst := int64(0)
	for {
		if innerStride == 1 {
			copy(t.Data[dst*es:(dst+inner)*es], st.data[src*es:(src+inner)*es])
		} else {
			s := src
			for j := int64(0); j < inner; j++ {
				copy(t.Data[(dst+j)*es:(dst+j+1)*es], st.data[s*es:(s+1)*es])
				s += innerStride
			}
		}
		dst += inner
		// Advance the outer dimensions.
		d := nd - 2
		for ; d >= 0; d-- {
			idx[d]++
			src += stride[d]
			if idx[d] < shape[d] {
				break
			}
			src -= stride[d] * shape[d]
			idx[d] = 0
		}
		if d < 0 {
			return t, nil
		}
	}
}

// contiguous reports whether stride is the row-major stride of shape; dimensions of size 1
// may carry any stride.
func contiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// converter turns gopickle's values into this package's. Shared sub-objects (the pickle memo)
// are converted once and stay shared, so a hostile pickle of nested references cannot make
// conversion exponential; a container that contains itself is an error.
type converter struct {
	done map[any]any
	busy map[any]bool
}

func (c *converter) convert(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("containers nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil, string, float64, bool, []byte, *Tensor:
		return v, nil
	case int:
		return int64(x), nil
	case *big.Int:
		return nil, fmt.Errorf("integer %s does not fit in int64", x)
	case *types.List, *types.Tuple, *types.Dict, *types.OrderedDict:
		if r, ok := c.done[v]; ok {
			return r, nil
		}
		if c.busy[v] {
			return nil, errors.New("pickle contains a container that includes itself")
		}
		c.busy[v] = true
		r, err := c.convertContainer(v, depth)
		if err != nil {
			return nil, err
		}
		delete(c.busy, v)
		c.done[v] = r
		return r, nil
	case *storage:
		return nil, errors.New("a bare storage (not wrapped in a tensor) cannot be loaded")
	case *storageClass, *rebuildFunc, sizeClass, *types.OrderedDictClass:
		return nil, fmt.Errorf("pickle leaves a class or function (%T) as a value", v)
	}
	return nil, fmt.Errorf("unsupported pickled value of type %T", v)
}

// convertItems converts the elements of a list or tuple.
func (c *converter) convertItems(items []any, depth int) ([]any, error) {
	out := make([]any, len(items))
	for i, e := range items {
		ce, err := c.convert(e, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = ce
	}
	return out, nil
}

func (c *converter) convertContainer(v any, depth int) (any, error) {
	switch x := v.(type) {
	case *types.List:
		out, err := c.convertItems(*x, depth)
		return List(out), err
	case *types.Tuple:
		out, err := c.convertItems(*x, depth)
		return Tuple(out), err
	case *types.Dict:
		d := &Dict{}
		pos := map[any]int{}
		for _, e := range *x {
			if err := c.addEntry(d, pos, e.Key, e.Value, depth); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *types.OrderedDict:
		d := &Dict{Entries: make([]Entry, 0, x.Len())}
		pos := map[any]int{}
		for el := x.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			if err := c.addEntry(d, pos, e.Key, e.Value, depth); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	return nil, fmt.Errorf("unsupported container %T", v)
}

// addEntry follows Python: a repeated key keeps its first position and takes the last value.
func (c *converter) addEntry(d *Dict, pos map[any]int, k, v any, depth int) error {
	var key any
	switch kk := k.(type) {
	case string:
		key = kk
	case int:
		key = int64(kk)
	default:
		return fmt.Errorf("dict key is %s; only str and int keys are supported", describeRaw(k))
	}
	val, err := c.convert(v, depth+1)
	if err != nil {
		return fmt.Errorf("key %v: %w", key, err)
	}
	if i, ok := pos[key]; ok {
		d.Entries[i].Value = val
		return nil
	}
	pos[key] = len(d.Entries)
	d.Entries = append(d.Entries, Entry{Key: key, Value: val})
	return nil
}

// describeRaw names a gopickle value's kind for error messages.
func describeRaw(v any) string {
	switch x := v.(type) {
	case int:
		return fmt.Sprintf("int %d", x)
	case *types.Tuple:
		return fmt.Sprintf("tuple of length %d", len(*x))
	case *types.List:
		return fmt.Sprintf("list of length %d", len(*x))
	case *types.Dict, *types.OrderedDict:
		return "dict"
	case *storage:
		return "storage"
	case *storageClass:
		return "storage class"
	case *Tensor:
		return "tensor"
	}
	return describe(v)
}
