package csad

import (
	"context"
	"errors"
	"image"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/imageproc"
)

// markingRunner gives each image of a pass the score of its first input value, so a caller can
// tell whose result it got, and records the batch size of every pass. The first pass waits for
// release.
type markingRunner struct {
	cfg     Config
	release chan struct{}
	mu      sync.Mutex
	batches []int
}

func (r *markingRunner) run(x []float32, batch int) (hostOutputs, error) {
	r.mu.Lock()
	first := len(r.batches) == 0
	r.batches = append(r.batches, batch)
	r.mu.Unlock()
	if first {
		<-r.release
	}
	s, f := int(r.cfg.ImageSize), int(r.cfg.FeatureSize)
	o := hostOutputs{
		score: make([]float32, batch), lgst: make([]float32, batch), patchHist: make([]float32, batch),
		local: make([]float32, batch*f*f), global: make([]float32, batch*f*f), labels: make([]int32, batch*s*s),
	}
	for i := range batch {
		o.score[i] = x[i*3*s*s]
	}
	return o, nil
}

func (r *markingRunner) close() error { return nil }

// grey is a uniform image of level v.
func grey(v uint8) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	return img
}

// waitPending waits until n requests are queued.
func waitPending(t *testing.T, m *Model, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return m.gather.Len() == n }, 10*time.Second, time.Millisecond)
}

// Single images queued behind a busy pass share the next passes, oldest first, up to
// GatherBatch each, and every caller gets the result of its own image.
func TestGatherBatchSharesPasses(t *testing.T) {
	cfg := SmallConfig(5)
	r := &markingRunner{cfg: cfg, release: make(chan struct{})}
	m := (&Model{rt: r, header: Header{Config: cfg}, opts: Options{Backend: BackendONNXRuntime, MaxInFlight: 1, GatherBatch: 4}}).finish()
	defer func() { assert.NoError(t, m.Close()) }()

	const callers = 10
	marks := make([]float64, callers)
	got := make([]float64, callers)
	var wg sync.WaitGroup
	for i := range callers {
		marks[i] = float64(imageproc.Preprocess(grey(uint8(20+20*i)), int(cfg.ImageSize))[0])
	}
	// The first call's pass holds the only slot; the other nine queue behind it.
	wg.Go(func() {
		res, err := m.Score(context.Background(), grey(20))
		assert.NoError(t, err)
		got[0] = res.Score
	})
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.batches) == 1 }, 10*time.Second, time.Millisecond)
	for i := 1; i < callers; i++ {
		wg.Go(func() {
			res, err := m.Score(context.Background(), grey(uint8(20+20*i)))
			assert.NoError(t, err)
			got[i] = res.Score
		})
		waitPending(t, m, i) // one at a time, so the queue's order is known
	}
	close(r.release)
	wg.Wait()
	assert.Equal(t, marks, got, "each caller must get its own image's result")
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Equal(t, []int{1, 4, 4, 1}, r.batches, "passes of up to GatherBatch, oldest images first")
}

// A caller whose context ends while it waits leaves the queue; the others are scored.
func TestGatherBatchCancelledWhileQueued(t *testing.T) {
	cfg := SmallConfig(5)
	r := &markingRunner{cfg: cfg, release: make(chan struct{})}
	m := (&Model{rt: r, header: Header{Config: cfg}, opts: Options{Backend: BackendONNXRuntime, MaxInFlight: 1, GatherBatch: 8}}).finish()
	defer func() { assert.NoError(t, m.Close()) }()
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := m.Score(context.Background(), grey(1))
		assert.NoError(t, err)
	})
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.batches) == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	var cancelledErr error
	wg.Go(func() { _, cancelledErr = m.Score(ctx, grey(2)) })
	waitPending(t, m, 1)
	wg.Go(func() {
		_, err := m.Score(context.Background(), grey(3))
		assert.NoError(t, err)
	})
	waitPending(t, m, 2)
	cancel()
	waitPending(t, m, 1)
	close(r.release)
	wg.Wait()
	assert.True(t, errors.Is(cancelledErr, context.Canceled), "got %v", cancelledErr)
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Equal(t, []int{1, 1}, r.batches, "the cancelled image is not scored")
}

// Gathering is refused in exact mode, where a batch changes the float rounding.
func TestGatherBatchRefusedInExactMode(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{GatherBatch: 4}, "needs Fast or another backend"},
		{Options{GatherBatch: -1}, "negative"},
		{Options{GatherBatch: 65, Fast: true}, "above 64"},
	} {
		assert.ErrorContains(t, checkCounts(c.o), c.want, "%+v", c.o)
	}
	for _, o := range []Options{{GatherBatch: 1}, {GatherBatch: 8, Fast: true}, {GatherBatch: 8, Backend: BackendONNXRuntime}} {
		assert.NoError(t, checkCounts(o), "%+v", o)
	}
	_, err := Load(benchSmallModel(t), Options{GatherBatch: 4})
	require.ErrorContains(t, err, "in exact mode a batch changes")
}

// A gathered pass hands each caller exactly what ScoreBatch gives its image in a batch of the
// same images in the same order: bit for bit, on the real reduced model, in fast mode and on
// ONNX Runtime.
func TestGatherBatchEqualsScoreBatch(t *testing.T) {
	model := benchSmallModel(t)
	for _, o := range []Options{
		{Fast: true, MaxInFlight: 1, GatherBatch: 6, MaxBatch: 6},
		{Backend: BackendONNXRuntime, MaxInFlight: 1, GatherBatch: 6, MaxBatch: 6},
	} {
		name := "torch-fast"
		if o.Backend != "" {
			name = string(o.Backend)
		}
		t.Run(name, func(t *testing.T) {
			m, err := Load(model, o)
			require.NoError(t, err)
			defer func() { assert.NoError(t, m.Close()) }()
			const callers = 6
			imgs := make([]image.Image, callers)
			for i := range imgs {
				imgs[i] = benchImage(uint64(100 + i))
			}
			// Hold the only slot so that every caller queues, then let the first one in take
			// them all.
			m.slots <- struct{}{}
			got := make([]*Result, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					r, err := m.Score(context.Background(), imgs[i])
					assert.NoError(t, err)
					got[i] = r
				})
			}
			waitPending(t, m, callers)
			order := make([]int, callers)
			for j, in := range m.gather.Waiting() {
				order[j] = slices.IndexFunc(imgs, func(img image.Image) bool { return img == in.img })
			}
			<-m.slots
			wg.Wait()

			batch := make([]image.Image, callers)
			for j, i := range order {
				batch[j] = imgs[i]
			}
			want, err := m.ScoreBatch(context.Background(), batch)
			require.NoError(t, err)
			for j, i := range order {
				require.NotNil(t, got[i])
				assert.Equal(t, want[j], got[i], "caller %d (position %d of the gathered pass)", i, j)
			}
			// One caller appending to its maps must not write into another's.
			first, second := got[order[0]], got[order[1]]
			keep := append([]float32(nil), second.Local...)
			_ = append(first.Local, 1e9)
			_ = append(first.Segmentation, 200)
			assert.Equal(t, keep, second.Local)
			assert.Equal(t, want[1].Segmentation, second.Segmentation)
		})
	}
}
