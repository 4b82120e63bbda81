package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tensorPickle is a pickle of _rebuild_tensor_v2 over one storage record, as torch.save
// writes it, with every field under the test's control.
func tensorPickle(storageClass, key string, numel, off int64, size, stride []int64) []byte {
	p := &pickler{}
	p.buf.WriteString("\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((")
	p.str("storage")
	p.buf.WriteString("ctorch\n" + storageClass + "\n")
	p.str(key)
	p.str("cpu")
	p.int(numel)
	p.buf.WriteString("tQ")
	p.int(off)
	for _, dims := range [][]int64{size, stride} {
		p.buf.WriteByte('(')
		for _, d := range dims {
			p.int(d)
		}
		p.buf.WriteByte('t')
	}
	p.buf.WriteString("\x89ccollections\nOrderedDict\n)RtR.")
	return p.buf.Bytes()
}

// archive builds a torch.save-style zip from a pickle and extra records; a nil value drops
// the record.
func archive(t *testing.T, pkl []byte, extra map[string][]byte) []byte {
	t.Helper()
	recs := map[string][]byte{"archive/data.pkl": pkl, "archive/version": []byte("3\n")}
	for k, v := range extra {
		recs[k] = v
	}
	var list []record
	for _, name := range []string{"archive/data.pkl", "archive/byteorder", "archive/version"} {
		if recs[name] != nil {
			list = append(list, record{name, recs[name]})
		}
		delete(recs, name)
	}
	for name, data := range recs {
		if data != nil {
			list = append(list, record{name, data})
		}
	}
	var buf bytes.Buffer
	if err := writeZip(&buf, list); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func loadBytes(b []byte) (any, error) { return Load(bytes.NewReader(b), int64(len(b))) }

func TestLoadMalformed(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixtureDir, "state_dict.pt"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(good)
	// The first data record's payload starts on a 64-byte boundary after its local header.
	i := bytes.Index(corrupt, []byte("state_dict/data/0")) + len("state_dict/data/0")
	i = (i + 4 + 63) / 64 * 64
	corrupt[i+3] ^= 0xff

	f32 := make([]byte, 16)
	selfList := []byte("\x80\x02]q\x00h\x00a.") // l = []; l.append(l)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"wrong magic", []byte("GIF89a this is not it"), `not a torch.save zip archive (starts with "GIF8"`},
		{"legacy", []byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."), "legacy (pre-1.6, non-zip) torch.save format"},
		{"safetensors", append(binary.LittleEndian.AppendUint64(nil, 2), "{}"...), "use LoadSafetensors"},
		{"truncated zip", good[:len(good)/2], "corrupt or truncated zip archive"},
		{"truncated to magic", good[:4], "corrupt or truncated zip archive"},
		{"corrupt data", corrupt, "checksum error"},
		{"no data.pkl", archive(t, nil, map[string][]byte{"archive/other": {1}}), "no <archive>/data.pkl record"},
		{"no version", archive(t, []byte("\x80\x02N."), map[string][]byte{"archive/version": nil}), "missing record archive/version"},
		{"bad version", archive(t, []byte("\x80\x02N."), map[string][]byte{"archive/version": []byte("x")}), `unsupported archive version "x"`},
		{"big endian", archive(t, []byte("\x80\x02N."), map[string][]byte{"archive/byteorder": []byte("big")}), "big-endian checkpoints are not supported"},
		{"torchscript", archive(t, []byte("\x80\x02N."), map[string][]byte{"archive/constants.pkl": []byte("\x80\x02)."), "archive/code/m.py": []byte("x")}), "TorchScript archive"},
		{"unknown global", archive(t, []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."), nil),
			"checkpoint: load: pickle uses unsupported global os.system; only tensors and plain containers can be loaded"},
		{"stack global", archive(t, []byte("\x80\x04\x8c\x08builtins\x8c\x04eval\x93."), nil), "unsupported global builtins.eval"},
		{"gopickle builtin", archive(t, []byte("\x80\x02c__builtin__\nobject\n)\x81."), nil), "unsupported global __builtin__.object"},
		{"missing record", archive(t, tensorPickle("FloatStorage", "0", 4, 0, []int64{4}, []int64{1}), nil), "missing data record archive/data/0"},
		{"record size", archive(t, tensorPickle("FloatStorage", "0", 5, 0, []int64{4}, []int64{1}), map[string][]byte{"archive/data/0": f32}),
			"record archive/data/0 holds 16 bytes, want 20"},
		{"view past storage", archive(t, tensorPickle("FloatStorage", "0", 4, 0, []int64{3, 3}, []int64{3, 1}), map[string][]byte{"archive/data/0": f32}),
			"reaches element 8 of storage 0, which has 4"},
		{"offset past storage", archive(t, tensorPickle("FloatStorage", "0", 4, 2, []int64{1, 3}, []int64{3, 1}), map[string][]byte{"archive/data/0": f32}),
			"reaches element 4 of storage 0, which has 4"},
		{"stride overflow", archive(t, tensorPickle("FloatStorage", "0", 4, 0, []int64{3, 2}, []int64{1 << 62, 1}), map[string][]byte{"archive/data/0": f32}),
			"overflows"},
		{"rank mismatch", archive(t, tensorPickle("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{1}), map[string][]byte{"archive/data/0": f32}),
			"2 sizes but 1 strides"},
		{"odd setitems", archive(t, []byte("\x80\x02}(K\x01u."), nil), "odd number of dict items"},
		{"bytes key", archive(t, []byte("\x80\x02ccollections\nOrderedDict\n)RC\x01aK\x01s."), nil), "bytes used as a dict key"},
		{"empty long1", archive(t, []byte("\x80\x02\x8a\x00."), nil), "empty LONG1"},
		{"huge length", archive(t, []byte("\x80\x02X\xff\xff\xff\x7f."), nil), "pickle truncated"},
		{"unknown opcode", archive(t, []byte("\x80\x02\xff."), nil), "unknown opcode 0xff"},
		{"no stop", archive(t, []byte("\x80\x02N"), nil), "no STOP opcode"},
		{"memo miss", archive(t, []byte("\x80\x02h\x05."), nil), "memo entry 5 read before it was written"},
		{"cycle", archive(t, selfList, nil), "includes itself"},
		{"set", archive(t, []byte("\x80\x04\x8f."), nil), "pickle contains a set"},
		{"float key", archive(t, []byte("\x80\x02}G\x3f\xf0\x00\x00\x00\x00\x00\x00K\x01s."), nil), "only str and int keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadBytes(tc.data)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestUnsupportedGlobalIs(t *testing.T) {
	_, err := loadBytes(archive(t, []byte("\x80\x02c__main__\nNet\n)\x81."), nil))
	if !errors.Is(err, ErrUnsupportedGlobal) {
		t.Fatalf("errors.Is(%v, ErrUnsupportedGlobal) = false", err)
	}
	var ug *UnsupportedGlobalError
	if !errors.As(err, &ug) || ug.Module != "__main__" || ug.Name != "Net" {
		t.Fatalf("errors.As gave %+v", ug)
	}
}

func TestLoadFileNamesPath(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pt")
	if _, err := LoadFile(missing); err == nil || err.Error() != "checkpoint: load "+missing+": no such file or directory" {
		t.Fatalf("LoadFile(missing) = %v", err)
	}
	bad := filepath.Join(dir, "bad.pt")
	if err := os.WriteFile(bad, []byte("garbage!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); err == nil || !strings.HasPrefix(err.Error(), "checkpoint: load "+bad+": not a torch.save zip archive") {
		t.Fatalf("LoadFile(bad) = %v", err)
	}
	if _, _, err := LoadSafetensors(bad); err == nil || !strings.HasPrefix(err.Error(), "checkpoint: load safetensors "+bad+": ") {
		t.Fatalf("LoadSafetensors(bad) = %v", err)
	}
}

// PyTorch 2.x writes parameters with extra state through _rebuild_parameter_with_state and
// may wrap sizes in torch.Size; 1.13 cannot produce these, so the pickle is written by hand.
func TestLoadParameterWithState(t *testing.T) {
	p := &pickler{}
	p.buf.WriteString("\x80\x02ctorch._utils\n_rebuild_parameter_with_state\n(") // MARK of the 4 arguments
	p.buf.WriteString("ctorch._utils\n_rebuild_tensor_v2\n((")
	p.str("storage")
	p.buf.WriteString("ctorch\nHalfStorage\n")
	p.str("0")
	p.str("cuda:0")
	p.int(2)
	p.buf.WriteString("tQ")                         // persistent id
	p.int(0)                                        // storage offset
	p.buf.WriteString("ctorch\nSize\n(K\x02t\x85R") // torch.Size((2,))
	p.buf.WriteString("K\x01\x85")                  // stride (1,)
	p.buf.WriteString("\x89ccollections\nOrderedDict\n)RtR")
	p.buf.WriteString("\x88ccollections\nOrderedDict\n)R}tR.") // requires_grad, hooks, state
	v, err := loadBytes(archive(t, p.buf.Bytes(), map[string][]byte{"archive/data/0": {0x00, 0x3c, 0x00, 0xc0}}))
	if err != nil {
		t.Fatal(err)
	}
	tt := v.(*Tensor)
	if tt.DType != Float16 || !tt.RequiresGrad || len(tt.Shape) != 1 || tt.Shape[0] != 2 || !bytes.Equal(tt.Data, []byte{0x00, 0x3c, 0x00, 0xc0}) {
		t.Fatalf("got %+v", tt)
	}
}

func TestLoadExpandLimit(t *testing.T) {
	old := expandLimit
	expandLimit = 1 << 10
	defer func() { expandLimit = old }()
	one := make([]byte, 4)
	ok := archive(t, tensorPickle("FloatStorage", "0", 1, 0, []int64{8, 8}, []int64{0, 0}), map[string][]byte{"archive/data/0": one})
	if _, err := loadBytes(ok); err != nil {
		t.Fatalf("small expanded tensor: %v", err)
	}
	huge := archive(t, tensorPickle("FloatStorage", "0", 1, 0, []int64{1 << 20, 1 << 20}, []int64{0, 0}), map[string][]byte{"archive/data/0": one})
	if _, err := loadBytes(huge); err == nil || !strings.Contains(err.Error(), "refusing to expand") {
		t.Fatalf("huge expanded tensor: %v", err)
	}
}

func TestParseSafetensorsMalformed(t *testing.T) {
	st := func(header string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		return append(append(b, header...), make([]byte, data)...)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{1, 2}, "too short"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "header length 1000 exceeds the 2 bytes after it"},
		{"header huge", append(binary.LittleEndian.AppendUint64(nil, 1<<63), "{}"...), "exceeds the 2 bytes"},
		{"not json", st("[1,2]", 0), "header is not a JSON object"},
		{"broken json", st(`{"a":{"dtype":"F32",`, 0), "invalid header entry"},
		{"trailing", st(`{} {}`, 0), "trailing data"},
		{"bad dtype", st(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, 1), `unsupported dtype "F8_E4M3"`},
		{"no shape", st(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, 1), "has no shape"},
		{"negative shape", st(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}`, 1), "invalid shape"},
		{"offsets count", st(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}`, 1), "must hold 2 numbers"},
		{"offsets past end", st(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, 4), "outside the 4-byte data section"},
		{"offsets reversed", st(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}`, 4), "outside"},
		{"size mismatch", st(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "needs 2 elements, data_offsets span 4 bytes"},
		{"gap", st(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), "starts at byte 1 of the data section, want 0"},
		{"overlap", st(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), "gap or overlap"},
		{"leftover", st(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 2), "data section has 2 bytes, tensors cover 1"},
		{"duplicate", st(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), `"a" appears twice`},
		{"bad metadata", st(`{"__metadata__":{"a":1}}`, 0), "__metadata__ must map strings to strings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseSafetensors(tc.data)
			if err == nil {
				t.Fatalf("ParseSafetensors succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			// The header-only reader makes the same checks without the data in memory.
			_, err = ReadSafetensorsHeader(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err == nil {
				t.Fatalf("ReadSafetensorsHeader succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadSafetensorsHeader: error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestSaveRejects(t *testing.T) {
	bad := &Tensor{DType: Float32, Shape: []int64{3}, Data: make([]byte, 8)}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{bad, "needs 3 elements but has 8 bytes"},
		{&Tensor{DType: "complex64", Shape: []int64{}, Data: nil}, `unsupported dtype "complex64"`},
		{[]byte("x"), "[]byte values cannot be saved"},
		{map[string]any{}, "cannot save a value of type map[string]interface {}"},
		{&Dict{Entries: []Entry{{1.5, nil}}}, "dict key of type float64"},
		{&Dict{Entries: []Entry{{"a", nil}, {"a", nil}}}, `duplicate dict key a`},
		{"\xff", "not valid UTF-8"},
		{uint64(1 << 63), "does not fit in int64"},
	} {
		var buf bytes.Buffer
		if err := Save(&buf, tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Save(%T) = %v, want an error containing %q", tc.v, err, tc.want)
		}
	}
	if err := WriteSafetensors(&bytes.Buffer{}, []Named{{"__metadata__", &Tensor{DType: Uint8, Shape: []int64{}, Data: []byte{1}}}}, nil); err == nil {
		t.Error("WriteSafetensors accepted the reserved name __metadata__")
	}
}

// A pickle may reference one container from many places; 60 levels of doubling describe 2^60
// leaves but must load in linear time, with the sharing kept.
func TestLoadSharedContainersLinear(t *testing.T) {
	pkl := []byte("\x80\x02]q\x00")
	for i := 1; i <= 60; i++ {
		pkl = append(pkl, '(', 'h', byte(i-1), 'h', byte(i-1), 'l', 'q', byte(i))
	}
	pkl = append(pkl, '.')
	v, err := loadBytes(archive(t, pkl, nil))
	if err != nil {
		t.Fatal(err)
	}
	l := v.(List)
	if len(l) != 2 || &l[0].(List)[0] != &l[1].(List)[0] {
		t.Fatal("shared list was not kept shared")
	}
}

// PyTorch writes records stored, but its reader also accepts deflated ones, so a checkpoint
// re-zipped by another tool must still load.
func TestLoadDeflated(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(fixtureDir, "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(f.Name) // Create deflates
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := loadBytes(orig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := loadBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeJSON(t, got), encodeJSON(t, want)) {
		t.Fatal("deflated copy loads differently")
	}
}
