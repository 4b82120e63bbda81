package train_test

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

const (
	benchForwardTwin = "../../testdata/bench_forward.py"
	benchPresetEnv   = "CSAD_BENCH_PRESET" // cpu (default) or paper
	benchModelEnv    = "CSAD_BENCH_MODEL"  // a .csad file to time instead of a preset
	benchRSSChildEnv = "CSAD_BENCH_RSS_CHILD"
	benchSmallModel  = "../../testdata/golden/model_small.pth"
)

// benchModelFile writes the model the forward benchmarks time as a .csad file: the reduced
// ("cpu") model of the golden tests, or a paper-size one with PyTorch's default initialisation
// (its values do not change the arithmetic's cost). CSAD_BENCH_MODEL names a file to use instead.
func benchModelFile(b *testing.B, preset string) string {
	if p := os.Getenv(benchModelEnv); p != "" {
		return p
	}
	var (
		net *csad.Network
		err error
	)
	switch preset {
	case "cpu":
		net, err = csad.ImportUnified(benchSmallModel)
	case "paper":
		net, err = csad.NewInitialised(csad.PaperConfig(5), 3)
	default:
		b.Fatalf("%s=%q: want cpu or paper", benchPresetEnv, preset)
	}
	require.NoError(b, err)
	defer func() { assert.NoError(b, net.Close()) }()
	h, err := csad.NewHeader(net, "bench", csad.Provenance{Tool: "bench"})
	require.NoError(b, err)
	path := filepath.Join(b.TempDir(), preset+".csad")
	require.NoError(b, csad.SaveModel(path, net, h))
	return path
}

func benchPreset() string {
	if p := os.Getenv(benchPresetEnv); p != "" {
		return p
	}
	return "cpu"
}

// benchInput is the batch both sides time: torch.randn(batch, 3, S, S) right after
// torch.manual_seed(0), owned by the caller.
func benchInput(b *testing.B, batch int, size int64) *torch.Tensor {
	require.NoError(b, torch.ManualSeed(0))
	x := torch.Randn(nil, []int64{int64(batch), 3, size, size}, torch.Float32)
	require.NoError(b, x.Err())
	b.Cleanup(func() { assert.NoError(b, x.Close()) })
	return x
}

// scoreOnce runs one exact-mode forward pass of m on x in a scope of its own, as
// csad.Model.ScoreBatch does, and frees everything it made.
func scoreOnce(m *csad.Model, x *torch.Tensor) error {
	s := torch.NewInferenceScope()
	s.Own(x)
	defer func() {
		s.Keep(x)
		s.Close()
	}()
	_, err := m.ScoreTensor(x)
	return err
}

// forwardPair loads the benchmark's model (CSAD_BENCH_PRESET) on the Go side and in the Python
// twin (testdata/bench_forward.py), both at CSAD_BENCH_THREADS threads, and skips without
// Python.
func forwardPair(b *testing.B) (*csad.Model, *trainTwin) {
	threads, err := positiveEnv(benchThreadsEnv, benchThreads, "threads")
	require.NoError(b, err)
	if _, err := os.Stat(benchPython); err != nil {
		b.Skipf("no Python to compare with: %v (Debian's python3-torch provides %s)", err, benchPython)
	}
	prev := torch.NumThreads()
	b.Cleanup(func() { torch.SetNumThreads(prev) })
	path := benchModelFile(b, benchPreset())
	py, err := startTwin(b, benchForwardTwin, path, strconv.Itoa(threads))
	require.NoError(b, err)
	m, err := csad.Load(path, csad.Options{Threads: threads})
	require.NoError(b, err)
	b.Cleanup(func() { assert.NoError(b, m.Close()) })
	if reason, err := py.ready(); err != nil {
		require.NoError(b, err)
	} else if reason != "" {
		b.Skipf("the Python twin cannot run: %s (install Debian's python3-torch)", reason)
	}
	return m, py
}

// BenchmarkForward times the exact-mode forward pass (csad.Model.ScoreTensor, inference mode)
// against the same model file in eager PyTorch under no_grad (testdata/bench_forward.py,
// csad_ref.CSAD), at batch 1 and 8, the two sides alternating call by call; the reported figure
// is the median of the paired ratios Python time ÷ Go time (>1: Go is faster). The reduced model
// (CSAD_BENCH_PRESET=cpu, the default) is where a per-call cost shows; paper runs the paper-size
// one. CSAD_BENCH_ROUNDS and CSAD_BENCH_THREADS as in BenchmarkTrainStep.
//
//	go test -run '^$' -bench 'Forward$' -benchtime 1x ./csad/train/
func BenchmarkForward(b *testing.B) {
	rounds, err := positiveEnv(benchRoundsEnv, 4*benchRounds, "rounds")
	require.NoError(b, err)
	m, py := forwardPair(b)
	size := m.Header().Config.ImageSize
	for _, batch := range []int{1, 8} {
		b.Run("batch"+strconv.Itoa(batch), func(b *testing.B) {
			x := benchInput(b, batch, size)
			call := func() error { return scoreOnce(m, x) }
			// Both sides warm up on this batch size only now: glibc's trim threshold follows
			// the largest block freed so far, so a side that had already run batch 8 would
			// keep its heap and fault fewer pages at batch 1 than the other.
			for range 2 {
				require.NoError(b, call(), "Go warm-up")
			}
			require.NoError(b, py.warm(batch))
			b.ReportAllocs()
			benchPairedUnit(b, py, fmt.Sprintf("forward batch %d", batch), "fwd "+strconv.Itoa(batch), "call",
				call, max(rounds, b.N), false)
		})
	}
}

// BenchmarkForwardGo is the Go side of BenchmarkForward alone, b.N calls at batch 1, for
// profiling (-cpuprofile) and allocation counts; it also reports the native operator calls
// and tensors each forward pass makes.
//
//	go test -run '^$' -bench ForwardGo -benchtime 200x -cpuprofile cpu.out ./csad/train/
func BenchmarkForwardGo(b *testing.B) {
	threads, err := positiveEnv(benchThreadsEnv, benchThreads, "threads")
	require.NoError(b, err)
	prev := torch.NumThreads()
	b.Cleanup(func() { torch.SetNumThreads(prev) })
	m, err := csad.Load(benchModelFile(b, benchPreset()), csad.Options{Threads: threads})
	require.NoError(b, err)
	b.Cleanup(func() { assert.NoError(b, m.Close()) })
	x := benchInput(b, 1, m.Header().Config.ImageSize)
	require.NoError(b, scoreOnce(m, x))
	live := torch.Live()
	c0 := torch.Counts()
	require.NoError(b, scoreOnce(m, x))
	c1 := torch.Counts()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := scoreOnce(m, x); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(c1.OpCalls-c0.OpCalls), "ops/call")
	b.ReportMetric(float64(c1.Tensors-c0.Tensors), "tensors/call")
	// The time outside the operators is what the binding adds: argument packing, tensor handles,
	// scopes, freeing. It is measured over further calls with op timing on (two clock reads an
	// operator), not in the timed loop.
	const timed = 20
	torch.OpStats()
	torch.SetOpTiming(true)
	t0 := time.Now()
	for range timed {
		require.NoError(b, scoreOnce(m, x))
	}
	wall := time.Since(t0)
	torch.SetOpTiming(false)
	var inOps time.Duration
	for _, st := range torch.OpStats() {
		inOps += st.Total
	}
	b.ReportMetric(ms(wall-inOps)/timed, "ms-outside-ops/call")
	b.Logf("per call %.2f ms, %.2f ms of it outside the operators", ms(wall)/timed, ms(wall-inOps)/timed)
	assert.Equal(b, live.Tensors, torch.Live().Tensors, "live tensors after the calls")
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// BenchmarkForwardOps is the profile of BenchmarkForward, operator by operator: the wall time of
// each ATen operator the model calls (torch.SetOpTiming on the Go side, torch.profiler's
// top-level CPU events on the Python side, children folded in on both), batch 1, summed over
// rounds of 10 calls on each side in turn. Python's figures include its profiler's own cost
// (a few microseconds an operator); operator names are compared without their overload.
//
//	go test -run '^$' -bench ForwardOps -benchtime 1x ./csad/train/
func BenchmarkForwardOps(b *testing.B) {
	m, py := forwardPair(b)
	const batch, calls, rounds = 1, 10, 4
	x := benchInput(b, batch, m.Header().Config.ImageSize)
	for range 2 {
		require.NoError(b, scoreOnce(m, x))
	}
	require.NoError(b, py.warm(batch))
	type pair struct {
		goCalls, pyCalls int64
		goS, pyS         float64
	}
	tab := map[string]*pair{}
	get := func(name string) *pair {
		if tab[name] == nil {
			tab[name] = &pair{}
		}
		return tab[name]
	}
	for range rounds {
		torch.SetOpTiming(true)
		for range calls {
			require.NoError(b, scoreOnce(m, x))
		}
		torch.SetOpTiming(false)
		for _, st := range torch.OpStats() {
			name, _, _ := strings.Cut(st.Name, ".")
			p := get(name)
			p.goCalls += st.Calls
			p.goS += st.Total.Seconds()
		}
		got, err := py.opTimes(batch, calls)
		require.NoError(b, err)
		for name, v := range got {
			p := get(name)
			p.pyCalls += int64(v[0])
			p.pyS += v[1]
		}
	}
	names := make([]string, 0, len(tab))
	var goSum, pySum float64
	for n, p := range tab {
		names = append(names, n)
		goSum, pySum = goSum+p.goS, pySum+p.pyS
	}
	slices.SortFunc(names, func(a, c string) int { return cmp.Compare(tab[c].goS+tab[c].pyS, tab[a].goS+tab[a].pyS) })
	n := float64(rounds * calls)
	fmt.Printf("per forward pass at batch %d, ms inside operators: go %.2f, python %.2f (%d calls each side)\n", batch, 1e3*goSum/n, 1e3*pySum/n, rounds*calls)
	fmt.Printf("  %-30s %13s %9s %9s %8s\n", "operator", "calls go/py", "go ms", "py ms", "py/go")
	for _, name := range names {
		p := tab[name]
		ratio := "-"
		if p.goS > 0 && p.pyS > 0 {
			ratio = strconv.FormatFloat(p.pyS/p.goS, 'f', 2, 64)
		}
		fmt.Printf("  %-30s %6.1f/%-6.1f %9.3f %9.3f %8s\n", name, float64(p.goCalls)/n, float64(p.pyCalls)/n, 1e3*p.goS/n, 1e3*p.pyS/n, ratio)
	}
	b.ReportMetric(1e3*goSum/n, "go-ms-in-ops/call")
	b.ReportMetric(1e3*pySum/n, "python-ms-in-ops/call")
}

// BenchmarkForwardRSS measures the peak resident memory of loading the model and scoring at
// batch 1 (CSAD_BENCH_PRESET=paper for the paper-size model), Go and Python each in a fresh
// process (the test binary itself, TestForwardRSSChild; testdata/bench_forward.py rss),
// alternating, three of each: VmHWM is the high-water mark of the whole process, load included.
//
//	CSAD_BENCH_PRESET=paper go test -run '^$' -bench ForwardRSS -benchtime 1x ./csad/train/
func BenchmarkForwardRSS(b *testing.B) {
	threads, err := positiveEnv(benchThreadsEnv, benchThreads, "threads")
	require.NoError(b, err)
	if _, err := os.Stat(benchPython); err != nil {
		b.Skipf("no Python to compare with: %v", err)
	}
	exe, err := os.Executable()
	require.NoError(b, err)
	path := benchModelFile(b, benchPreset())
	const batch, calls = 1, 3
	var goHWM, pyHWM, goLoad, pyLoad, ratio []float64
	for round := range 3 {
		cmd := exec.Command(exe, "-test.run=^TestForwardRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d,%d", benchRSSChildEnv, path, threads, batch, calls))
		g, gl, err := childRSS(cmd)
		require.NoError(b, err, "Go child, round %d", round+1)
		pc := exec.Command(benchPython, benchForwardTwin, path, strconv.Itoa(threads), "rss", strconv.Itoa(batch), strconv.Itoa(calls))
		pc.Env = pythonEnv()
		p, pl, err := childRSS(pc)
		require.NoError(b, err, "Python child, round %d", round+1)
		goHWM, pyHWM = append(goHWM, g/(1<<20)), append(pyHWM, p/(1<<20))
		goLoad, pyLoad = append(goLoad, gl/(1<<20)), append(pyLoad, pl/(1<<20))
		ratio = append(ratio, g/p)
	}
	b.ReportMetric(median(goHWM), "go-MiB-peak")
	b.ReportMetric(median(pyHWM), "python-MiB-peak")
	b.ReportMetric(median(ratio), "go/python-peak")
	b.ReportMetric(median(goLoad), "go-MiB-peak-load")
	b.ReportMetric(median(pyLoad), "python-MiB-peak-load")
	b.Logf("peak RSS, load + %d calls at batch %d: go %.0f MiB, python %.0f MiB, go/python %.2f (medians of 3; go %v, python %v)",
		calls, batch, median(goHWM), median(pyHWM), median(ratio), formatRatios(goHWM), formatRatios(pyHWM))
	b.Logf("  of which loading the model: go %.0f MiB, python %.0f MiB", median(goLoad), median(pyLoad))
}

// childRSS runs cmd and returns the VmHWM its "rss HWM RSS LOADHWM" line reports (the last:
// the high-water mark once the model was loaded, before any call).
func childRSS(cmd *exec.Cmd) (hwm, loaded float64, err error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("train: %v: %w; stderr: %s; stdout: %s", cmd.Args, err, errb.String(), out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "rss" {
			v, err1 := strconv.ParseFloat(f[1], 64)
			l, err2 := strconv.ParseFloat(f[3], 64)
			if err1 != nil || err2 != nil || v <= 0 || l <= 0 {
				return 0, 0, fmt.Errorf("train: %v: bad rss line %q", cmd.Args, sc.Text())
			}
			return v, l, nil
		}
	}
	return 0, 0, fmt.Errorf("train: %v printed no rss line: %s", cmd.Args, out.String())
}

// TestForwardRSSChild is BenchmarkForwardRSS's Go process: it runs only when the benchmark
// starts it (CSAD_BENCH_RSS_CHILD=path,threads,batch,calls), loads the model as a user would,
// scores, and prints its VmHWM and VmRSS.
func TestForwardRSSChild(t *testing.T) {
	spec := os.Getenv(benchRSSChildEnv)
	if spec == "" {
		t.Skip("run by BenchmarkForwardRSS only")
	}
	f := strings.Split(spec, ",")
	require.Len(t, f, 4, "%s=%q", benchRSSChildEnv, spec)
	n := make([]int, 3)
	for i := range n {
		v, err := strconv.Atoi(f[i+1])
		require.NoError(t, err)
		n[i] = v
	}
	m, err := csad.Load(f[0], csad.Options{Threads: n[0]})
	require.NoError(t, err)
	defer func() { assert.NoError(t, m.Close()) }()
	loaded := procStatus(t, "VmHWM")
	require.NoError(t, torch.ManualSeed(0))
	size := m.Header().Config.ImageSize
	x := torch.Randn(nil, []int64{int64(n[1]), 3, size, size}, torch.Float32)
	defer x.Close()
	for range n[2] {
		require.NoError(t, scoreOnce(m, x))
	}
	fmt.Printf("rss %d %d %d\n", procStatus(t, "VmHWM"), procStatus(t, "VmRSS"), loaded)
}

// procStatus reads a "kB" field of /proc/self/status in bytes.
func procStatus(t *testing.T, key string) int64 {
	v, err := torchtest.ProcStatusBytes(key)
	require.NoError(t, err)
	return v
}
