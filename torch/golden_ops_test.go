package torch_test

// Golden numerics tests: every case of testdata/golden/ops.safetensors (written by
// testdata/gen_golden.py with PyTorch) is replayed through the Go API and compared with PyTorch's
// outputs and gradients.
//
// Tolerance: BITWISE equality of dtype, shape and raw bytes, for outputs and gradients alike.
// The Go API calls the same ATen operators with the same arguments in the same LibTorch on the
// same CPU, and the test runs with the thread count the script recorded, so every kernel takes
// the same path and accumulates in the same order; a single differing bit is a wrapper bug (a
// wrong argument, default or overload). Failures report the max abs and max relative error to
// help tell a wrong argument (large error) from a different kernel path (last-bit error).
//
// Regenerate the file with: /usr/bin/python3 testdata/gen_golden.py

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/checkpoint"
	"github.com/csad-go/csad/torch/torchtest"
)

// goldenCase is one entry of the file's "cases" metadata.
type goldenCase struct {
	Name    string         `json:"name"`
	Op      string         `json:"op"`
	Params  map[string]any `json:"params"`
	Inputs  []string       `json:"inputs"`
	Grads   []string       `json:"grads"`
	Outputs int            `json:"outputs"`
}

type goldenOpsFile struct {
	cases   []*goldenCase
	tensors map[string]*checkpoint.Tensor
	threads int
	version string
}

var (
	goldenOnce sync.Once
	goldenData *goldenOpsFile
	goldenErr  error
)

// goldenOpsPath is made on this machine by testdata/gen_golden.py (torchtest.GoldenDir).
var goldenOpsPath string

// loadGoldenOps reads the file once for all tests.
func loadGoldenOps(t *testing.T) *goldenOpsFile {
	t.Helper()
	goldenOnce.Do(func() {
		goldenOpsPath = filepath.Join(torchtest.GoldenDir(t, "../testdata", "gen_golden.py"), "ops.safetensors")
		named, meta, err := checkpoint.LoadSafetensors(goldenOpsPath)
		if err != nil {
			goldenErr = err
			return
		}
		f := &goldenOpsFile{tensors: make(map[string]*checkpoint.Tensor, len(named)), version: meta["torch_version"]}
		for _, n := range named {
			f.tensors[n.Name] = n.Tensor
		}
		if f.threads, err = strconv.Atoi(meta["num_threads"]); err != nil {
			goldenErr = fmt.Errorf("metadata num_threads: %v", err)
			return
		}
		if err := json.Unmarshal([]byte(meta["cases"]), &f.cases); err != nil {
			goldenErr = fmt.Errorf("metadata cases: %v", err)
			return
		}
		goldenData = f
	})
	if goldenErr != nil {
		t.Fatalf("golden file %s: %v (regenerate with /usr/bin/python3 testdata/gen_golden.py)", goldenOpsPath, goldenErr)
	}
	return goldenData
}

func (f *goldenOpsFile) tensor(t *testing.T, name string) *checkpoint.Tensor {
	t.Helper()
	ct, ok := f.tensors[name]
	if !ok {
		t.Fatalf("golden file has no tensor %q", name)
	}
	return ct
}

// Parameter accessors. JSON numbers arrive as float64.

func (c *goldenCase) param(name string) any {
	v, ok := c.Params[name]
	if !ok {
		panic(fmt.Sprintf("case %s has no parameter %q", c.Name, name))
	}
	return v
}

func (c *goldenCase) f(name string) float64 { return c.param(name).(float64) }
func (c *goldenCase) i(name string) int64   { return int64(c.f(name)) }
func (c *goldenCase) b(name string) bool    { return c.param(name).(bool) }
func (c *goldenCase) s(name string) string  { return c.param(name).(string) }

// ints returns nil for a JSON null.
func (c *goldenCase) ints(name string) []int64 {
	v := c.param(name)
	if v == nil {
		return nil
	}
	var out []int64
	for _, e := range v.([]any) {
		out = append(out, int64(e.(float64)))
	}
	return out
}

func (c *goldenCase) pair(name string) [2]int64 {
	v := c.ints(name)
	return [2]int64{v[0], v[1]}
}

func (c *goldenCase) optI(name string) *int64 {
	if c.param(name) == nil {
		return nil
	}
	v := c.i(name)
	return &v
}

func (c *goldenCase) optF(name string) *float64 {
	if c.param(name) == nil {
		return nil
	}
	v := c.f(name)
	return &v
}

var goldenDTypes = map[checkpoint.DType]torch.DType{
	checkpoint.Float32: torch.Float32, checkpoint.Float64: torch.Float64, checkpoint.Int64: torch.Int64,
	checkpoint.Uint8: torch.Uint8, checkpoint.Bool: torch.Bool,
}

var goldenDTypeNames = map[string]torch.DType{
	"float32": torch.Float32, "float64": torch.Float64, "int64": torch.Int64, "uint8": torch.Uint8, "bool": torch.Bool,
}

func goldenTensor(t *testing.T, s *torch.Scope, ct *checkpoint.Tensor) *torch.Tensor {
	t.Helper()
	d, ok := goldenDTypes[ct.DType]
	if !ok {
		t.Fatalf("golden dtype %q has no mapping", ct.DType)
	}
	x := torch.FromBytes(s, ct.Data, d, ct.Shape...)
	if err := x.Err(); err != nil {
		t.Fatalf("FromBytes: %v", err)
	}
	return x
}

// goldenOp runs one case's operator on its inputs (keyed by input name; absent ones are nil) and
// returns its outputs in the order the script stored them.
type goldenOp func(s *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor

func one(t *torch.Tensor) []*torch.Tensor { return []*torch.Tensor{t} }

// runGoldenOps runs every case of the file whose op is in ops, one subtest each, and counts the
// bitwise comparisons.
func runGoldenOps(t *testing.T, ops map[string]goldenOp) {
	f := loadGoldenOps(t)
	// Python reports a pre-release suffix ("1.13.0a0") that LibTorch's version string lacks.
	if v := torch.Version(); !strings.HasPrefix(f.version, v) && !strings.HasPrefix(v, f.version) {
		t.Logf("golden file written by torch %s, running LibTorch %s", f.version, v)
	}
	n, compared := 0, 0
	for _, c := range f.cases {
		fn, ok := ops[c.Op]
		if !ok {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) { compared += runGoldenCase(t, f, c, fn) })
	}
	if n == 0 {
		t.Fatal("no golden cases for these operators")
	}
	t.Logf("%d cases, %d tensors compared bitwise", n, compared)
}

func runGoldenCase(t *testing.T, f *goldenOpsFile, c *goldenCase, fn goldenOp) int {
	// Use the script's thread count. With LibTorch's OpenMP backend the count is an OpenMP ICV of
	// the calling OS thread: set on one thread it does not reach an OS thread that LibTorch has
	// not initialised yet, where oneDNN kernels (conv2d's weight gradient, for one) then use every
	// CPU and sum in another order. So pin this subtest's goroutine and set the count on its
	// thread; the global value is restored afterwards.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := torch.NumThreads()
	torch.SetNumThreads(f.threads)
	defer torch.SetNumThreads(prev)

	s := torch.NewScope()
	defer s.Close()
	in := map[string]*torch.Tensor{}
	for _, name := range c.Inputs {
		x := goldenTensor(t, s, f.tensor(t, c.Name+"/in/"+name))
		if slices.Contains(c.Grads, name) {
			x.SetRequiresGrad(true)
		}
		in[name] = x
	}
	outs := fn(s, c, in)
	if len(outs) != c.Outputs {
		t.Fatalf("op returned %d outputs, golden file has %d", len(outs), c.Outputs)
	}
	compared := 0
	for i, o := range outs {
		if compareGolden(t, fmt.Sprintf("out/%d", i), o, f.tensor(t, fmt.Sprintf("%s/out/%d", c.Name, i))) {
			compared++
		}
	}
	if len(c.Grads) == 0 {
		return compared
	}
	g := goldenTensor(t, s, f.tensor(t, c.Name+"/g"))
	if err := outs[0].Mul(g).Sum().Backward(); err != nil {
		t.Fatalf("backward: %v", err)
	}
	for _, name := range c.Grads {
		gr, err := in[name].Grad(s)
		if err != nil || gr == nil {
			t.Errorf("grad/%s: none (err %v)", name, err)
			continue
		}
		if compareGolden(t, "grad/"+name, gr, f.tensor(t, c.Name+"/grad/"+name)) {
			compared++
		}
	}
	return compared
}

// compareGolden checks dtype, shape and raw bytes; it reports max abs/rel error on a mismatch.
func compareGolden(t *testing.T, what string, got *torch.Tensor, want *checkpoint.Tensor) bool {
	t.Helper()
	if err := got.Err(); err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	if wd := goldenDTypes[want.DType]; got.DType() != wd {
		t.Errorf("%s: dtype %v, want %v", what, got.DType(), wd)
		return false
	}
	if !slices.Equal(got.Shape(), want.Shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape)
		return false
	}
	b, err := got.Bytes()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	if slices.Equal(b, want.Data) {
		return true
	}
	gv, wv := goldenFloats(want.DType, b), goldenFloats(want.DType, want.Data)
	var maxAbs, maxRel float64
	first, diff := -1, 0
	for i := range gv {
		if math.Float64bits(gv[i]) == math.Float64bits(wv[i]) {
			continue
		}
		diff++
		if first < 0 {
			first = i
		}
		a := math.Abs(gv[i] - wv[i])
		maxAbs = max(maxAbs, a)
		if wv[i] != 0 {
			maxRel = max(maxRel, a/math.Abs(wv[i]))
		} else {
			maxRel = math.Inf(1)
		}
	}
	if first < 0 { // only the bytes of differently encoded equal values (e.g. NaN payloads)
		first = 0
	}
	t.Errorf("%s: not bitwise equal: %d of %d elements differ, max abs error %.3g, max rel error %.3g "+
		"(first at flat index %d: got %v, want %v)", what, diff, len(gv), maxAbs, maxRel, first, gv[first], wv[first])
	return false
}

func goldenFloats(d checkpoint.DType, b []byte) []float64 {
	var out []float64
	switch d {
	case checkpoint.Float32:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))))
		}
	case checkpoint.Float64:
		for i := 0; i+8 <= len(b); i += 8 {
			out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
		}
	case checkpoint.Int64:
		for i := 0; i+8 <= len(b); i += 8 {
			out = append(out, float64(int64(binary.LittleEndian.Uint64(b[i:]))))
		}
	default: // one byte per element
		for _, v := range b {
			out = append(out, float64(v))
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Operator tables, one per test.

var goldenNNOps = map[string]goldenOp{
	"conv2d": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Conv2d(in["w"], in["b"], torch.Conv2dOptions{Stride: c.pair("stride"),
			Padding: c.pair("padding"), Dilation: c.pair("dilation"), Groups: c.i("groups")}))
	},
	"batch_norm": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		y := in["x"].BatchNorm(in["rm"], in["rv"], in["w"], in["b"], c.b("training"), c.f("momentum"), c.f("eps"))
		// Training updates the running statistics in place; the script stores them as outputs.
		return []*torch.Tensor{y, in["rm"], in["rv"]}
	},
	"relu": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Relu())
	},
	"avg_pool2d": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].AvgPool2d(torch.PoolOptions{Kernel: c.pair("kernel"), Stride: c.pair("stride"),
			Padding: c.pair("padding"), CeilMode: c.b("ceil_mode"), ExcludePad: !c.b("count_include_pad")}))
	},
	"adaptive_avg_pool2d": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		sz := c.pair("size")
		return one(in["x"].AdaptiveAvgPool2d(sz[0], sz[1]))
	},
	"max_pool2d": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].MaxPool2d(torch.PoolOptions{Kernel: c.pair("kernel"), Stride: c.pair("stride"),
			Padding: c.pair("padding"), Dilation: c.pair("dilation"), CeilMode: c.b("ceil_mode")}))
	},
	"interpolate": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		sz := c.pair("size")
		mode := map[string]torch.InterpolateMode{"bilinear": torch.Bilinear, "nearest": torch.Nearest}[c.s("mode")]
		return one(in["x"].Interpolate(sz[0], sz[1], mode, c.b("align_corners")))
	},
	"pad": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		mode := map[string]torch.PadMode{"constant": torch.PadConstant, "reflect": torch.PadReflect,
			"replicate": torch.PadReplicate}[c.s("mode")]
		return one(in["x"].Pad(c.ints("pad"), mode, c.f("value")))
	},
	"dropout": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		if err := torch.ManualSeed(uint64(c.i("seed"))); err != nil {
			panic(err)
		}
		return one(in["x"].Dropout(c.f("p"), c.b("training")))
	},
	"linear": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Linear(in["w"], in["b"]))
	},
	"mse_loss": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].MSELoss(in["y"]))
	},
	"softmax": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Softmax(c.i("dim")))
	},
	"log_softmax": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].LogSoftmax(c.i("dim")))
	},
	"one_hot": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["idx"].OneHot(c.i("num_classes")))
	},
	"sigmoid": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Sigmoid())
	},
}

func unaryOp(f func(*torch.Tensor) *torch.Tensor) goldenOp {
	return func(_ *torch.Scope, _ *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(f(in["x"]))
	}
}

func binaryOp(f func(a, b *torch.Tensor) *torch.Tensor) goldenOp {
	return func(_ *torch.Scope, _ *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(f(in["a"], in["b"]))
	}
}

func scalarOp(f func(a *torch.Tensor, v float64) *torch.Tensor) goldenOp {
	return func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(f(in["a"], c.f("v")))
	}
}

var goldenMathOps = map[string]goldenOp{
	"pow": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Pow(c.f("e")))
	},
	"sqrt": unaryOp((*torch.Tensor).Sqrt),
	"exp":  unaryOp((*torch.Tensor).Exp),
	"log":  unaryOp((*torch.Tensor).Log),
	"abs":  unaryOp((*torch.Tensor).Abs),
	"clamp": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		lo, hi := c.optF("min"), c.optF("max")
		switch {
		case lo != nil && hi != nil:
			return one(in["x"].Clamp(*lo, *hi))
		case lo != nil:
			return one(in["x"].ClampMin(*lo))
		default:
			return one(in["x"].ClampMax(*hi))
		}
	},
	"add":        binaryOp((*torch.Tensor).Add),
	"sub":        binaryOp((*torch.Tensor).Sub),
	"mul":        binaryOp((*torch.Tensor).Mul),
	"div":        binaryOp((*torch.Tensor).Div),
	"add_scalar": scalarOp((*torch.Tensor).AddScalar),
	"sub_scalar": scalarOp((*torch.Tensor).SubScalar),
	"mul_scalar": scalarOp((*torch.Tensor).MulScalar),
	"div_scalar": scalarOp((*torch.Tensor).DivScalar),
	"add_alpha": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["a"].AddScaled(in["b"], c.f("alpha")))
	},
	"matmul":    binaryOp((*torch.Tensor).Matmul),
	"eq":        binaryOp((*torch.Tensor).Eq),
	"ne":        binaryOp((*torch.Tensor).Ne),
	"lt":        binaryOp((*torch.Tensor).Lt),
	"le":        binaryOp((*torch.Tensor).Le),
	"gt":        binaryOp((*torch.Tensor).Gt),
	"ge":        binaryOp((*torch.Tensor).Ge),
	"eq_scalar": scalarOp((*torch.Tensor).EqScalar),
	"ne_scalar": scalarOp((*torch.Tensor).NeScalar),
	"lt_scalar": scalarOp((*torch.Tensor).LtScalar),
	"le_scalar": scalarOp((*torch.Tensor).LeScalar),
	"gt_scalar": scalarOp((*torch.Tensor).GtScalar),
	"ge_scalar": scalarOp((*torch.Tensor).GeScalar),
	"where": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(torch.Where(in["cond"], in["a"], in["b"]))
	},
}

var goldenReduceOps = map[string]goldenOp{
	"sum": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		if d := c.ints("dims"); d != nil {
			return one(in["x"].SumDims(d, c.b("keepdim")))
		}
		return one(in["x"].Sum())
	},
	"mean": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		if d := c.ints("dims"); d != nil {
			return one(in["x"].MeanDims(d, c.b("keepdim")))
		}
		return one(in["x"].Mean())
	},
	"amax": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Amax(c.ints("dims"), c.b("keepdim")))
	},
	"argmax": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Argmax(c.i("dim"), c.b("keepdim")))
	},
	"std": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Std(c.ints("dims"), c.i("correction"), c.b("keepdim")))
	},
	"var": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Var(c.ints("dims"), c.i("correction"), c.b("keepdim")))
	},
	"quantile": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		if q := in["q"]; q != nil {
			return one(in["x"].Quantiles(q, c.optI("dim"), c.b("keepdim")))
		}
		return one(in["x"].Quantile(c.f("q"), c.optI("dim"), c.b("keepdim")))
	},
	"cat": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(torch.Cat([]*torch.Tensor{in["a"], in["b"], in["c"]}, c.i("dim")))
	},
	"stack": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(torch.Stack([]*torch.Tensor{in["a"], in["b"], in["c"]}, c.i("dim")))
	},
}

var goldenIndexOps = map[string]goldenOp{
	"masked_select": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].MaskedSelect(in["mask"]))
	},
	"index_bool": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Index(in["mask"])) // x[mask]
	},
	"index_int0": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Index(in["idx"])) // x[idx]
	},
	"index_int1": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Index(nil, in["idx"])) // x[:, idx]
	},
	"scatter": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Scatter(c.i("dim"), in["idx"], in["src"]))
	},
	"slice": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Slice(c.i("dim"), c.i("start"), c.i("end"), c.i("step")))
	},
	"narrow": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Narrow(c.i("dim"), c.i("start"), c.i("length")))
	},
	"permute": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Permute(c.ints("dims")...))
	},
	"permute_contiguous": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		y := in["x"].Permute(c.ints("dims")...).Contiguous()
		if y.Err() == nil && !y.IsContiguous() {
			panic("Contiguous returned a non-contiguous tensor")
		}
		return one(y)
	},
	"reshape": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Reshape(c.ints("shape")...))
	},
	"reshape_t": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		return one(in["x"].Transpose(0, 1).Reshape(c.ints("shape")...)) // x.t().reshape(...)
	},
	"to": func(_ *torch.Scope, c *goldenCase, in map[string]*torch.Tensor) []*torch.Tensor {
		d, ok := goldenDTypeNames[c.s("dtype")]
		if !ok {
			panic("unknown dtype " + c.s("dtype"))
		}
		return one(in["x"].To(d))
	},
}

var goldenRandomOps = map[string]goldenOp{
	// The same draws, in the same order, as gen_random in the script.
	"random": func(s *torch.Scope, c *goldenCase, _ map[string]*torch.Tensor) []*torch.Tensor {
		if err := torch.ManualSeed(uint64(c.i("seed"))); err != nil {
			panic(err)
		}
		d := goldenDTypeNames[c.s("dtype")]
		return []*torch.Tensor{
			torch.Randn(s, []int64{3, 4}, d),
			torch.Randn(s, []int64{5, 7}, d),
			torch.Rand(s, []int64{4, 5}, d),
			torch.Randint(s, 0, 10, []int64{2, 6}),
			torch.Randint(s, -5, 100, []int64{17}),
			torch.Randn(s, []int64{2, 3}, d),
		}
	},
}

// TestGoldenOpsNN checks conv2d, batch_norm (train, with the updated running statistics, and
// eval), relu, avg/max/adaptive pooling, interpolate, pad, dropout (the mask after ManualSeed),
// linear, mse_loss, softmax, log_softmax, one_hot and sigmoid against PyTorch: outputs and
// gradients of (out*g).sum(). Tolerance: bitwise.
func TestGoldenOpsNN(t *testing.T) { runGoldenOps(t, goldenNNOps) }

// TestGoldenOpsMath checks pow, sqrt, exp, log, abs, clamp, add/sub/mul/div (broadcast and
// scalar), matmul, comparisons and where against PyTorch: outputs and gradients.
// Tolerance: bitwise.
func TestGoldenOpsMath(t *testing.T) { runGoldenOps(t, goldenMathOps) }

// TestGoldenOpsReduce checks sum, mean, amax, argmax, std, var, quantile, cat and stack against
// PyTorch: outputs and gradients. Tolerance: bitwise.
func TestGoldenOpsReduce(t *testing.T) { runGoldenOps(t, goldenReduceOps) }

// TestGoldenOpsIndex checks masked_select, advanced indexing (bool mask, int64 index), scatter,
// slice, narrow, permute, reshape, contiguous and dtype conversion against PyTorch: outputs and
// gradients. Tolerance: bitwise.
func TestGoldenOpsIndex(t *testing.T) { runGoldenOps(t, goldenIndexOps) }

// TestGoldenOpsRandom checks that Randn, Rand and Randint (float32 and float64) draw PyTorch's
// streams after ManualSeed. Tolerance: bitwise.
func TestGoldenOpsRandom(t *testing.T) { runGoldenOps(t, goldenRandomOps) }

// TestGoldenOpsCoverage checks that every case in the golden file has a Go replay and every replay
// has a case, so a case added to the script cannot be skipped silently.
func TestGoldenOpsCoverage(t *testing.T) {
	f := loadGoldenOps(t)
	all := map[string]bool{}
	for _, table := range []map[string]goldenOp{goldenNNOps, goldenMathOps, goldenReduceOps, goldenIndexOps,
		goldenRandomOps} {
		for op := range table {
			if all[op] {
				t.Errorf("op %q is in two tables", op)
			}
			all[op] = true
		}
	}
	used := map[string]bool{}
	for _, c := range f.cases {
		if !all[c.Op] {
			t.Errorf("case %s: op %q has no Go replay", c.Name, c.Op)
		}
		used[c.Op] = true
	}
	for op := range all {
		if !used[op] {
			t.Errorf("op %q has no case in the golden file", op)
		}
	}
}
