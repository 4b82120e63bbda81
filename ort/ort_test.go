package ort

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fixturePath = "../testdata/ort/fixture.onnx"

type jsonTensor struct {
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

type expectedFile struct {
	Inputs   map[string]jsonTensor `json:"inputs"`
	Outputs  map[string]jsonTensor `json:"outputs"`
	Metadata map[string]string     `json:"metadata"`
}

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	require.NoError(t, err, "regenerate with /usr/bin/python3 testdata/gen_ort_fixture.py")
	return b
}

func readExpected(t testing.TB) expectedFile {
	t.Helper()
	b, err := os.ReadFile("../testdata/ort/fixture_expected.json")
	require.NoError(t, err)
	var e expectedFile
	require.NoError(t, json.Unmarshal(b, &e))
	return e
}

func newFixtureSession(t testing.TB, opts Options) *Session {
	t.Helper()
	s, err := NewSession(readFixture(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func ints[T int32 | int64](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// fixtureInputs builds a batch of n from the JSON's batch-2 input (sample i%2), the shifts
// shift0+i and offset.
func fixtureInputs(e expectedFile, n int, shift0 int32, offset int64) map[string]Tensor {
	x := f32s(e.Inputs["input"].Data)
	per := len(x) / 2
	in := make([]float32, 0, n*per)
	shift := make([]int32, n)
	for i := range n {
		in = append(in, x[(i%2)*per:(i%2+1)*per]...)
		shift[i] = shift0 + int32(i)
	}
	return map[string]Tensor{
		"input":  {Shape: []int64{int64(n), 3, 4, 4}, Float32: in},
		"shift":  {Shape: []int64{int64(n)}, Int32: shift},
		"offset": {Shape: []int64{}, Int64: []int64{offset}},
	}
}

func TestSessionInfosAndMetadata(t *testing.T) {
	s := newFixtureSession(t, Options{Threads: 1})
	assert.Equal(t, []Info{
		{Name: "input", DType: Float32, Shape: []int64{-1, 3, 4, 4}},
		{Name: "shift", DType: Int32, Shape: []int64{-1}},
		{Name: "offset", DType: Int64, Shape: []int64{}},
	}, s.Inputs())
	assert.Equal(t, []Info{
		{Name: "features", DType: Float32, Shape: []int64{-1, 2, 4, 4}},
		{Name: "label", DType: Int64, Shape: []int64{-1, 4, 4}},
		{Name: "label32", DType: Int32, Shape: []int64{-1, 4, 4}},
		{Name: "total", DType: Float32, Shape: []int64{}},
	}, s.Outputs())
	assert.Equal(t, readExpected(t).Metadata, s.Metadata())
	assert.Equal(t, []decl{{true, []string{"batch", "", "", ""}}, {true, []string{"batch"}}, {true, nil}}, s.inDecl)
	// Callers get copies: scribbling on them must not change the session.
	s.Inputs()[0].Shape[1] = 99
	s.Metadata()["csad.kind"] = "x"
	assert.Equal(t, int64(3), s.Inputs()[0].Shape[1])
	assert.Equal(t, "ort-fixture", s.Metadata()["csad.kind"])
	v, err := Version()
	require.NoError(t, err)
	assert.Equal(t, LibraryVersion, v, "the library at %s", LibraryPath())
}

// The NumPy outputs of gen_ort_fixture.py, bitwise: all values are exact in float32 (see the
// script), so any summation order gives the same bits.
func TestRunMatchesNumPy(t *testing.T) {
	e := readExpected(t)
	for _, threads := range []int{0, 1, 2} {
		t.Run("threads="+strconv.Itoa(threads), func(t *testing.T) {
			s := newFixtureSession(t, Options{Threads: threads})
			got, err := s.Run(map[string]Tensor{
				"input":  {Shape: e.Inputs["input"].Shape, Float32: f32s(e.Inputs["input"].Data)},
				"shift":  {Shape: e.Inputs["shift"].Shape, Int32: ints[int32](e.Inputs["shift"].Data)},
				"offset": {Shape: e.Inputs["offset"].Shape, Int64: ints[int64](e.Inputs["offset"].Data)},
			})
			require.NoError(t, err)
			require.Len(t, got, 4)
			want := e.Outputs
			assert.Equal(t, Tensor{Shape: want["features"].Shape, Float32: f32s(want["features"].Data)}, got["features"])
			assert.Equal(t, Tensor{Shape: want["label"].Shape, Int64: ints[int64](want["label"].Data)}, got["label"])
			assert.Equal(t, Tensor{Shape: want["label32"].Shape, Int32: ints[int32](want["label32"].Data)}, got["label32"])
			assert.Equal(t, Tensor{Shape: []int64{}, Float32: f32s(want["total"].Data)}, got["total"])
		})
	}
}

// The batch axis is dynamic: outputs follow the input's batch, including an empty batch.
func TestRunDynamicBatch(t *testing.T) {
	e := readExpected(t)
	s := newFixtureSession(t, Options{Threads: 1})
	want := f32s(e.Outputs["features"].Data)
	per := len(want) / 2
	for _, n := range []int{0, 1, 2, 5} {
		got, err := s.Run(fixtureInputs(e, n, 7, -3))
		require.NoError(t, err)
		// Exactly one slice is set, even when it is empty.
		assert.Equal(t, []bool{true, false, false}, []bool{got["features"].Float32 != nil, got["features"].Int32 != nil, got["features"].Int64 != nil})
		assert.Equal(t, []bool{false, false, true}, []bool{got["label"].Float32 != nil, got["label"].Int32 != nil, got["label"].Int64 != nil})
		assert.Len(t, got["total"].Float32, 1)
		require.Equal(t, []int64{int64(n), 2, 4, 4}, got["features"].Shape)
		require.Equal(t, []int64{int64(n), 4, 4}, got["label"].Shape)
		for i := range n {
			assert.Equal(t, want[(i%2)*per:(i%2+1)*per], got["features"].Float32[i*per:(i+1)*per], "sample %d of %d", i, n)
			lab := got["label"].Int64[i*16 : (i+1)*16]
			wantLab := ints[int64](e.Outputs["label"].Data)[(i%2)*16 : (i%2+1)*16]
			for j := range lab {
				// the JSON's labels carry shift 0 or 10 and offset 100
				assert.Equal(t, wantLab[j]-int64(10*(i%2))-100+int64(7+i)-3, lab[j])
			}
		}
	}
}

func TestRunRejectsBadInputs(t *testing.T) {
	e := readExpected(t)
	s := newFixtureSession(t, Options{Threads: 1})
	good := func() map[string]Tensor { return fixtureInputs(e, 2, 0, 0) }
	with := func(name string, t Tensor) map[string]Tensor {
		in := good()
		in[name] = t
		return in
	}
	without := func(name string) map[string]Tensor {
		in := good()
		delete(in, name)
		return in
	}
	x := good()["input"].Float32
	cases := []struct {
		name   string
		inputs map[string]Tensor
		want   string
	}{
		{"fixed dim", with("input", Tensor{Shape: []int64{1, 3, 5, 4}, Float32: make([]float32, 60)}),
			`ort: input "input" has shape [1 3 5 4], the model wants [batch 3 4 4]`},
		{"rank", with("input", Tensor{Shape: []int64{6, 4, 4}, Float32: x}),
			`ort: input "input" has shape [6 4 4], the model wants [batch 3 4 4]`},
		{"scalar rank", with("offset", Tensor{Shape: []int64{1}, Int64: []int64{1}}),
			`ort: input "offset" has shape [1], the model wants []`},
		{"dtype", with("input", Tensor{Shape: []int64{2, 3, 4, 4}, Int64: make([]int64, 96)}),
			`ort: input "input" is int64 data, the model wants float32`},
		{"int dtype", with("shift", Tensor{Shape: []int64{2}, Int64: []int64{1, 2}}),
			`ort: input "shift" is int64 data, the model wants int32`},
		{"unknown name", with("imput", Tensor{Shape: []int64{1}, Float32: []float32{1}}),
			`ort: unknown input "imput"; the model's inputs are "input", "shift", "offset"`},
		{"missing", without("shift"),
			`ort: input "shift" is missing; the model's inputs are "input", "shift", "offset"`},
		{"no inputs", nil,
			`ort: input "input" is missing; the model's inputs are "input", "shift", "offset"`},
		{"short data", with("input", Tensor{Shape: []int64{2, 3, 4, 4}, Float32: x[:95]}),
			`ort: input "input" has shape [2 3 4 4] (96 elements) but 95 values`},
		{"two slices", with("shift", Tensor{Shape: []int64{2}, Int32: []int32{1, 2}, Int64: []int64{1, 2}}),
			`ort: input "shift" sets 2 of Float32, Int32, Int64; set exactly one`},
		{"negative dim", with("input", Tensor{Shape: []int64{-2, 3, 4, 4}, Float32: x}),
			`ort: input "input" has shape [-2 3 4 4] with negative dim -2 at axis 0`},
		{"batch mismatch", with("shift", Tensor{Shape: []int64{3}, Int32: []int32{1, 2, 3}}),
			`ort: input "shift" has shape [3], so batch is 3, but input "input" has batch 2`},
		{"overflow", with("input", Tensor{Shape: []int64{math.MaxInt64 / 8, 3, 4, 4}, Float32: x}),
			`ort: input "input" has shape [1152921504606846975 3 4 4], whose element count overflows int64`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Run(c.inputs)
			require.EqualError(t, err, c.want)
			assert.Nil(t, got)
		})
	}
	// The session is unharmed by all that.
	_, err := s.Run(good())
	require.NoError(t, err)
}

func TestNewSessionRejectsBadModels(t *testing.T) {
	model := readFixture(t)
	cases := []struct {
		name  string
		model []byte
		want  string
	}{
		{"truncated", model[:len(model)/2], "ort: ONNX Runtime cannot load the 464-byte model (truncated or not an .onnx file?)"},
		{"garbage", []byte("this is not an onnx model at all \x00\xff\xfe"), "ort: ONNX Runtime cannot load the 36-byte model"},
		{"empty", []byte{}, "ort: the model is empty (0 bytes); pass the contents of an .onnx file"},
		{"nil", nil, "ort: the model is empty (0 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSession(c.model, Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Nil(t, s)
		})
	}
	_, err := NewSession(model, Options{Threads: -1})
	require.EqualError(t, err, "ort: Options.Threads is -1; use 0 for ONNX Runtime's default or a positive count")
}

func TestFloat16(t *testing.T) {
	in, err := os.ReadFile("../testdata/ort/fp16_in.onnx")
	require.NoError(t, err)
	s, err := NewSession(in, Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	assert.Equal(t, []Info{{Name: "x", DType: Float16, Shape: []int64{2}}}, s.Inputs())
	assert.Equal(t, map[string]string{}, s.Metadata(), "a model without metadata_props")
	got, err := s.Run(map[string]Tensor{"x": {Shape: []int64{2}, Float32: []float32{0.1, -70000}}})
	require.NoError(t, err)
	// 0.1 rounds to float16 0x2e66 = 0.0999755859375; -70000 is beyond float16's range.
	assert.Equal(t, Tensor{Shape: []int64{2}, Float32: []float32{0.0999755859375, float32(math.Inf(-1))}}, got["y"])
	_, err = s.Run(map[string]Tensor{"x": {Shape: []int64{2}, Int32: []int32{1, 2}}})
	require.EqualError(t, err, `ort: input "x" is int32 data, the model wants float16 (pass float16 inputs as Tensor.Float32; they are rounded to float16)`)

	out, err := os.ReadFile("../testdata/ort/fp16_out.onnx")
	require.NoError(t, err)
	s2, err := NewSession(out, Options{})
	require.EqualError(t, err, `ort: output "y" is float16, which this package cannot return; end the graph with a Cast to float32 (inputs may stay float16)`)
	assert.Nil(t, s2)
}

func float16ToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(mant, -24)
	case 0x1f:
		if mant != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(1024+mant, exp-25)
}

// Every float16 value converts back exactly, and every midpoint between neighbours (exact in
// float32) rounds to the one with an even mantissa.
func TestFloat32ToFloat16(t *testing.T) {
	for h := range uint32(0x10000) {
		f := float16ToFloat64(uint16(h))
		if math.IsNaN(f) {
			assert.True(t, math.IsNaN(float16ToFloat64(float32ToFloat16(float32(f)))))
			continue
		}
		require.Equal(t, uint16(h), float32ToFloat16(float32(f)), "%#04x (%g)", h, f)
		if h&0x7fff >= 0x7bff { // the largest finite and up: no finite neighbour above
			continue
		}
		next := float16ToFloat64(uint16(h + 1))
		mid := (f + next) / 2
		wantEven := uint16(h)
		if h&1 == 1 {
			wantEven = uint16(h + 1)
		}
		require.Equal(t, wantEven, float32ToFloat16(float32(mid)), "midpoint above %#04x", h)
		require.Equal(t, uint16(h), float32ToFloat16(math.Nextafter32(float32(mid), float32(f))), "just below the midpoint above %#04x", h)
		require.Equal(t, uint16(h+1), float32ToFloat16(math.Nextafter32(float32(mid), float32(next))), "just above the midpoint above %#04x", h)
	}
	assert.Equal(t, uint16(0x7c00), float32ToFloat16(65520))         // rounds up to Inf
	assert.Equal(t, uint16(0x7bff), float32ToFloat16(65519.99))      // stays the largest finite
	assert.Equal(t, uint16(0x8000), float32ToFloat16(-1e-10))        // underflows to -0
	assert.Equal(t, uint16(0x0001), float32ToFloat16(float32(6e-8))) // the smallest subnormal
}

// Init's failures, each in a fresh process (the environment is process-wide): a missing file, a
// file that is no library, a directory. Every error names the path, `make setup` and ORT_LIB; a
// second Init fails the same way; NewSession returns the same error; nothing panics.
func TestInitBadLibrary(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "libonnxruntime.so.1")
	require.NoError(t, os.WriteFile(text, []byte("not an ELF file\n"), 0o644))
	libm := "/lib/x86_64-linux-gnu/libm.so.6"
	if _, err := os.Stat(libm); err != nil {
		libm = "/usr/lib64/libm.so.6"
	}
	cases := []struct {
		name, lib, want string
	}{
		{"missing", filepath.Join(dir, "nope", "libonnxruntime.so.1"), "not found (no such file)"},
		{"not a library", text, "(" + text + ": file too short)"},
		{"directory", dir, "is a directory, not a shared library"},
		{"not onnx runtime", libm, "is a shared library but not ONNX Runtime (it has no OrtGetApiBase)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=1", "ORT_LIB="+c.lib)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			require.Len(t, lines, 3, "%s", out)
			msg := strings.TrimPrefix(lines[0], "init: ")
			assert.True(t, strings.HasPrefix(msg, "ort: "), msg)
			assert.Contains(t, msg, "ONNX Runtime library "+c.lib+" ")
			assert.Contains(t, msg, c.want)
			assert.Contains(t, msg, "run `make setup`")
			assert.Contains(t, msg, "set ORT_LIB")
			assert.Equal(t, lines[0], lines[1], "the retry")
			assert.Equal(t, "session: "+msg, lines[2])
		})
	}
}

func TestLibraryPath(t *testing.T) {
	t.Setenv("ORT_LIB", "/opt/ort/libonnxruntime.so")
	assert.Equal(t, "/opt/ort/libonnxruntime.so", LibraryPath())
	t.Setenv("ORT_LIB", "")
	t.Setenv("XDG_CACHE_HOME", "/var/cache/x")
	assert.Equal(t, "/var/cache/x/csad-go/onnxruntime-1.30.0/libonnxruntime.so.1", LibraryPath())
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	assert.Equal(t, "/home/u/.cache/csad-go/onnxruntime-1.30.0/libonnxruntime.so.1", LibraryPath())
}

// 16 goroutines share one session, each with its own batch size and shift, and check their own
// answers (under -race in make test-race).
func TestConcurrentRuns(t *testing.T) {
	e := readExpected(t)
	s := newFixtureSession(t, Options{Threads: 1})
	want := f32s(e.Outputs["features"].Data)
	per := len(want) / 2
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			n := 1 + g%4
			for r := range 20 {
				got, err := s.Run(fixtureInputs(e, n, int32(1000*g+r), int64(g)))
				if err != nil {
					errs <- err
					return
				}
				for i := range n {
					if fmt.Sprint(got["features"].Float32[i*per:(i+1)*per]) != fmt.Sprint(want[(i%2)*per:(i%2+1)*per]) {
						errs <- fmt.Errorf("goroutine %d run %d sample %d: wrong features", g, r, i)
						return
					}
					wl := int64(e.Outputs["label"].Data[(i%2)*16]) - int64(10*(i%2)) - 100 + int64(1000*g+r+i) + int64(g)
					if got["label"].Int64[i*16] != wl || got["label32"].Int32[i*16] != int32(wl) {
						errs <- fmt.Errorf("goroutine %d run %d sample %d: label %d/%d, want %d", g, r, i, got["label"].Int64[i*16], got["label32"].Int32[i*16], wl)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCloseIdempotentAndRunAfterClose(t *testing.T) {
	e := readExpected(t)
	s, err := NewSession(readFixture(t), Options{Threads: 1})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	got, err := s.Run(fixtureInputs(e, 1, 0, 0))
	require.ErrorIs(t, err, ErrClosed)
	assert.Nil(t, got)
	// Infos and metadata stay readable: they are Go copies.
	assert.Len(t, s.Inputs(), 3)
	var nilSession *Session
	_, err = nilSession.Run(nil)
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, nilSession.Close())
}

// Close while 8 goroutines run: each run either completes with the right answer or reports
// ErrClosed; none sees a freed session (which would crash or fail differently).
func TestCloseWaitsForRuns(t *testing.T) {
	e := readExpected(t)
	s, err := NewSession(readFixture(t), Options{Threads: 1})
	require.NoError(t, err)
	want := e.Outputs["total"].Data[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, closed := 0, 0
	start := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			<-start
			for range 50 {
				got, err := s.Run(fixtureInputs(e, 2, 0, 0))
				mu.Lock()
				switch {
				case errors.Is(err, ErrClosed):
					closed++
				case err != nil:
					t.Errorf("run: %v", err)
				case float64(got["total"].Float32[0]) != want:
					t.Errorf("total %v, want %v", got["total"].Float32[0], want)
				default:
					ok++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	for {
		mu.Lock()
		n := ok
		mu.Unlock()
		if n >= 20 {
			break
		}
		runtime.Gosched()
	}
	require.NoError(t, s.Close())
	wg.Wait()
	assert.Equal(t, 400, ok+closed)
	assert.GreaterOrEqual(t, ok, 20)
	t.Logf("%d runs completed, %d saw ErrClosed", ok, closed)
}

func rssKiB(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			return v
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// 200 sessions (created, run twice, closed) and then 200 runs of batch 256 must leave RSS flat
// within 8 MiB of the state after a warm-up, and no native object counted alive. Sessions not
// closed grow RSS by about 170 KiB each (34 MiB over 200, measured); ORT-allocated outputs not
// released would grow it by 200 x 80 KiB = 16 MiB. An OrtValue header not destroyed is too small
// for RSS, which is what the live.values count is for.
func TestNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := readExpected(t)
	model := readFixture(t)
	small := fixtureInputs(e, 2, 0, 0)
	big := fixtureInputs(e, 256, 0, 0)
	cycle := func() {
		s, err := NewSession(model, Options{Threads: 1})
		require.NoError(t, err)
		for range 2 {
			_, err = s.Run(small)
			require.NoError(t, err)
		}
		require.NoError(t, s.Close())
	}
	for range 30 {
		cycle()
	}
	base := rssKiB(t)
	for range 200 {
		cycle()
	}
	afterSessions := rssKiB(t)
	s := newFixtureSession(t, Options{Threads: 1})
	for range 20 {
		_, err := s.Run(big)
		require.NoError(t, err)
	}
	baseRuns := rssKiB(t)
	for range 200 {
		_, err := s.Run(big)
		require.NoError(t, err)
	}
	afterRuns := rssKiB(t)
	t.Logf("RSS: %d KiB after warm-up, +%d KiB over 200 sessions; %d KiB before runs, +%d KiB over 200 runs",
		base, afterSessions-base, baseRuns, afterRuns-baseRuns)
	assert.Less(t, afterSessions-base, int64(8<<10), "200 sessions")
	assert.Equal(t, int64(1), live.sessions.Load(), "native sessions alive (the open one)")
	assert.Less(t, afterRuns-baseRuns, int64(8<<10), "200 runs")
	assert.Equal(t, int64(0), live.values.Load(), "native values alive")
}

// Failing runs free what they made too: inputs that pass the checks here (dynamic dims without
// names) but that ONNX Runtime cannot broadcast leave no native value alive.
func TestFailedRunFreesValues(t *testing.T) {
	model, err := os.ReadFile("../testdata/ort/add_unnamed.onnx")
	require.NoError(t, err)
	s, err := NewSession(model, Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	assert.Equal(t, []decl{{true, []string{""}}, {true, []string{""}}}, s.inDecl)
	before := live.values.Load()
	got, err := s.Run(map[string]Tensor{
		"a": {Shape: []int64{2}, Float32: []float32{1, 2}},
		"b": {Shape: []int64{3}, Float32: []float32{1, 2, 3}},
	})
	require.Error(t, err)
	assert.Nil(t, got)
	assert.Contains(t, err.Error(), "ort: running the model: ")
	assert.Contains(t, err.Error(), "broadcast")
	assert.Equal(t, before, live.values.Load())
	got, err = s.Run(map[string]Tensor{
		"a": {Shape: []int64{2}, Float32: []float32{1, 2}},
		"b": {Shape: []int64{2}, Float32: []float32{10, 20}},
	})
	require.NoError(t, err)
	assert.Equal(t, Tensor{Shape: []int64{2}, Float32: []float32{11, 22}}, got["c"])
	assert.Equal(t, before, live.values.Load())
}
