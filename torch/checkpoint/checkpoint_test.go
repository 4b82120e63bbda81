package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fixtureDir holds the files written by testdata/gen_checkpoint_fixtures.py.
const fixtureDir = "../../testdata/checkpoint"

// encode mirrors encode() in testdata/check_checkpoint.py, so Go and Python values compare as
// JSON: tensors by raw bytes, floats by bit pattern, ints as decimal strings.
func encode(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case *Tensor:
		shape := make([]any, len(x.Shape))
		for i, d := range x.Shape {
			shape[i] = d
		}
		return map[string]any{"tensor": map[string]any{
			"dtype": string(x.DType), "shape": shape, "requires_grad": x.RequiresGrad,
			"hex": hex.EncodeToString(x.Data),
		}}
	case *Dict:
		items := []any{}
		for _, e := range x.Entries {
			items = append(items, []any{e.Key, encode(t, e.Value)})
		}
		return map[string]any{"dict": items}
	case List:
		out := []any{}
		for _, e := range x {
			out = append(out, encode(t, e))
		}
		return map[string]any{"list": out}
	case Tuple:
		out := []any{}
		for _, e := range x {
			out = append(out, encode(t, e))
		}
		return map[string]any{"tuple": out}
	case nil, bool, string:
		return v
	case int64:
		return map[string]any{"int": strconv.FormatInt(x, 10)}
	case int:
		return map[string]any{"int": strconv.Itoa(x)}
	case float64:
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], math.Float64bits(x))
		return map[string]any{"float": hex.EncodeToString(b[:])}
	}
	t.Fatalf("cannot encode %T", v)
	return nil
}

// normalise round-trips through JSON so Go-built and file-read values have the same types.
func normalise(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func encodeJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(encode(t, v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 testdata/gen_checkpoint_fixtures.py)", err)
	}
	return b
}

func TestLoadFixtures(t *testing.T) {
	for _, name := range []string{"state_dict", "optimizer", "nested", "views", "dtypes"} {
		t.Run(name, func(t *testing.T) {
			v, err := LoadFile(filepath.Join(fixtureDir, name+".pt"))
			if err != nil {
				t.Fatal(err)
			}
			got := normalise(t, encodeJSON(t, v))
			want := normalise(t, readFixture(t, name+".json"))
			if !reflect.DeepEqual(got, want) {
				g, gerr := json.Marshal(got)
				w, werr := json.Marshal(want)
				t.Fatalf("values differ\n got: %s (%v)\nwant: %s (%v)", g, gerr, w, werr)
			}
		})
	}
}

func TestLoadStateDict(t *testing.T) {
	v, err := LoadFile(filepath.Join(fixtureDir, "state_dict.pt"))
	if err != nil {
		t.Fatal(err)
	}
	named, err := Flatten(v)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range named {
		names = append(names, n.Name+":"+string(n.Tensor.DType))
	}
	want := "conv1.weight:float32 conv1.bias:float32 bn1.weight:float32 bn1.bias:float32 " +
		"bn1.running_mean:float32 bn1.running_var:float32 bn1.num_batches_tracked:int64 fc.weight:float32 fc.bias:float32"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("names\n got: %s\nwant: %s", got, want)
	}
	nbt := named[6].Tensor
	if len(nbt.Shape) != 0 || binary.LittleEndian.Uint64(nbt.Data) != 1 {
		t.Fatalf("num_batches_tracked = %v %x, want scalar 1", nbt.Shape, nbt.Data)
	}
}

func TestLoadSharedStorage(t *testing.T) {
	v, err := LoadFile(filepath.Join(fixtureDir, "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := v.(*Dict)
	if !ok {
		t.Fatalf("views.pt holds a %T, want a dict", v)
	}
	base, ok1 := d.Get("base")
	same, ok2 := d.Get("same_object")
	bt, ok3 := base.(*Tensor)
	st, ok4 := same.(*Tensor)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		t.Fatalf("views.pt: base %T, same_object %T; want two tensors", base, same)
	}
	if bt != st {
		t.Error("a tensor pickled twice should load as one *Tensor")
	}
}

func TestLoadOptimizerIntKeys(t *testing.T) {
	v, err := LoadFile(filepath.Join(fixtureDir, "optimizer.pt"))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := v.(*Dict)
	if !ok {
		t.Fatalf("optimizer.pt holds a %T, want a dict", v)
	}
	sv, ok := d.Get("state")
	if !ok {
		t.Fatal("optimizer.pt has no state")
	}
	state, ok := sv.(*Dict)
	if !ok {
		t.Fatalf("state is a %T, want a dict", sv)
	}
	s0v, ok := state.Get(0) // int matches the int64 key
	if !ok {
		t.Fatal("state has no entry 0")
	}
	s0, ok := s0v.(*Dict)
	if !ok {
		t.Fatalf("state[0] is a %T, want a dict", s0v)
	}
	if _, ok := s0.Get("exp_avg"); !ok {
		t.Fatal("state[0] has no exp_avg")
	}
	if _, err := Flatten(v); err == nil || !strings.Contains(err.Error(), `"param_groups"`) {
		t.Fatalf("Flatten(optimizer state) = %v, want an error naming param_groups", err)
	}
}

func TestSafetensorsFixture(t *testing.T) {
	ts, meta, err := LoadSafetensors(filepath.Join(fixtureDir, "tensors.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var pairs []any
	for _, n := range ts {
		pairs = append(pairs, []any{n.Name, encode(t, n.Tensor)})
	}
	b, err := json.Marshal(map[string]any{"tensors": pairs, "metadata": meta})
	if err != nil {
		t.Fatal(err)
	}
	got := normalise(t, b)
	want := normalise(t, readFixture(t, "tensors.safetensors.json"))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("values differ\n got: %s\nwant: %s", b, readFixture(t, "tensors.safetensors.json"))
	}
}

// TestReadSafetensorsHeader checks that the header-only reader locates every tensor of the
// fixture where ParseSafetensors finds its bytes, with the same name, dtype, shape and order.
func TestReadSafetensorsHeader(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "tensors.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ts, meta, err := ParseSafetensors(raw)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadSafetensorsHeader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Metadata, meta) {
		t.Fatalf("metadata %v, ParseSafetensors %v", h.Metadata, meta)
	}
	if len(h.Tensors) != len(ts) || len(ts) == 0 {
		t.Fatalf("%d entries, ParseSafetensors found %d tensors", len(h.Tensors), len(ts))
	}
	for i, e := range h.Tensors {
		n := ts[i]
		got := raw[e.Offset : e.Offset+e.Size]
		if e.Name != n.Name || e.DType != n.Tensor.DType || !reflect.DeepEqual(e.Shape, n.Tensor.Shape) || !bytes.Equal(got, n.Tensor.Data) {
			t.Errorf("entry %d: %s %s %v at %d+%d, ParseSafetensors: %s %s %v (%d bytes)", i, e.Name, e.DType, e.Shape,
				e.Offset, e.Size, n.Name, n.Tensor.DType, n.Tensor.Shape, len(n.Tensor.Data))
		}
	}
	if _, err := ReadSafetensorsHeader(bytes.NewReader(raw[:len(raw)-1]), int64(len(raw)-1)); err == nil ||
		!strings.Contains(err.Error(), "-byte data section") {
		t.Fatalf("truncated file: %v, want the data section's size reported", err)
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	ts, meta, err := LoadSafetensors(filepath.Join(fixtureDir, "tensors.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.safetensors")
	if err := SaveSafetensors(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	ts2, meta2, err := LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ts, ts2) || !reflect.DeepEqual(meta, meta2) {
		t.Fatal("safetensors round trip changed the tensors")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(raw); (8+hl)%8 != 0 {
		t.Errorf("data section starts at %d, want 8-byte alignment", 8+hl)
	}
}

// sample builds a value with every kind Save supports; floats only if withFloats, because
// PyTorch 1.13's weights_only unpickler cannot read them.
func sample(withFloats bool) any {
	f32 := &Tensor{DType: Float32, Shape: []int64{2, 3}, Data: make([]byte, 24), RequiresGrad: true}
	for i := range 6 {
		binary.LittleEndian.PutUint32(f32.Data[4*i:], math.Float32bits(float32(i)-2.5))
	}
	i64 := &Tensor{DType: Int64, Shape: []int64{}, Data: binary.LittleEndian.AppendUint64(nil, 1<<40+3)}
	inner := &Dict{}
	inner.Set("weight", f32)
	inner.Set("num_batches_tracked", i64)
	inner.Set("empty", &Tensor{DType: BFloat16, Shape: []int64{0, 4}, Data: []byte{}})
	d := &Dict{}
	d.Set("model", inner)
	d.Set("tied", f32) // the same tensor twice: one storage
	d.Set(int64(3), "int key")
	d.Set("ints", List{int64(0), int64(255), int64(256), int64(65535), int64(65536), int64(-1),
		int64(math.MaxInt32), int64(math.MinInt32), int64(math.MaxInt32) + 1, int64(math.MinInt64), int64(math.MaxInt64)})
	d.Set("misc", Tuple{"héllo", true, false, nil, Tuple{}, Tuple{int64(1)}, Tuple{int64(1), int64(2), int64(3), int64(4)}, List{}})
	for _, dt := range []DType{Float64, Float16, Int32, Int16, Int8, Uint8, Bool} {
		data := make([]byte, 3*dt.Size())
		for i := range data {
			data[i] = byte(i*37+1) & 0x7f
		}
		if dt == Bool {
			data = []byte{1, 0, 1}
		}
		d.Set("dtype_"+string(dt), &Tensor{DType: dt, Shape: []int64{3}, Data: data})
	}
	if withFloats {
		d.Set("floats", List{0.1, -0.0, math.Inf(1), math.NaN(), 1e-300})
	}
	return d
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, withFloats := range []bool{false, true} {
		v := sample(withFloats)
		var buf bytes.Buffer
		if err := Save(&buf, v); err != nil {
			t.Fatal(err)
		}
		got, err := Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if g, w := encodeJSON(t, got), encodeJSON(t, v); !bytes.Equal(g, w) {
			t.Fatalf("round trip changed the value\n got: %s\nwant: %s", g, w)
		}
		// Data records start on 64-byte boundaries, as PyTorch writes them.
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			if off%64 != 0 {
				t.Errorf("%s data at offset %d, want a multiple of 64", f.Name, off)
			}
		}
	}
}

// TestTorchLoadsSavedFile checks Save against the reference reader, Python's torch.load.
func TestTorchLoadsSavedFile(t *testing.T) {
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import torch").CombinedOutput(); err != nil {
		t.Fatalf("%s with torch is needed for this test (run make setup to install python3-torch): %v\n%s", python, err, out)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		v    any
		args []string
	}{
		{"state.pt", sample(false), nil},
		// Python floats need BINFLOAT, which weights_only reads only from PyTorch 2 on.
		{"floats.pt", sample(true), []string{"--no-weights-only-before=2"}},
	} {
		path := filepath.Join(dir, tc.name)
		if err := SaveFile(path, tc.v); err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(want, encodeJSON(t, tc.v), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"../../testdata/check_checkpoint.py"}, tc.args...)
		out, err := exec.Command(python, append(args, path, want)...).CombinedOutput()
		if err != nil {
			t.Fatalf("torch.load of %s: %v\n%s", tc.name, err, out)
		}
		t.Logf("%s: %s", tc.name, bytes.TrimSpace(out))
	}
}

func TestFlatten(t *testing.T) {
	w := &Tensor{DType: Uint8, Shape: []int64{1}, Data: []byte{1}}
	layer := &Dict{}
	layer.Set(int64(0), &Dict{Entries: []Entry{{"weight", w}}})
	d := &Dict{Entries: []Entry{{"encoder", &Dict{Entries: []Entry{{"layers", layer}}}}, {"bias", w}}}
	named, err := Flatten(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(named) != 2 || named[0].Name != "encoder.layers.0.weight" || named[1].Name != "bias" {
		t.Fatalf("Flatten = %+v", named)
	}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{&Dict{Entries: []Entry{{"a", &Dict{Entries: []Entry{{"step", int64(3)}}}}}}, `flatten "a.step": value is int 3`},
		{&Dict{Entries: []Entry{{"a.b", w}, {"a", &Dict{Entries: []Entry{{"b", w}}}}}}, `duplicate name "a.b"`},
		{List{w}, "top-level value is list"},
		{w, "bare tensor"},
	} {
		if _, err := Flatten(tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Flatten(%v) error = %v, want it to contain %q", tc.v, err, tc.want)
		}
	}
}

func TestSaveFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.pt")
	if err := SaveFile(path, sample(true)); err != nil {
		t.Fatal(err)
	}
	// A failing save leaves the previous file alone and no temporary behind.
	err := SaveFile(path, &Dict{Entries: []Entry{{"bad", make(chan int)}}})
	if err == nil || !strings.Contains(err.Error(), "cannot save a value of type chan int") {
		t.Fatalf("SaveFile(chan) = %v", err)
	}
	if _, err := LoadFile(path); err != nil {
		t.Fatalf("previous checkpoint damaged: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only ckpt.pt", len(entries))
	}
}
