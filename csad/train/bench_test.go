package train_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/train"
	"github.com/csad-go/csad/torch"
)

const (
	benchPython     = "/usr/bin/python3"
	benchTwin       = "../../testdata/bench_train_step.py"
	benchRoundsEnv  = "CSAD_BENCH_ROUNDS"
	benchRounds     = 10 // paired rounds per step kind unless benchRoundsEnv says otherwise
	benchThreadsEnv = "CSAD_BENCH_THREADS"
	benchThreads    = 2 // LibTorch intra-op threads, both sides, unless benchThreadsEnv says otherwise
	benchBlockEnv   = "CSAD_BENCH_BLOCK"
	benchBlockWall  = 25 * time.Millisecond // a round's steps a side, unless benchBlockEnv says how many
	benchBatch      = 2
	benchSize       = 256
)

// BenchmarkTrainStep times one LGST step and one segmentor step of the small config (batch 2,
// 256 px, 2 LibTorch threads, OpenBLAS on one as TestMain sets it) against the same steps in
// eager PyTorch (testdata/bench_train_step.py, the golden scripts' steps on csad_ref's modules),
// and a plain 5-convolution net with Adam at three sizes (convNetSizes), where the cost of each
// operator call rather than the arithmetic decides at the smallest.
// The Python twin runs once, as a long-lived subprocess, and the two sides take turns (Go,
// Python, Go, …), each turn a block of steps back to back (blockSteps: about 25 ms of them, one
// step for the large kinds), so a slow spell of the shared machine hits both rather than one
// side's whole run; the paired ratio Python/Go of each round's mean step is the figure, its
// median the one reported (>1: Go is faster). Both sides warm up before timing and draw their
// inputs once.
//
//	go test -run '^$' -bench TrainStep -benchtime 1x ./csad/train/
//
// CSAD_BENCH_ROUNDS sets the rounds (default 10), CSAD_BENCH_THREADS the LibTorch threads of
// both sides (default 2), CSAD_BENCH_BLOCK the steps a side per round (1: step by step, as
// before the blocks); a larger -benchtime adds rounds, up to b.N. With more than one thread
// on a machine other processes use too, set OMP_WAIT_POLICY=passive: libgomp's default
// spin-waiting then costs Python's single-master team far more than Go's (10× or more, seen on
// two shared cores), which would be measured as Go's speed.
func BenchmarkTrainStep(b *testing.B) {
	rounds, err := positiveEnv(benchRoundsEnv, benchRounds, "rounds")
	require.NoError(b, err)
	threads, err := positiveEnv(benchThreadsEnv, benchThreads, "threads")
	require.NoError(b, err)
	if _, err := os.Stat(benchPython); err != nil {
		b.Skipf("no Python to compare with: %v (Debian's python3-torch provides %s)", err, benchPython)
	}
	prev := torch.NumThreads()
	torch.SetNumThreads(threads)
	b.Cleanup(func() { torch.SetNumThreads(prev) })

	// Python builds its networks and warms up while Go builds its own: nothing is timed yet.
	py, err := startTwin(b, benchTwin, strconv.Itoa(threads))
	require.NoError(b, err)
	s := torch.NewScope()
	b.Cleanup(func() { assert.NoError(b, s.Close()) })
	steps := []struct {
		kind string
		step func() error
	}{{"lgst", lgstBenchStep(b, s)}, {"seg", segBenchStep(b, s)}}
	for _, c := range convNetSizes {
		steps = append(steps, struct {
			kind string
			step func() error
		}{c.kind(), convNetBenchStep(b, s, c)})
	}
	for _, k := range steps {
		require.NoError(b, k.step(), "Go %s warm-up step", k.kind)
	}
	if reason, err := py.ready(); err != nil {
		require.NoError(b, err)
	} else if reason != "" {
		b.Skipf("the Python twin cannot run: %s (install Debian's python3-torch and python3-torchvision)", reason)
	}
	// The parent's log is not printed: each result carries the warning.
	spinning := os.Getenv("OMP_WAIT_POLICY") == "" && threads > 1
	for _, k := range steps {
		b.Run(k.kind, func(b *testing.B) { benchPaired(b, py, k.kind, k.step, max(rounds, b.N), spinning) })
	}
}

// blockSteps is how many steps each side runs back to back in a round: benchBlockEnv's number,
// or as many as take about benchBlockWall on the Go side (at least one). A step of a few
// milliseconds timed alone, right after the other process ran, is mostly that switch: the
// caches hold the other side's data and the OpenMP workers are asleep, so one-step rounds
// measured 3–6 ms for a step that takes 2.4–2.7 ms in a loop (8 channels, 16 px, 1 thread),
// and their ratios moved 0.15–4.9× within one run.
// A training loop runs its steps back to back, so a block of them is what a user sees; the
// first step of each block still pays the switch, on both sides alike.
func blockSteps(step func() error) (int, error) {
	if os.Getenv(benchBlockEnv) != "" {
		return positiveEnv(benchBlockEnv, 1, "steps a side per round")
	}
	best := time.Duration(1<<63 - 1)
	for range 3 {
		t0 := time.Now()
		if err := step(); err != nil {
			return 0, err
		}
		best = min(best, time.Since(t0))
	}
	return max(1, int(benchBlockWall/max(best, time.Microsecond))), nil
}

// positiveEnv reads a whole number ≥ 1 of what from the environment variable name.
func positiveEnv(name string, def int, what string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("train: %s=%q: want a whole number of %s ≥ 1 (default %d)", name, v, what, def)
	}
	return n, nil
}

// benchPaired runs rounds Go steps, each followed by one Python step of the same kind, and
// reports the medians: Go's step time overrides ns/op, as the framework's own would time the
// Python steps too.
func benchPaired(b *testing.B, py *trainTwin, kind string, step func() error, rounds int, spinning bool) {
	benchPairedUnit(b, py, "train step "+kind, kind, "step", step, rounds, spinning)
}

// benchPairedUnit is benchPaired for any command: what names it in the log, cmd is the line
// the twin is sent, unit the metric's denominator (step, call). Besides wall time both sides
// report the CPU time their whole process used for the call (every thread: OpenMP workers and,
// on the Go side, the runtime's): on a shared machine the wall-time ratio moves with the load,
// the CPU-time ratio much less, and a wall-time gap that the CPU time does not show is time
// spent waiting, not computing.
func benchPairedUnit(b *testing.B, py *trainTwin, what, cmd, unit string, step func() error, rounds int, spinning bool) {
	// The Go side's loop stays on one OS thread, as Train, TrainLGST and TrainSegmentor do: the
	// goroutine parks on the twin's pipe every round and would otherwise resume on any thread,
	// with another OpenMP team (see torch.StayOnThread).
	defer torch.StayOnThread()()
	block, err := blockSteps(step)
	require.NoError(b, err, "Go %s, timing the block", what)
	var goS, pyS, ratio, goCPU, pyCPU, cpuRatio, goFlt, pyFlt []float64
	for i := range rounds {
		u0 := processUsage()
		t0 := time.Now()
		for j := 0; j < block && err == nil; j++ {
			err = step()
		}
		g := time.Since(t0).Seconds() / float64(block)
		u1 := processUsage()
		require.NoError(b, err, "Go %s %d", what, i+1)
		p, err := py.steps(cmd, block)
		require.NoError(b, err, "Python %s %d", what, i+1)
		goS, pyS, ratio = append(goS, g), append(pyS, p.wall), append(ratio, p.wall/g)
		gc := (u1.cpu - u0.cpu) / float64(block)
		goCPU, pyCPU = append(goCPU, gc), append(pyCPU, p.cpu)
		goFlt, pyFlt = append(goFlt, (u1.faults-u0.faults)/float64(block)), append(pyFlt, p.faults)
		if gc > 0 && p.cpu > 0 {
			cpuRatio = append(cpuRatio, p.cpu/gc)
		}
	}
	goMs, pyMs, z := 1e3*median(goS), 1e3*median(pyS), median(ratio)
	b.ReportMetric(goMs*1e6, "ns/op")
	b.ReportMetric(goMs, "go-ms/"+unit)
	b.ReportMetric(pyMs, "python-ms/"+unit)
	b.ReportMetric(z, "python/go")
	b.ReportMetric(float64(block), "steps/round")
	b.Logf("%s: go %.2f ms, python %.2f ms, go/python speed %.2f× (median of %d paired ratios, %d %ss a side per round)",
		what, goMs, pyMs, z, rounds, block, unit)
	b.Logf("  ratios per round: %s", formatRatios(ratio))
	if len(cpuRatio) > 0 {
		zc := median(cpuRatio)
		b.ReportMetric(zc, "python/go-cpu")
		b.Logf("  CPU time per %s (all threads): go %.2f ms, python %.2f ms, python/go %.2f× (median of %d paired ratios)",
			unit, 1e3*median(goCPU), 1e3*median(pyCPU), zc, len(cpuRatio))
		b.Logf("  page faults per %s (median): go %.0f, python %.0f", unit, median(goFlt), median(pyFlt))
	}
	if spinning {
		b.Logf("  OMP_WAIT_POLICY is unset: on a busy machine OpenMP spin-waiting can dominate these figures; OMP_WAIT_POLICY=passive gives both sides the same idle policy")
	}
}

// usage is what getrusage says of the whole process: CPU seconds (user and system, every
// thread) and minor page faults.
type usage struct{ cpu, faults float64 }

func processUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{
		cpu:    float64(ru.Utime.Sec+ru.Stime.Sec) + 1e-6*float64(ru.Utime.Usec+ru.Stime.Usec),
		faults: float64(ru.Minflt),
	}
}

func median(v []float64) float64 {
	w := slices.Clone(v)
	slices.Sort(w)
	n := len(w)
	if n%2 == 1 {
		return w[n/2]
	}
	return (w[n/2-1] + w[n/2]) / 2
}

func formatRatios(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}

// lgstBenchStep prepares an LGST trainer as the pipeline does (teacher statistics first, the
// official configuration) and returns one step on fixed random batches with a penalty image.
func lgstBenchStep(b *testing.B, s *torch.Scope) func() error {
	net, err := csad.NewInitialised(csad.SmallConfig(5), 7)
	require.NoError(b, err)
	b.Cleanup(func() { assert.NoError(b, net.Close()) })
	statsImages := torch.Randn(s, []int64{2 * benchBatch, 3, benchSize, benchSize}, torch.Float32)
	flat, err := statsImages.Float32s()
	require.NoError(b, err)
	per := len(flat) / (2 * benchBatch)
	imgs := make([][]float32, 2*benchBatch)
	for i := range imgs {
		imgs[i] = flat[i*per : (i+1)*per]
	}
	require.NoError(b, train.TeacherStats(context.Background(), net, imgs, benchBatch, 7))
	tr, err := train.NewLGSTTrainer(net, train.DefaultLGSTTrainConfig())
	require.NoError(b, err)
	b.Cleanup(func() { assert.NoError(b, tr.Close()) })
	image := torch.Randn(s, []int64{benchBatch, 3, benchSize, benchSize}, torch.Float32)
	aug := torch.Randn(s, []int64{benchBatch, 3, benchSize, benchSize}, torch.Float32)
	penalty := torch.Randn(s, []int64{1, 3, benchSize, benchSize}, torch.Float32)
	for _, x := range []*torch.Tensor{image, aug, penalty} {
		require.NoError(b, x.Err())
	}
	return func() error {
		_, err := tr.Step(image, aug, penalty)
		return err
	}
}

// segBenchStep prepares a segmentor trainer (official Adam, intended CE) and returns one step
// of the full objective on fixed random images and blocky random label maps.
func segBenchStep(b *testing.B, s *torch.Scope) func() error {
	net, err := csad.NewInitialised(csad.SmallConfig(5), 8)
	require.NoError(b, err)
	b.Cleanup(func() { assert.NoError(b, net.Close()) })
	tr, err := train.NewSegTrainer(net.Encoder, net.Segmentor, train.DefaultSegTrainConfig())
	require.NoError(b, err)
	b.Cleanup(func() { assert.NoError(b, tr.Close()) })
	low := []int64{benchBatch, benchSize / 8, benchSize / 8}
	batch := train.SupBatch{
		Images: torch.Randn(s, []int64{benchBatch, 3, benchSize, benchSize}, torch.Float32),
		GT:     s.Own(labelMap(torch.Randint(s, 0, 5, low))),
		RandGT: s.Own(labelMap(torch.Randint(s, 0, 5, low))),
	}
	unsup := torch.Randn(s, []int64{benchBatch, 3, benchSize, benchSize}, torch.Float32)
	for _, x := range []*torch.Tensor{batch.Images, batch.GT, batch.RandGT, unsup} {
		require.NoError(b, x.Err())
	}
	return func() error {
		_, err := tr.Step(batch, unsup, false)
		return err
	}
}

// trainTwin is the running Python twin: one command line in, one answer line out.
type trainTwin struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *lockedBuffer
}

// lockedBuffer collects the twin's stderr, written by exec's copying goroutine while the
// benchmark may read it for an error message.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.buf.String())
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// startTwin starts a Python twin script with args; b's cleanup asks it to quit and waits for it
// (or kills it when the benchmark failed half-way and it may be mid-step).
func startTwin(b *testing.B, script string, args ...string) (*trainTwin, error) {
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("train: the Python twin %s is missing: %w", script, err)
	}
	t := &trainTwin{stderr: &lockedBuffer{}}
	t.cmd = exec.Command(benchPython, append([]string{script}, args...)...)
	t.cmd.Env = pythonEnv()
	t.cmd.Stderr = t.stderr
	in, err := t.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("train: python twin stdin: %w", err)
	}
	out, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("train: python twin stdout: %w", err)
	}
	t.in, t.out = in, bufio.NewScanner(out)
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("train: starting %s %s: %w", benchPython, script, err)
	}
	b.Cleanup(func() {
		switch {
		case b.Failed():
			// it may be mid-step: stop it; its exit status then says only that it was killed
			if err := t.cmd.Process.Kill(); !errors.Is(err, os.ErrProcessDone) {
				assert.NoError(b, err, "stopping the python twin")
			}
			var exit *exec.ExitError
			if err := t.cmd.Wait(); !errors.As(err, &exit) {
				assert.NoError(b, err, "python twin")
			}
			return
		case b.Skipped():
			// it said "missing" and exited by itself
			assert.NoError(b, t.in.Close())
			assert.NoError(b, t.cmd.Wait(), "python twin: %s", t.stderr.tail())
			return
		}
		_, err := io.WriteString(t.in, "quit\n")
		assert.NoError(b, err, "asking the python twin to quit")
		assert.NoError(b, t.in.Close())
		assert.NoError(b, t.cmd.Wait(), "python twin: %s", t.stderr.tail())
	})
	return t, nil
}

// pythonEnv is this process's environment without glibc's malloc settings: the Python side
// runs with glibc's defaults, as a user's Python does, whatever a Go-side experiment sets.
func pythonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (t *trainTwin) readLine() (string, error) {
	if t.out.Scan() {
		return t.out.Text(), nil
	}
	err := t.out.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return "", fmt.Errorf("train: python twin stopped answering (%w); its stderr: %s", err, t.stderr.tail())
}

// ready waits for the twin's start-up line: a non-empty reason means it cannot run here.
func (t *trainTwin) ready() (reason string, err error) {
	line, err := t.readLine()
	if err != nil {
		return "", err
	}
	if r, ok := strings.CutPrefix(line, "missing "); ok {
		return r, nil
	}
	if !strings.HasPrefix(line, "ready ") {
		return "", fmt.Errorf("train: python twin said %q, want \"ready <torch version>\"; its stderr: %s", line, t.stderr.tail())
	}
	return "", nil
}

// warm has the forward twin run its untimed warm-up calls at batch size batch.
func (t *trainTwin) warm(batch int) error {
	cmd := "warm " + strconv.Itoa(batch)
	if _, err := io.WriteString(t.in, cmd+"\n"); err != nil {
		return fmt.Errorf("train: sending %q to the python twin: %w; its stderr: %s", cmd, err, t.stderr.tail())
	}
	line, err := t.readLine()
	if err != nil {
		return err
	}
	if line != "warm" {
		return fmt.Errorf("train: python twin answered %q to %q, want \"warm\"; its stderr: %s", line, cmd, t.stderr.tail())
	}
	return nil
}

// opTimes has the forward twin time its operators over calls forward passes at batch size
// batch: name → [calls, seconds].
func (t *trainTwin) opTimes(batch, calls int) (map[string][2]float64, error) {
	cmd := fmt.Sprintf("ops %d %d", batch, calls)
	if _, err := io.WriteString(t.in, cmd+"\n"); err != nil {
		return nil, fmt.Errorf("train: sending %q to the python twin: %w; its stderr: %s", cmd, err, t.stderr.tail())
	}
	line, err := t.readLine()
	if err != nil {
		return nil, err
	}
	var out map[string][2]float64
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		return nil, fmt.Errorf("train: python twin answered %q to %q: %w; its stderr: %s", line, cmd, err, t.stderr.tail())
	}
	return out, nil
}

// twinStep is one timed call on the twin's side: wall and CPU seconds (its whole process) and
// minor page faults; the last two are 0 when the twin reports none.
type twinStep struct{ wall, cpu, faults float64 }

// steps has the twin run n steps of kind back to back and returns their mean. The n commands
// go out in one write, so the twin reads the next one from its pipe without waiting for Go.
func (t *trainTwin) steps(kind string, n int) (twinStep, error) {
	if _, err := io.WriteString(t.in, strings.Repeat(kind+"\n", n)); err != nil {
		return twinStep{}, fmt.Errorf("train: sending %d × %q to the python twin: %w; its stderr: %s", n, kind, err, t.stderr.tail())
	}
	var sum twinStep
	for range n {
		s, err := t.reply(kind)
		if err != nil {
			return twinStep{}, err
		}
		sum.wall, sum.cpu, sum.faults = sum.wall+s.wall, sum.cpu+s.cpu, sum.faults+s.faults
	}
	k := float64(n)
	return twinStep{wall: sum.wall / k, cpu: sum.cpu / k, faults: sum.faults / k}, nil
}

// reply reads the twin's answer to one step of kind.
func (t *trainTwin) reply(kind string) (twinStep, error) {
	line, err := t.readLine()
	if err != nil {
		return twinStep{}, err
	}
	f := strings.Fields(line)
	bad := fmt.Errorf("train: python twin answered %q to %q, want a step time in seconds (and its CPU time and page faults); its stderr: %s", line, kind, t.stderr.tail())
	if len(f) < 1 || len(f) > 3 {
		return twinStep{}, bad
	}
	v := make([]float64, 3)
	for i, x := range f {
		if v[i], err = strconv.ParseFloat(x, 64); err != nil || v[i] < 0 {
			return twinStep{}, bad
		}
	}
	if !(v[0] > 0) {
		return twinStep{}, bad
	}
	return twinStep{wall: v[0], cpu: v[1], faults: v[2]}, nil
}
