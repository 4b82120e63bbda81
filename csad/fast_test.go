package csad_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/torchtest"
)

// Fast mode's tolerances against the exact forward pass (and so against PyTorch), about twice
// the worst measured on the reduced golden model (batch 3) and on the paper-size one (batch 2,
// TestGoldenPaperModel), figures in docs/numerics.md#fast-mode. The maps and the LGST score
// differ by float32 rounding. The segmentation is an argmax, so where two logits nearly tie a
// pixel can take the other class (measured: 2 of the small model's 196,608 pixels, 3 of the
// paper model's 131,072); the patch-histogram branch then scores a slightly different histogram. That
// is no rounding error to bound by a constant: it is bounded by the histogram change itself,
// |d(h+δ) − d(h)| ≤ √(δᵀΣ⁺δ) (the triangle inequality of the Mahalanobis seminorm), and the
// scores must follow from the distances' and the LGST score's changes up to rounding.
const (
	fastMapAbs   = 2.5e-7  // |Δ| of the normalised local and global maps (measured 1.2e-7)
	fastLGSTRel  = 5e-7    // relative |Δ| of the LGST score (measured 2.5e-7)
	fastSegEqual = 0.99995 // share of segmentation pixels with the same class, at least (measured 0.999977)
	// fastRounding bounds the residuals, relative to max(|value|, 1): a distance's change beyond
	// √(δᵀΣ⁺δ), and the patch-histogram and fused scores' changes beyond what the distances'
	// and the LGST score's changes make of them (measured 0 and 1.4e-7).
	fastRounding = 3e-7
)

// fastDiff is how far a fast-mode forward pass is from the exact one.
type fastDiff struct {
	Local, Global, LGSTRel, SegEqual float64
	SegChanged, SegPixels            int
	Patch, Fused, D256, D128         float64 // largest |Δ|, for the record
	// DistExcess is the largest |Δd| − √(δᵀΣ⁺δ) of d256 and d128; ScoreResidual the largest
	// unexplained part of Δ(patch hist) and Δ(fused score); both relative to max(|value|, 1).
	DistExcess, ScoreResidual float64
}

func float64s(t testing.TB, x *torch.Tensor) []float64 {
	t.Helper()
	c := x.To(torch.Float64)
	if x.Scope() == nil { // a weight: the copy belongs to no scope
		defer c.Close()
	}
	v, err := c.Float64s()
	require.NoError(t, err)
	return v
}

func maxAbsDiff(t testing.TB, a, b *torch.Tensor) float64 {
	t.Helper()
	x, y := float64s(t, a), float64s(t, b)
	require.Len(t, x, len(y))
	var m float64
	for i := range x {
		m = max(m, math.Abs(x[i]-y[i]))
	}
	return m
}

// mahalanobisNorm is √(δᵀMδ) for each row δ of a − b (B, n), M (n, n).
func mahalanobisNorm(t testing.TB, a, b, m *torch.Tensor) []float64 {
	t.Helper()
	x, y, mv := float64s(t, a), float64s(t, b), float64s(t, m)
	n := int(math.Sqrt(float64(len(mv))))
	require.Equal(t, n*n, len(mv))
	out := make([]float64, len(x)/n)
	for r := range out {
		d := make([]float64, n)
		for j := range d {
			d[j] = x[r*n+j] - y[r*n+j]
		}
		var q float64
		for i := range d {
			for j := range d {
				q += d[i] * mv[i*n+j] * d[j]
			}
		}
		out[r] = math.Sqrt(max(q, 0))
	}
	return out
}

func compareFast(t testing.TB, net *csad.Network, exact, fast csad.Outputs) fastDiff {
	t.Helper()
	d := fastDiff{
		Local: maxAbsDiff(t, fast.Local, exact.Local), Global: maxAbsDiff(t, fast.Global, exact.Global),
		Patch: maxAbsDiff(t, fast.PatchHist, exact.PatchHist), Fused: maxAbsDiff(t, fast.Score, exact.Score),
		D256: maxAbsDiff(t, fast.D256, exact.D256), D128: maxAbsDiff(t, fast.D128, exact.D128),
	}
	le, lf := float64s(t, exact.LGST), float64s(t, fast.LGST)
	for i := range le {
		d.LGSTRel = max(d.LGSTRel, math.Abs(lf[i]-le[i])/max(math.Abs(le[i]), 1e-30))
	}
	se, err := exact.Labels.Int64s()
	require.NoError(t, err)
	sf, err := fast.Labels.Int64s()
	require.NoError(t, err)
	require.Len(t, sf, len(se))
	same := 0
	for i := range se {
		if se[i] == sf[i] {
			same++
		}
	}
	d.SegEqual = float64(same) / float64(len(se))
	d.SegChanged, d.SegPixels = len(se)-same, len(se)

	det := net.Detector
	we, qe := det.Histograms(exact.Labels)
	wf, qf := det.Histograms(fast.Labels)
	rel := func(delta, v float64) float64 { return delta / max(math.Abs(v), 1) }
	for _, c := range []struct{ got, want, hf, he, invcov *torch.Tensor }{
		{fast.D256, exact.D256, wf, we, det.HistInvCov},
		{fast.D128, exact.D128, qf, qe, det.PatchHistInvCov},
	} {
		g, w, bound := float64s(t, c.got), float64s(t, c.want), mahalanobisNorm(t, c.hf, c.he, c.invcov)
		for i := range w {
			d.DistExcess = max(d.DistExcess, rel(math.Abs(g[i]-w[i])-bound[i], w[i]))
		}
	}
	// ph = (d256 − μ₁)/σ₁ + (d128 − μ₂)/σ₂ and score = (lgst − μ)/σ + (ph − μ′)/σ′.
	s1, s2 := item(t, det.HistValStd), item(t, det.PatchHistValStd)
	sl, sp := item(t, net.LGSTStd), item(t, net.PatchHistStd)
	d256e, d256f, d128e, d128f := float64s(t, exact.D256), float64s(t, fast.D256), float64s(t, exact.D128), float64s(t, fast.D128)
	pe, pf, oe, of := float64s(t, exact.PatchHist), float64s(t, fast.PatchHist), float64s(t, exact.Score), float64s(t, fast.Score)
	for i := range pe {
		dp := pf[i] - pe[i]
		d.ScoreResidual = max(d.ScoreResidual,
			rel(math.Abs(dp-(d256f[i]-d256e[i])/s1-(d128f[i]-d128e[i])/s2), pe[i]),
			rel(math.Abs(of[i]-oe[i]-(lf[i]-le[i])/sl-dp/sp), oe[i]))
	}
	return d
}

func (d fastDiff) String() string {
	return fmt.Sprintf("maps %.3g / %.3g, LGST rel %.3g, segmentation %.5f%% equal (%d of %d pixels changed), |Δ| d256 %.3g, d128 %.3g, patch hist %.3g, fused %.3g; distance excess %.3g, score residual %.3g",
		d.Local, d.Global, d.LGSTRel, 100*d.SegEqual, d.SegChanged, d.SegPixels, d.D256, d.D128, d.Patch, d.Fused, d.DistExcess, d.ScoreResidual)
}

func (d fastDiff) check(t *testing.T) {
	t.Helper()
	t.Logf("fast vs exact: %v", d)
	assert.LessOrEqual(t, d.Local, fastMapAbs, "local map")
	assert.LessOrEqual(t, d.Global, fastMapAbs, "global map")
	assert.LessOrEqual(t, d.LGSTRel, fastLGSTRel, "LGST score")
	assert.GreaterOrEqual(t, d.SegEqual, fastSegEqual, "segmentation")
	assert.LessOrEqual(t, d.DistExcess, fastRounding, "a distance changed more than its histogram change allows")
	assert.LessOrEqual(t, d.ScoreResidual, fastRounding, "a score changed more than the distances and the LGST score explain")
}

// smallGoldenNet imports the committed reduced-width reference model and regenerates its input.
func smallGoldenNet(t *testing.T, s *torch.Scope) (*csad.Network, *torch.Tensor) {
	t.Helper()
	_, meta := torchtest.Golden(t, s, smallGolden(t))
	t.Cleanup(torchtest.UseGoldenThreads(t, meta))
	net, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, net.Close()) })
	return net, goldenInput(t, s, meta)
}

// Fast mode on the reduced golden model stays within its stated tolerances of the exact
// forward pass (which the golden tests hold bitwise to PyTorch's).
func TestFastModeWithinTolerance(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	net, x := smallGoldenNet(t, s)
	exact, err := net.Forward(x)
	require.NoError(t, err)
	require.NoError(t, net.UseChannelsLast())
	fast, err := net.Forward(x)
	require.NoError(t, err)
	compareFast(t, net, exact, fast).check(t)
	require.NoError(t, s.Err())
}

// Fast mode runs every convolution as oneDNN's own with its weight laid out at load
// (aten::mkldnn_convolution), none through aten::conv2d, which would reorder the weight on every
// call, and as many as the exact forward pass (the teacher projection split in two, the
// student's heads merged into one), and makes no dense copies of maps between convolutions.
func TestFastModeOperators(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	net, x := smallGoldenNet(t, s)
	calls := func() map[string]int64 {
		torch.OpStats() // start afresh
		torch.SetOpTiming(true)
		defer torch.SetOpTiming(false)
		o, err := net.Forward(x)
		require.NoError(t, err)
		o.Close()
		m := map[string]int64{}
		for _, st := range torch.OpStats() {
			m[st.Name] = st.Calls
		}
		return m
	}
	exact := calls()
	require.NoError(t, net.UseChannelsLast())
	fast := calls()
	require.Positive(t, exact["aten::conv2d"])
	assert.Equal(t, exact["aten::conv2d"], fast["aten::mkldnn_convolution"], "convolutions through oneDNN")
	assert.Zero(t, fast["aten::conv2d"], "convolutions through aten::conv2d")
	assert.LessOrEqual(t, fast["aten::contiguous"], int64(1), "dense copies (the image's is the one)")
}

// Calling UseChannelsLast again refolds from the same weights: the same results bit for bit,
// and the previous fold's tensors are freed rather than kept beside the new ones.
func TestFastModeIdempotent(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	net, x := smallGoldenNet(t, s)
	require.NoError(t, net.UseChannelsLast())
	once, err := net.Forward(x)
	require.NoError(t, err)
	live := torch.Live().Tensors
	require.NoError(t, net.UseChannelsLast())
	assert.Equal(t, live, torch.Live().Tensors, "a second UseChannelsLast holds more native tensors")
	twice, err := net.Forward(x)
	require.NoError(t, err)
	for i, o := range [][2]*torch.Tensor{{once.Score, twice.Score}, {once.Local, twice.Local}, {once.Global, twice.Global}, {once.Labels, twice.Labels}} {
		d, err := torchtest.Compare(o[1], o[0])
		require.NoError(t, err)
		assert.True(t, d.Bitwise, "output %d after a second UseChannelsLast: %v", i, d)
	}
}

// The folded weights are no parameters: the state dict, and so the model file, hold the
// original weights and nothing else, bit for bit.
func TestFastModeKeepsStateDict(t *testing.T) {
	net, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	require.NoError(t, err)
	defer func() { assert.NoError(t, net.Close()) }()
	s := torch.NewNoGradScope()
	defer s.Close()
	before := map[string][]byte{}
	var names []string
	for _, p := range nn.StateDict(net) {
		b, err := p.Tensor.Share(s).Contiguous().Bytes()
		require.NoError(t, err)
		before[p.Name] = b
		names = append(names, p.Name)
	}
	h, err := csad.NewHeader(net, "x", csad.Provenance{})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, csad.SaveModel(filepath.Join(dir, "exact.csad"), net, h))

	require.NoError(t, net.UseChannelsLast())
	var after []string
	for _, p := range nn.StateDict(net) {
		b, err := p.Tensor.Share(s).Contiguous().Bytes()
		require.NoError(t, err)
		assert.Equal(t, before[p.Name], b, "%s changed", p.Name)
		after = append(after, p.Name)
	}
	assert.Equal(t, names, after)
	require.NoError(t, csad.SaveModel(filepath.Join(dir, "fast.csad"), net, h))
	a, err := os.ReadFile(filepath.Join(dir, "exact.csad"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "fast.csad"))
	require.NoError(t, err)
	assert.True(t, slices.Equal(a, b), "the model file saved in fast mode differs from the exact one")
}

// Fast mode is for inference: UseChannelsLast refuses a network in training mode, and a
// forward pass made while a branch trains runs that branch's real operators (BatchNorm with
// batch statistics, updating its running ones), exactly as without fast mode.
func TestFastModeTraining(t *testing.T) {
	cfg := csad.SmallConfig(3)
	fast, err := csad.NewInitialised(cfg, 7)
	require.NoError(t, err)
	defer func() { assert.NoError(t, fast.Close()) }()
	exact, err := csad.NewInitialised(cfg, 7)
	require.NoError(t, err)
	defer func() { assert.NoError(t, exact.Close()) }()

	nn.SetTraining(fast.Segmentor, true)
	require.ErrorContains(t, fast.UseChannelsLast(), "training mode")
	nn.SetTraining(fast.Segmentor, false)
	require.NoError(t, fast.UseChannelsLast())

	s := torch.NewNoGradScope()
	defer s.Close()
	require.NoError(t, torch.ManualSeed(3))
	x := torch.Randn(s, []int64{2, 3, 256, 256}, torch.Float32)
	var labels [2]*torch.Tensor
	for i, net := range []*csad.Network{exact, fast} {
		nn.SetTraining(net.Encoder, true)
		nn.SetTraining(net.Segmentor, true)
		o, err := net.Forward(x)
		require.NoError(t, err)
		labels[i] = o.Labels
		require.Equal(t, 1.0, stateItem(t, net, "encoder.bn1.num_batches_tracked"), "the encoder's BatchNorm did not train")
	}
	d, err := torchtest.Compare(labels[1], labels[0])
	require.NoError(t, err)
	assert.True(t, d.Bitwise, "segmentation in training mode with fast mode on: %v", d)
}

func item(t testing.TB, x *torch.Tensor) float64 {
	t.Helper()
	v, err := x.Item()
	require.NoError(t, err)
	return v
}

func stateItem(t *testing.T, net *csad.Network, name string) float64 {
	t.Helper()
	for _, p := range nn.StateDict(net) {
		if p.Name == name {
			v, err := p.Tensor.Item()
			require.NoError(t, err)
			return v
		}
	}
	t.Fatalf("no state %s", name)
	return 0
}

// BenchmarkFastPaper times the paper-size network (7 classes, PyTorch's default
// initialisation, batch 1) in exact and fast mode, one forward pass of each in turn, and with
// CSAD_BENCH_PYTHON=1 PyTorch eager on the same weights too (cmd/csad/bench_ref.py as a worker),
// so that a busy machine slows every column alike. Each round also times one 512→512 3×3
// convolution on a 64×64 map (NCHW, the layout oneDNN is fastest in here) as the convolution
// peak that fast mode's GFLOP/s are a share of. It reports the median of each column and of
// the paired ratios, wall time and process CPU time (user + system over all threads, less
// disturbed by other processes than wall time). CSAD_BENCH_PAIRS sets the rounds (default 8),
// CSAD_BENCH_THREADS the intra-op threads (default 2). Run it with OMP_WAIT_POLICY=PASSIVE when
// the Python column is on: otherwise this process's idle OpenMP threads spin while the worker
// runs and take its CPU (measured: eager 1.75× slower than with it).
//
//	OMP_WAIT_POLICY=PASSIVE CSAD_BENCH_PYTHON=1 go test -run '^$' -bench BenchmarkFastPaper -benchtime 1x ./csad/
func BenchmarkFastPaper(b *testing.B) {
	pairs := envInt(b, "CSAD_BENCH_PAIRS", 8)
	threads := envInt(b, "CSAD_BENCH_THREADS", 2)
	torch.SetNumThreads(threads)
	cfg := csad.PaperConfig(7)
	exact, err := csad.NewInitialised(cfg, 1)
	require.NoError(b, err)
	defer func() { assert.NoError(b, exact.Close()) }()
	path := filepath.Join(b.TempDir(), "paper.csad")
	h, err := csad.NewHeader(exact, "bench", csad.Provenance{})
	require.NoError(b, err)
	require.NoError(b, csad.SaveModel(path, exact, h))
	m, err := csad.Load(path, csad.Options{Fast: true})
	require.NoError(b, err)
	defer func() { assert.NoError(b, m.Close()) }()
	fast := m.ScoreTensor // its network keeps only the fast weights (Network() is nil)

	var py *pyWorker
	if os.Getenv("CSAD_BENCH_PYTHON") == "1" {
		py = startPyWorker(b, path, threads)
		defer py.close(b)
	}
	s := torch.NewInferenceScope()
	defer s.Close()
	require.NoError(b, torch.ManualSeed(0))
	x := torch.Randn(s, []int64{1, 3, cfg.ImageSize, cfg.ImageSize}, torch.Float32)
	px := torch.Randn(s, []int64{1, 512, 64, 64}, torch.Float32)
	pw := torch.Randn(s, []int64{512, 512, 3, 3}, torch.Float32).MulScalar(0.01)
	const peakGFLOP = 2 * 512 * 512 * 9 * 64 * 64 / 1e9
	peak := func() float64 {
		t0 := time.Now()
		y := px.Conv2d(pw, nil, torch.Conv2dOptions{Padding: [2]int64{1, 1}})
		require.NoError(b, y.Err())
		el := time.Since(t0).Seconds()
		require.NoError(b, y.Close())
		return el
	}
	timeIt := func(forward func(*torch.Tensor) (csad.Outputs, error)) (wall, cpu float64, o csad.Outputs) {
		c0 := cpuSeconds(b)
		t0 := time.Now()
		o, err := forward(x)
		require.NoError(b, err)
		return time.Since(t0).Seconds(), cpuSeconds(b) - c0, o
	}
	_, _, oe := timeIt(exact.Forward) // warm-up, and the outputs compared below
	_, _, of := timeIt(fast)
	peak()
	if py != nil {
		py.run(b)
	}
	var te, tf, ce, cf, tp, tk, rFE, cFE, rPF, rPE, rKF []float64
	b.ResetTimer()
	for range pairs {
		e, c, o := timeIt(exact.Forward)
		o.Close()
		te, ce = append(te, e), append(ce, c)
		f, c, o := timeIt(fast)
		o.Close()
		tf, cf = append(tf, f), append(cf, c)
		rFE, cFE = append(rFE, e/f), append(cFE, ce[len(ce)-1]/c)
		k := peak()
		tk = append(tk, k)
		rKF = append(rKF, (peakGFLOP/k)/(1/f)) // peak GFLOP/s ÷ images/s
		if py != nil {
			p := py.run(b)
			tp = append(tp, p)
			rPF, rPE = append(rPF, p/f), append(rPE, p/e)
		}
	}
	b.StopTimer()
	gflop := float64(csad.FLOPs(cfg)) / 1e9 // the convolutions of one image
	b.ReportMetric(1e3*median(te), "exact-ms")
	b.ReportMetric(1e3*median(tf), "fast-ms")
	b.ReportMetric(median(rFE), "fast/exact-x")
	b.ReportMetric(1e3*median(ce), "exact-cpu-ms")
	b.ReportMetric(1e3*median(cf), "fast-cpu-ms")
	b.ReportMetric(median(cFE), "fast/exact-cpu-x")
	b.ReportMetric(peakGFLOP/median(tk), "peak-GFLOP/s")
	b.ReportMetric(gflop/median(tf), "fast-GFLOP/s")
	b.ReportMetric(100*gflop/median(rKF), "fast-%peak")
	if py != nil {
		b.ReportMetric(1e3*median(tp), "python-ms")
		b.ReportMetric(median(rPF), "fast/python-x")
		b.ReportMetric(median(rPE), "exact/python-x")
	}
	b.Logf("paired ratios exact/fast, wall %v, CPU %v", rounded(rFE), rounded(cFE))
	b.Logf("fast vs exact: %v", compareFast(b, exact, oe, of))
}

// cpuSeconds is the process's user and system CPU time so far, all threads.
func cpuSeconds(tb testing.TB) float64 {
	var r syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &r))
	return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e9
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(tb, err, "%s", name)
	return n
}

func rounded(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%.2f", x)
	}
	return out
}

// pyWorker is cmd/csad/bench_ref.py serving timed eager forward passes of a .csad model.
type pyWorker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startPyWorker(tb testing.TB, model string, threads int) *pyWorker {
	tb.Helper()
	dir := tb.TempDir()
	for src, dst := range map[string]string{"../cmd/csad/bench_ref.py": "bench_ref.py", "pyref/csad_ref.py": "csad_ref.py"} {
		b, err := os.ReadFile(src)
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, dst), b, 0o644))
	}
	cmd := exec.Command("/usr/bin/python3", filepath.Join(dir, "bench_ref.py"), "--model", model, "--batches", "1",
		"--threads", strconv.Itoa(threads), "--seed", "0")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(tb, err)
	out, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	w := &pyWorker{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	w.out.Buffer(make([]byte, 1<<20), 1<<24)
	var ready struct {
		Ready bool   `json:"ready"`
		Error string `json:"error"`
	}
	w.read(tb, &ready)
	require.True(tb, ready.Ready, "python worker: %s", ready.Error)
	return w
}

func (w *pyWorker) read(tb testing.TB, v any) {
	tb.Helper()
	require.True(tb, w.out.Scan(), "python worker ended: %v", w.out.Err())
	require.NoError(tb, json.Unmarshal(w.out.Bytes(), v))
}

func (w *pyWorker) run(tb testing.TB) float64 {
	tb.Helper()
	_, err := io.WriteString(w.in, "run 1\n")
	require.NoError(tb, err)
	var r struct {
		Seconds float64 `json:"seconds"`
		Error   string  `json:"error"`
	}
	w.read(tb, &r)
	require.Empty(tb, r.Error, "python worker")
	return r.Seconds
}

func (w *pyWorker) close(tb testing.TB) {
	_, err := io.WriteString(w.in, "quit\n")
	assert.NoError(tb, err)
	assert.NoError(tb, w.in.Close())
	assert.NoError(tb, w.cmd.Wait())
}

// A Model loaded with Fast holds one copy of the weights: each branch's own tensors are freed
// as soon as its fast weights exist (paper size, live native bytes after the load: 357 MB
// before this, 174 MB now, exact mode 182 MB). It scores bit for bit as a network switched to
// fast mode that keeps its originals, explains what it scored, and does not expose its network.
func TestFastModelHoldsOneCopyOfTheWeights(t *testing.T) {
	path := smallModelFile(t)
	if _, ok := torch.NativeHeapBytes(); ok {
		// The reduced model's weights (0.3 MB) are too few to tell from what a load allocates
		// besides (oneDNN's caches, a new thread's state); a wider student gives it 10 MB.
		cfg := csad.SmallConfig(5)
		cfg.Student.Conv1, cfg.Student.Width = 128, 256
		net, err := csad.NewInitialised(cfg, 3)
		require.NoError(t, err)
		h, err := csad.NewHeader(net, "tray", csad.Provenance{})
		require.NoError(t, err)
		wide := filepath.Join(t.TempDir(), "wide.csad")
		require.NoError(t, csad.SaveModel(wide, net, h))
		require.NoError(t, net.Close())
		// One thread for the whole measurement: each OS thread that first calls into LibTorch
		// gets state of its own.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		loaded := func(fast bool) int64 {
			h0, ok := torch.NativeHeapBytes()
			require.True(t, ok, "this LibTorch build cannot report its native heap")
			m, err := csad.Load(wide, csad.Options{Fast: fast})
			require.NoError(t, err)
			h1, ok := torch.NativeHeapBytes()
			require.True(t, ok)
			require.NoError(t, m.Close())
			return h1 - h0
		}
		loaded(true) // the first loads leave oneDNN's and LibTorch's caches behind, once
		loaded(false)
		exact, fast := loaded(false), loaded(true)
		t.Logf("live native bytes held after the load: exact %d, fast %d", exact, fast)
		assert.LessOrEqual(t, fast, exact+exact/10, "a fast Model holds its weights twice")
	}

	m, err := csad.Load(path, csad.Options{Fast: true})
	require.NoError(t, err)
	defer func() { assert.NoError(t, m.Close()) }()
	assert.True(t, m.Network() == nil, "the fast Model's network has no original weights to offer")
	ref, _, err := csad.LoadModel(path)
	require.NoError(t, err)
	defer func() { assert.NoError(t, ref.Close()) }()
	require.NoError(t, ref.UseChannelsLast())

	img := testImages(t, 1)[0]
	s := torch.NewInferenceScope()
	defer s.Close()
	x := torch.FromSlice(s, imageproc.Preprocess(img, 256), 1, 3, 256, 256)
	got, err := m.ScoreTensor(x)
	require.NoError(t, err)
	want, err := ref.Forward(x)
	require.NoError(t, err)
	assertBitwise(t, "as the fast network that keeps its originals", map[string][2]*torch.Tensor{
		"score": {got.Score, want.Score}, "local": {got.Local, want.Local},
		"global": {got.Global, want.Global}, "labels": {got.Labels, want.Labels},
	})

	e, err := m.ExplainPatchHist(context.Background(), img)
	require.NoError(t, err)
	labels, err := got.Labels.To(torch.Uint8).Bytes()
	require.NoError(t, err)
	assert.Equal(t, labels, e.Segmentation, "the explanation segments as the fast pass did")
	d256, err := got.D256.Item()
	require.NoError(t, err)
	assert.LessOrEqual(t, relDiff(e.D256, d256), 1e-4, "explained d256 %v, scored %v", e.D256, d256)
}
