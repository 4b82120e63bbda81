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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
// 0: live native memory after a call returns to the level before it) and the RSS growth per
// call once warm (the allocator's caches are full by then, so a steady state shows 0).
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
	n := float64(b.N)
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
	concurrentCaseEnv  = "CSAD_CONCURRENT_CASE"  // callers,maxInFlight,callsPerCaller
	concurrentModelEnv = "CSAD_CONCURRENT_MODEL" // the .csad file
)

// BenchmarkConcurrentCallers shares one Model among 1, 8 and 64 goroutines (one per camera,
// say), each scoring its own images one at a time, and prints the throughput and the peak RSS,
// with the default Options.MaxInFlight (the CPUs ÷ the intra-op threads) and with MaxInFlight =
// callers (every call's forward pass at once, as before the bound existed). Each case runs in
// a fresh process, so that its VmHWM is its own (load included; "MiB-loaded" is the RSS after
// the load, before any call). Every case scores 64 images in all.
//
//	go test -run '^$' -bench ConcurrentCallers -benchtime 1x ./csad/
func BenchmarkConcurrentCallers(b *testing.B) {
	model := benchSmallModel(b)
	const images = 64
	for _, callers := range []int{1, 8, 64} {
		for _, bound := range []struct {
			name string
			n    int
		}{{"default", 0}, {"callers", callers}} {
			b.Run(fmt.Sprintf("callers=%d/maxinflight=%s", callers, bound.name), func(b *testing.B) {
				var r concurrentResult
				for range b.N {
					var err error
					r, err = runConcurrentCase(model, callers, bound.n, images/callers)
					require.NoError(b, err)
				}
				b.ReportMetric(r.imagesPerS, "images/s")
				b.ReportMetric(float64(r.hwm)/(1<<20), "MiB-peak-rss")
				b.ReportMetric(float64(r.loaded)/(1<<20), "MiB-loaded")
				b.ReportMetric(float64(r.inFlight), "max-in-flight")
				fmt.Printf("concurrent callers %2d, MaxInFlight %-7s (%2d): %6.1f images/s, peak RSS %5.0f MiB (%4.0f MiB after loading)\n",
					callers, bound.name, r.inFlight, r.imagesPerS, float64(r.hwm)/(1<<20), float64(r.loaded)/(1<<20))
			})
		}
	}
}

type concurrentResult struct {
	imagesPerS  float64
	hwm, loaded int64
	inFlight    int
}

// runConcurrentCase runs TestConcurrentCallersChild in a fresh copy of this test binary.
func runConcurrentCase(model string, callers, maxInFlight, calls int) (concurrentResult, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentCallersChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), concurrentModelEnv+"="+model,
		fmt.Sprintf("%s=%d,%d,%d", concurrentCaseEnv, callers, maxInFlight, calls))
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
	f := strings.Split(spec, ",")
	require.Len(t, f, 3, "%s=%q", concurrentCaseEnv, spec)
	var v [3]int
	for i, s := range f {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "%s=%q", concurrentCaseEnv, spec)
		v[i] = n
	}
	callers, maxInFlight, calls := v[0], v[1], v[2]
	require.True(t, callers >= 1 && maxInFlight >= 0 && calls >= 1, "%s=%q", concurrentCaseEnv, spec)

	m, err := Load(os.Getenv(concurrentModelEnv), Options{MaxInFlight: maxInFlight})
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

	var wg sync.WaitGroup
	errs := make([]error, callers)
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if _, err := m.Score(context.Background(), imgs[c]); err != nil {
					errs[c] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	for c, err := range errs {
		require.NoError(t, err, "caller %d", c)
	}
	hwm := procStatusBytes(t, "VmHWM")
	fmt.Printf("concurrent-result %g %d %d %d\n", float64(callers*calls)/secs, hwm, loaded, cap(m.slots))
}

// procStatusBytes reads a "kB" line of /proc/self/status.
func procStatusBytes(t *testing.T, key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			require.Len(t, f, 2, line)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			require.NoError(t, err, line)
			return kb << 10
		}
	}
	t.Fatalf("/proc/self/status has no %s line", key)
	return 0
}
