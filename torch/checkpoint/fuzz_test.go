package checkpoint

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the three parsers: Load (zip container and all), the
// pickle stage on its own (mutated zips rarely get past the CRC check, so the pickle needs its
// own entry point) with the storages of views.pt available, and the safetensors parser. None
// may panic, hang or allocate far beyond the input.
func FuzzLoad(f *testing.F) {
	old := expandLimit
	expandLimit = 1 << 20
	f.Cleanup(func() { expandLimit = old })

	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.pt"))
	if err != nil {
		f.Fatal(err)
	}
	st, err := filepath.Glob(filepath.Join(fixtureDir, "*.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 || len(st) == 0 {
		f.Fatalf("no seed fixtures in %s (%d .pt, %d .safetensors): run testdata/gen_checkpoint_fixtures.py", fixtureDir, len(files), len(st))
	}
	for _, name := range append(files, st...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err == nil {
			for _, zf := range zr.File {
				if filepath.Base(zf.Name) == "data.pkl" {
					rc, err := zf.Open()
					if err != nil {
						f.Fatalf("%s: %v", name, err)
					}
					pkl, err := io.ReadAll(rc)
					if cerr := rc.Close(); err == nil {
						err = cerr
					}
					if err != nil {
						f.Fatalf("%s: %v", name, err)
					}
					f.Add(pkl)
				}
			}
		}
	}
	f.Add(tensorPickle("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{1, 2}))
	f.Add([]byte("\x80\x02]q\x00h\x00a."))

	views, err := os.ReadFile(filepath.Join(fixtureDir, "views.pt"))
	if err != nil {
		f.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(views), int64(len(views)))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := Load(bytes.NewReader(data), int64(len(data))); err == nil {
			checkTree(t, v, 0, map[any]bool{})
		}
		// Storage keys "0" and "1" of views.pt resolve under the prefix "views/".
		l := &loader{records: map[string]*zip.File{}, prefix: "views/", size: int64(len(views)), storages: map[string]*storage{}}
		for _, zf := range zr.File {
			l.records[zf.Name] = zf
		}
		if v, err := l.unpickle(data); err == nil {
			checkTree(t, v, 0, map[any]bool{})
		}
		if ts, _, err := parseSafetensors(data); err == nil {
			for _, n := range ts {
				if err := n.Tensor.Validate(); err != nil {
					t.Fatalf("parsed tensor %q is invalid: %v", n.Name, err)
				}
			}
		}
	})
}

// checkTree asserts that a loaded value holds only the documented types and valid tensors.
// Shared subtrees are checked once, keyed by the dict pointer or a slice's first element, so
// a pickle that references one container many times cannot make the check exponential.
func checkTree(t *testing.T, v any, depth int, seen map[any]bool) {
	if depth > maxDepth+1 {
		t.Fatal("tree deeper than maxDepth")
	}
	var id any
	switch x := v.(type) {
	case *Dict:
		id = x
	case List:
		if len(x) > 0 {
			id = &x[0]
		}
	case Tuple:
		if len(x) > 0 {
			id = &x[0]
		}
	}
	if id != nil {
		if seen[id] {
			return
		}
		seen[id] = true
	}
	switch x := v.(type) {
	case *Tensor:
		if err := x.Validate(); err != nil {
			t.Fatalf("loaded an invalid tensor: %v", err)
		}
	case *Dict:
		for _, e := range x.Entries {
			switch e.Key.(type) {
			case string, int64:
			default:
				t.Fatalf("dict key of type %T", e.Key)
			}
			checkTree(t, e.Value, depth+1, seen)
		}
	case List:
		for _, e := range x {
			checkTree(t, e, depth+1, seen)
		}
	case Tuple:
		for _, e := range x {
			checkTree(t, e, depth+1, seen)
		}
	case nil, string, int64, float64, bool, []byte:
	default:
		t.Fatalf("loaded a value of type %T", v)
	}
}
