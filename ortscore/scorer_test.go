package ortscore_test

import (
	"context"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/ortscore"
)

func ptr(v float64) *float64 { return &v }

// TestScoreFake checks the wiring of Result against what the fake graph computes from the
// preprocessed image: the reductions and the max pool exactly (float32 maxima), the mean and the
// average pool to 1e-6 (ONNX Runtime's summation order is its own), the argmax exactly, and
// AnomalyMap as Resize of Local+Global, bit for bit.
func TestScoreFake(t *testing.T) {
	thr := 0.0
	s, err := ortscore.Load(writeFake(t, fake(&thr)), ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	h := s.Header()
	assert.Equal(t, "fake", h.Category)
	assert.Equal(t, 32, h.ImageSize)
	assert.Equal(t, 8, h.FeatureSize)
	require.NotNil(t, h.Threshold)
	assert.Equal(t, 0.0, *h.Threshold)
	*h.Threshold = 5 // a copy: the scorer's threshold stays
	assert.Equal(t, 0.0, *s.Header().Threshold)

	img := testImage(45, 29, 3)
	r, err := s.Score(context.Background(), img)
	require.NoError(t, err)
	x := imageproc.Preprocess(img, 32)
	const n = 32 * 32
	var sum float64
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range x {
		sum += float64(v)
		lo, hi = min(lo, v), max(hi, v)
	}
	assert.InDelta(t, sum/float64(len(x)), r.Score, 1e-6)
	assert.Equal(t, float64(hi), r.LGST)
	assert.Equal(t, float64(lo), r.PatchHist)
	assert.Equal(t, r.Score > 0, r.Anomalous)
	assert.Equal(t, 8, r.MapSide)
	require.Len(t, r.Local, 64)
	require.Len(t, r.Global, 64)
	for my := range 8 {
		for mx := range 8 {
			var avg float64
			peak := float32(math.Inf(-1))
			for dy := range 4 {
				for dx := range 4 {
					p := (4*my+dy)*32 + 4*mx + dx
					avg += float64(x[p])
					peak = max(peak, x[n+p])
				}
			}
			assert.InDelta(t, avg/16, r.Local[my*8+mx], 1e-6)
			assert.Equal(t, peak, r.Global[my*8+mx])
		}
	}
	require.Len(t, r.Segmentation, n)
	for p := range n {
		best := 0
		for c := 1; c < 3; c++ {
			if x[c*n+p] > x[best*n+p] {
				best = c
			}
		}
		require.Equal(t, uint8(best), r.Segmentation[p], "pixel %d", p)
	}
	assert.Equal(t, 45, r.Width)
	assert.Equal(t, 29, r.Height)
	combined := make([]float32, 64)
	for i := range combined {
		combined[i] = r.Local[i] + r.Global[i]
	}
	want, err := ortscore.Resize(combined, 8, 8, 45, 29)
	require.NoError(t, err)
	assert.Equal(t, want, r.AnomalyMap)
}

func TestScoreBatchInOrder(t *testing.T) {
	s, err := ortscore.Load(writeFake(t, fake(nil)), ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	imgs := []image.Image{testImage(40, 40, 1), testImage(13, 70, 2), testImage(40, 40, 3)}
	rs, err := s.ScoreBatch(context.Background(), imgs)
	require.NoError(t, err)
	require.Len(t, rs, 3)
	for i, img := range imgs {
		one, err := s.Score(context.Background(), img)
		require.NoError(t, err)
		assert.Equal(t, one, rs[i], "image %d", i)
		assert.False(t, rs[i].Anomalous, "no threshold, never anomalous")
	}
	assert.NotEqual(t, rs[0].Score, rs[2].Score, "different images, different scores")
	assert.Equal(t, 13, rs[1].Width)

	empty, err := s.ScoreBatch(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
}

// TestLoadErrors: every file that is not a csad-go graph with maps fails at Load with the cause
// and the fix.
func TestLoadErrors(t *testing.T) {
	good, err := fake(nil).Graph()
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, atomicfile.WriteFile(p, data))
		return p
	}
	graph := func(f ortscore.Fake) string {
		data, err := f.Graph()
		require.NoError(t, err)
		return write("g.onnx", data)
	}
	noHeader := fake(nil)
	noHeader.Header = ""
	noMaps := fake(nil)
	noMaps.NoMaps = true
	seg64 := fake(nil)
	seg64.Seg64 = true
	wrongSize := fake(nil)
	wrongSize.Header = ortscore.FakeHeader(64, nil)
	badJSON := fake(nil)
	badJSON.Header = `{"config": 3`
	zeroSize := fake(nil)
	zeroSize.Header = `{"category":"x","config":{"image_size":0,"feature_size":0}}`

	for _, c := range []struct {
		name string
		path func() string
		opts ortscore.Options
		want []string
	}{
		{"missing file", func() string { return filepath.Join(dir, "nope.onnx") }, ortscore.Options{}, []string{"ortscore: load model", "no such file"}},
		{"empty file", func() string { return write("empty.onnx", nil) }, ortscore.Options{}, []string{"empty (0 bytes)"}},
		{"truncated", func() string { return write("half.onnx", good[:len(good)/2]) }, ortscore.Options{}, []string{"ortscore: load", "truncated or not an .onnx file"}},
		{"not onnx", func() string { return write("text.onnx", []byte("hello, this is text")) }, ortscore.Options{}, []string{"truncated or not an .onnx file"}},
		{"fixture without header", func() string { return filepath.Join("..", "testdata", "ort", "fixture.onnx") }, ortscore.Options{}, []string{`no "csad.header" metadata`, "'csad export -maps'"}},
		{"no header", func() string { return graph(noHeader) }, ortscore.Options{}, []string{`no "csad.header" metadata`, "'csad export -maps'"}},
		{"no maps", func() string { return graph(noMaps) }, ortscore.Options{}, []string{`has no output "local_map"`, "exported without maps", "'csad export -maps'"}},
		{"int64 segmentation", func() string { return graph(seg64) }, ortscore.Options{}, []string{`output "segmentation" as int64 [-1 32 32], want int32`}},
		{"header size differs", func() string { return graph(wrongSize) }, ortscore.Options{}, []string{`input "input" as float32 [-1 3 32 32], want float32 [-1 3 64 64]`}},
		{"unreadable header", func() string { return graph(badJSON) }, ortscore.Options{}, []string{`unreadable "csad.header"`}},
		{"zero sizes", func() string { return graph(zeroSize) }, ortscore.Options{}, []string{"image_size 0 and feature_size 0"}},
		{"negative threads", func() string { return graph(fake(nil)) }, ortscore.Options{Threads: -1}, []string{"Options.Threads is -1"}},
		{"negative in flight", func() string { return graph(fake(nil)) }, ortscore.Options{MaxInFlight: -2}, []string{"Options.MaxInFlight is -2"}},
		{"negative gather", func() string { return graph(fake(nil)) }, ortscore.Options{GatherBatch: -1}, []string{"Options.GatherBatch is -1", "up to 64"}},
		{"gather above 64", func() string { return graph(fake(nil)) }, ortscore.Options{GatherBatch: 65}, []string{"Options.GatherBatch is 65", "up to 64"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ortscore.Load(c.path(), c.opts)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestScoreErrors(t *testing.T) {
	s, err := ortscore.Load(writeFake(t, fake(nil)), ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	ctx := context.Background()

	_, err = s.Score(ctx, nil)
	require.EqualError(t, err, "ortscore: image 0: the image is nil")
	_, err = s.ScoreBatch(ctx, []image.Image{testImage(8, 8, 1), nil})
	require.EqualError(t, err, "ortscore: image 1: the image is nil")
	_, err = s.Score(ctx, image.NewRGBA(image.Rect(3, 3, 3, 9)))
	require.EqualError(t, err, "ortscore: image 0: the image is empty (0×6)")

	defer imageproc.SetMaxPixels(imageproc.SetMaxPixels(100))
	_, err = s.Score(ctx, testImage(11, 10, 1))
	require.ErrorIs(t, err, imageproc.ErrTooLarge)
	assert.Contains(t, err.Error(), "11×10 is above imageproc.MaxPixels (100 pixels)")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.ScoreBatch(cancelled, []image.Image{testImage(8, 8, 1)})
	require.ErrorIs(t, err, context.Canceled)
}

// TestNonFinite: a graph whose score is ±Inf or NaN fails with ErrNonFinite, worded as
// csad.ErrNonFinite.
func TestNonFinite(t *testing.T) {
	for _, scale := range []float32{float32(math.Inf(1)), float32(math.NaN())} {
		f := fake(nil)
		f.ScoreScale = scale
		s, err := ortscore.Load(writeFake(t, f), ortscore.Options{Threads: 1})
		require.NoError(t, err)
		_, err = s.Score(context.Background(), testImage(20, 20, 4))
		require.ErrorIs(t, err, ortscore.ErrNonFinite)
		assert.EqualError(t, err, "ortscore: image 0: score is not finite (NaN or ±Inf): the model's weights or normalisers are damaged; re-train or re-import it")
		require.NoError(t, s.Close())
	}
}

// TestClassOutOfRange: a class that does not fit Segmentation's uint8 is an error, not a wrap.
func TestClassOutOfRange(t *testing.T) {
	f := fake(nil)
	f.ClassOffset = 254 // classes 254..256
	s, err := ortscore.Load(writeFake(t, f), ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	_, err = s.Score(context.Background(), testImage(64, 64, 5))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "class 256")
}

func TestClosed(t *testing.T) {
	s, err := ortscore.Load(writeFake(t, fake(nil)), ortscore.Options{Threads: 1})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	_, err = s.Score(context.Background(), testImage(8, 8, 1))
	require.ErrorIs(t, err, ortscore.ErrClosed)
	assert.EqualError(t, err, "ortscore: scorer is closed")
	var nilScorer *ortscore.Scorer
	assert.NoError(t, nilScorer.Close())
}

// TestConcurrent: many goroutines share a Scorer; at most MaxInFlight passes run at once (and
// that many do), and every result equals the image's result scored alone.
func TestConcurrent(t *testing.T) {
	const limit, callers = 2, 12
	s, err := ortscore.Load(writeFake(t, fake(nil)), ortscore.Options{Threads: 1, MaxInFlight: limit})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	imgs := make([]image.Image, callers)
	want := make([]*ortscore.Result, callers)
	for i := range imgs {
		imgs[i] = testImage(20+i, 30, uint64(i))
		want[i], err = s.Score(context.Background(), imgs[i])
		require.NoError(t, err)
	}
	var running, peak atomic.Int32
	s.SetBeforeRun(func(int) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
	})
	got := make([]*ortscore.Result, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { got[i], errs[i] = s.Score(context.Background(), imgs[i]) })
	}
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, want[i], got[i], "caller %d", i)
	}
	assert.Equal(t, int32(limit), peak.Load(), "passes at once")
}

// TestCloseWaitsForCalls: Close returns only after the pass in flight has finished, and that
// pass succeeds; a call waiting for a slot gives up when its context ends.
func TestCloseWaitsForCalls(t *testing.T) {
	s, err := ortscore.Load(writeFake(t, fake(nil)), ortscore.Options{Threads: 1, MaxInFlight: 1})
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.SetBeforeRun(func(int) {
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	done := make(chan error, 1)
	go func() {
		_, err := s.Score(context.Background(), testImage(16, 16, 1))
		done <- err
	}()
	<-entered

	// The only slot is taken: a second call waits, and its deadline ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = s.Score(ctx, testImage(16, 16, 2))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a pass was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done, "the pass in flight completes")
	require.NoError(t, <-closed)
	_, err = s.Score(context.Background(), testImage(16, 16, 3))
	require.True(t, errors.Is(err, ortscore.ErrClosed), "%v", err)
}

// TestLoadKeepsNoFile: Load reads the file once; the Scorer works after the file is gone.
func TestLoadKeepsNoFile(t *testing.T) {
	path := writeFake(t, fake(nil))
	s, err := ortscore.Load(path, ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, os.Remove(path))
	_, err = s.Score(context.Background(), testImage(9, 9, 1))
	require.NoError(t, err)
}

// gatherBehindFirst scores imgs[0] alone on s (MaxInFlight 1), its pass held until the others
// have queued behind it one at a time, so the queue holds imgs[1:] in order; then lets them
// run. It returns every image's result and the batch size of every pass.
func gatherBehindFirst(t *testing.T, s *ortscore.Scorer, imgs []image.Image) ([]*ortscore.Result, []int) {
	t.Helper()
	entered, release, batches := holdFirstPass(s)
	defer s.SetBeforeRun(nil)
	got := make([]*ortscore.Result, len(imgs))
	var wg sync.WaitGroup
	call := func(i int) {
		r, err := s.Score(context.Background(), imgs[i])
		assert.NoError(t, err, "image %d", i)
		got[i] = r
	}
	wg.Go(func() { call(0) })
	<-entered
	for i := 1; i < len(imgs); i++ {
		wg.Go(func() { call(i) })
		require.Eventually(t, func() bool { return s.Waiting() == i }, 10*time.Second, time.Millisecond)
	}
	close(release)
	wg.Wait()
	return got, batches()
}

// holdFirstPass makes s record the batch size of every pass and hold the first one until
// release is closed; entered is closed once it is held.
func holdFirstPass(s *ortscore.Scorer) (entered, release chan struct{}, batches func() []int) {
	entered, release = make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	s.SetBeforeRun(func(batch int) {
		mu.Lock()
		sizes = append(sizes, batch)
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
	})
	return entered, release, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sizes)
	}
}

// TestGatherBatch: single images queued behind a busy pass share the next passes, oldest first,
// up to GatherBatch each, and every caller gets its own image's result: what the image gives
// alone, the float32 maxima and the argmax exactly, the means to 1e-6 (a batch may sum in
// another order).
func TestGatherBatch(t *testing.T) {
	path := writeFake(t, fake(nil))
	alone, err := ortscore.Load(path, ortscore.Options{Threads: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, alone.Close()) }()
	s, err := ortscore.Load(path, ortscore.Options{Threads: 1, MaxInFlight: 1, GatherBatch: 4})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	imgs := make([]image.Image, 10)
	for i := range imgs {
		imgs[i] = testImage(20+3*i, 30-i, uint64(40+i))
	}
	got, batches := gatherBehindFirst(t, s, imgs)
	assert.Equal(t, []int{1, 4, 4, 1}, batches, "passes of up to GatherBatch, oldest images first")
	for i, img := range imgs {
		want, err := alone.Score(context.Background(), img)
		require.NoError(t, err)
		r := got[i]
		require.NotNil(t, r, "image %d", i)
		assert.InDelta(t, want.Score, r.Score, 1e-6, "image %d score", i)
		assert.Equal(t, want.LGST, r.LGST, "image %d lgst", i)
		assert.Equal(t, want.PatchHist, r.PatchHist, "image %d patch_hist", i)
		assert.InDeltaSlice(t, want.Local, r.Local, 1e-6, "image %d local", i)
		assert.Equal(t, want.Global, r.Global, "image %d global", i)
		assert.Equal(t, want.Segmentation, r.Segmentation, "image %d segmentation", i)
		assert.InDeltaSlice(t, want.AnomalyMap, r.AnomalyMap, 1e-6, "image %d anomaly map", i)
		assert.Equal(t, [2]int{want.Width, want.Height}, [2]int{r.Width, r.Height}, "image %d size", i)
		// A result's slices are its own: appending to one caller's map leaves the next caller's.
		assert.Equal(t, len(r.Local), cap(r.Local), "image %d local is capped", i)
		assert.Equal(t, len(r.Segmentation), cap(r.Segmentation), "image %d segmentation is capped", i)
	}
	assert.Zero(t, s.Waiting())
}

// TestGatherBatchCancelledWhileQueued: a caller whose context ends while it waits leaves the
// queue, and its image is not scored.
func TestGatherBatchCancelledWhileQueued(t *testing.T) {
	s, err := ortscore.Load(writeFake(t, fake(nil)), ortscore.Options{Threads: 1, MaxInFlight: 1, GatherBatch: 8})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	entered, release, batches := holdFirstPass(s)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := s.Score(context.Background(), testImage(16, 16, 1))
		assert.NoError(t, err)
	})
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	var cancelledErr error
	wg.Go(func() { _, cancelledErr = s.Score(ctx, testImage(16, 16, 2)) })
	require.Eventually(t, func() bool { return s.Waiting() == 1 }, 10*time.Second, time.Millisecond)
	wg.Go(func() {
		_, err := s.Score(context.Background(), testImage(16, 16, 3))
		assert.NoError(t, err)
	})
	require.Eventually(t, func() bool { return s.Waiting() == 2 }, 10*time.Second, time.Millisecond)
	cancel()
	require.Eventually(t, func() bool { return s.Waiting() == 1 }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.ErrorIs(t, cancelledErr, context.Canceled)
	assert.Equal(t, []int{1, 1}, batches(), "the cancelled image is not scored")
}
