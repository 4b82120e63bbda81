package csad

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// benchSmallModel writes the reduced golden model (SmallConfig(5)) as a .csad file.
func benchSmallModel(tb testing.TB) string {
	tb.Helper()
	net, err := ImportUnified("../testdata/golden/model_small.pth")
	require.NoError(tb, err)
	defer func() { assert.NoError(tb, net.Close()) }()
	h, err := NewHeader(net, "bench", Provenance{Tool: "bench"})
	require.NoError(tb, err)
	path := filepath.Join(tb.TempDir(), "small.csad")
	require.NoError(tb, SaveModel(path, net, h))
	return path
}

// benchImage is a 256×256 image of seeded random pixels: the model's own input size, so
// preprocessing does not resize.
func benchImage(seed uint64) image.Image {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for y := range 256 {
		for x := range 256 {
			img.SetRGBA(x, y, color.RGBA{uint8(r.UintN(256)), uint8(r.UintN(256)), uint8(r.UintN(256)), 255})
		}
	}
	return img
}

// BenchmarkScore times Model.Score, one image per call, on the reduced model, and reports what
// a call costs besides time: Go heap allocations (B/op, allocs/op), native operator calls and
// tensor handles made per call (torch.Counts), the native objects a call leaves alive (must be
// 0), the live native bytes a call leaves behind (torch.NativeHeapBytes after the calls less
// before them, per call: must be 0 to within the few bytes that the C library's bookkeeping of
// a new OS thread takes) and the RSS growth per call once warm (the allocator's caches are full
// by then, so a steady state shows 0).
//
//	go test -run '^$' -bench 'BenchmarkScore$' ./csad/
func BenchmarkScore(b *testing.B) {
	m, err := Load(benchSmallModel(b), Options{})
	require.NoError(b, err)
	defer func() { assert.NoError(b, m.Close()) }()
	img := benchImage(1)
	ctx := context.Background()
	for range 20 { // warm-up: LibTorch's and glibc's caches, Go's heap
		_, err := m.Score(ctx, img)
		require.NoError(b, err)
	}
	live0, counts0 := torch.Live(), torch.Counts()
	heap0, heapOK := torch.NativeHeapBytes()
	// RSS is read at the middle and at the end: growth over the second half is what a call
	// keeps, without the allocator caches that the first calls still fill.
	var rssMid int64
	mid := b.N / 2

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i == mid && b.N >= 2 {
			b.StopTimer()
			rssMid = settledRSS(b)
			b.StartTimer()
		}
		if _, err := m.Score(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	live1, counts1 := torch.Live(), torch.Counts()
	heap1, _ := torch.NativeHeapBytes()
	n := float64(b.N)
	if heapOK {
		b.ReportMetric(float64(heap1)/(1<<20), "MiB-native-live")
		b.ReportMetric(float64(heap1-heap0)/n, "native-growth-B/op")
		if growth := heap1 - heap0; growth > nativeSlack() {
			b.Errorf("live native memory grew by %d bytes over %d calls (%d → %d): a call must give back what it allocates", growth, b.N, heap0, heap1)
		}
	}
	b.ReportMetric(float64(counts1.OpCalls-counts0.OpCalls)/n, "opcalls/op")
	b.ReportMetric(float64(counts1.Tensors-counts0.Tensors)/n, "tensors/op")
	b.ReportMetric(float64(live1.Tensors-live0.Tensors)/n, "live-tensors/op")
	if b.N >= 2 {
		b.ReportMetric(float64(settledRSS(b)-rssMid)/float64(b.N-mid), "rss-growth-B/op")
	}
	if live1.Tensors != live0.Tensors || live1.Scopes != live0.Scopes {
		b.Errorf("native objects after %d calls: %v; before: %v: every call must free what it made", b.N, live1, live0)
	}
	if live1.Collected != live0.Collected {
		b.Errorf("%d tensors were left to the garbage collector", live1.Collected-live0.Collected)
	}
}

// nativeSlack is what the live native bytes may grow by over BenchmarkScore's calls without a
// leak. glibc's per-thread cache (tcache) keeps up to 7 freed blocks of each of its 64 sizes up
// to 1 KiB, which mallinfo2 counts as in use: up to about 240 KiB per allocating thread (1 MiB
// for the few that call LibTorch here). With the cache off
// (GLIBC_TUNABLES=glibc.malloc.tcache_count=0) the figure is exact but for the thread-local
// storage of an OS thread Go starts meanwhile (about 1.5 KiB each): 4 KiB. A leaked tensor per
// call exceeds either over the calls of a benchmark run; TestScoreLeavesNoNativeMemory checks it
// call by call with the cache off.
func nativeSlack() int64 {
	if strings.Contains(os.Getenv("GLIBC_TUNABLES"), "tcache_count=0") {
		return 4 << 10
	}
	return 1 << 20
}

// settledRSS is the RSS after the Go heap has been collected and handed back.
func settledRSS(tb testing.TB) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	rss, err := torchtest.ReadRSS()
	require.NoError(tb, err)
	return rss
}

// Environment of the child process of BenchmarkConcurrentCallers.
const (
	concurrentCaseEnv  = "CSAD_CONCURRENT_CASE"  // callers,maxInFlight,callsPerCaller,fast,gather
	concurrentModelEnv = "CSAD_CONCURRENT_MODEL" // the .csad file
)

// BenchmarkConcurrentCallers shares one Model among 1, 8 and 64 goroutines (one per camera,
// say), each scoring its own images one at a time, and prints the throughput and the peak RSS:
// in exact mode with the default Options.MaxInFlight (the CPUs ÷ the intra-op threads) and with
// MaxInFlight = callers (every call's forward pass at once, as before the bound existed), and
// in fast mode with the default bound, without and with Options.GatherBatch = 8 (queued single
// images sharing a pass). Each case runs in a fresh process, so that its VmHWM is its own (load
// included; "MiB-loaded" is the RSS after the load, before any call). Every case scores 64
// images in all.
//
//	go test -run '^$' -bench ConcurrentCallers -benchtime 1x ./csad/
func BenchmarkConcurrentCallers(b *testing.B) {
	model := benchSmallModel(b)
	const images = 64
	for _, callers := range []int{1, 8, 64} {
		for _, c := range []concurrentCase{
			{name: "exact/maxinflight=default"},
			{name: "exact/maxinflight=callers", maxInFlight: callers},
			{name: "fast/maxinflight=default", fast: true},
			{name: "fast/maxinflight=default/gather=8", fast: true, gather: 8},
		} {
			c.callers, c.calls = callers, images/callers
			b.Run(fmt.Sprintf("callers=%d/%s", callers, c.name), func(b *testing.B) {
				var r concurrentResult
				for range b.N {
					var err error
					r, err = runConcurrentCase(model, c)
					require.NoError(b, err)
				}
				b.ReportMetric(r.imagesPerS, "images/s")
				b.ReportMetric(float64(r.hwm)/(1<<20), "MiB-peak-rss")
				b.ReportMetric(float64(r.loaded)/(1<<20), "MiB-loaded")
				b.ReportMetric(float64(r.inFlight), "max-in-flight")
				fmt.Printf("concurrent callers %2d, %-34s (in flight %2d): %6.1f images/s, peak RSS %5.0f MiB (%4.0f MiB after loading)\n",
					callers, c.name, r.inFlight, r.imagesPerS, float64(r.hwm)/(1<<20), float64(r.loaded)/(1<<20))
			})
		}
	}
}

// concurrentCase is one configuration of BenchmarkConcurrentCallers.
type concurrentCase struct {
	name                string
	callers, calls      int
	maxInFlight, gather int
	fast                bool
}

func (c concurrentCase) env() string {
	fast := 0
	if c.fast {
		fast = 1
	}
	return fmt.Sprintf("%d,%d,%d,%d,%d", c.callers, c.maxInFlight, c.calls, fast, c.gather)
}

type concurrentResult struct {
	imagesPerS  float64
	hwm, loaded int64
	inFlight    int
}

// runConcurrentCase runs TestConcurrentCallersChild in a fresh copy of this test binary.
func runConcurrentCase(model string, c concurrentCase) (concurrentResult, error) {
	callers := c.callers
	cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentCallersChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), concurrentModelEnv+"="+model, concurrentCaseEnv+"="+c.env())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return concurrentResult{}, fmt.Errorf("concurrent case %d callers: %w\n%s", callers, err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r concurrentResult
		if _, err := fmt.Sscanf(strings.TrimSpace(sc.Text()), "concurrent-result %g %d %d %d", &r.imagesPerS, &r.hwm, &r.loaded, &r.inFlight); err == nil {
			return r, nil
		}
	}
	return concurrentResult{}, fmt.Errorf("concurrent case %d callers: no result line in\n%s", callers, out)
}

// TestConcurrentCallersChild is one case of BenchmarkConcurrentCallers; it runs only in the
// child process the benchmark starts.
func TestConcurrentCallersChild(t *testing.T) {
	spec := os.Getenv(concurrentCaseEnv)
	if spec == "" {
		t.Skip("runs as a child of BenchmarkConcurrentCallers")
	}
	v, err := torchtest.CaseInts(spec, 5)
	require.NoError(t, err, "%s", concurrentCaseEnv)
	callers, maxInFlight, calls, fast, gather := v[0], v[1], v[2], v[3], v[4]
	require.True(t, callers >= 1 && maxInFlight >= 0 && calls >= 1, "%s=%q", concurrentCaseEnv, spec)

	m, err := Load(os.Getenv(concurrentModelEnv), Options{MaxInFlight: maxInFlight, Fast: fast == 1, GatherBatch: gather})
	require.NoError(t, err)
	defer func() { assert.NoError(t, m.Close()) }()
	imgs := make([]image.Image, callers)
	for i := range imgs {
		imgs[i] = benchImage(uint64(i))
	}
	// One untimed call loads LibTorch's kernels, as a server's first request would.
	_, err = m.Score(context.Background(), imgs[0])
	require.NoError(t, err)
	loaded, err := torchtest.ReadRSS()
	require.NoError(t, err)

	perS, err := torchtest.RunCallers(callers, calls, func(c int) error {
		_, err := m.Score(context.Background(), imgs[c])
		return err
	})
	require.NoError(t, err)
	hwm, err := torchtest.ProcStatusBytes("VmHWM")
	require.NoError(t, err)
	fmt.Printf("concurrent-result %g %d %d %d\n", perS, hwm, loaded, cap(m.slots))
}
