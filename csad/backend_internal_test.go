package csad

import (
	"context"
	"image"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingRunner records how many runs overlap.
type countingRunner struct {
	cfg        Config
	now, peak  atomic.Int32
	calls      atomic.Int32
	hold       time.Duration
	want       int32 // passes to wait for before returning
	closeCalls atomic.Int32
}

func (r *countingRunner) run(x []float32, batch int) (hostOutputs, error) {
	n := r.now.Add(1)
	defer r.now.Add(-1)
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			break
		}
	}
	r.calls.Add(1)
	// Hold the pass until as many as the limit allows are in (or a while has gone), so the
	// test sees the bound reached however slowly the callers arrive (-race).
	for deadline := time.Now().Add(r.hold); r.now.Load() < r.want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	s, f := int(r.cfg.ImageSize), int(r.cfg.FeatureSize)
	return hostOutputs{
		score: make([]float32, batch), lgst: make([]float32, batch), patchHist: make([]float32, batch),
		local: make([]float32, batch*f*f), global: make([]float32, batch*f*f), labels: make([]int32, batch*s*s),
	}, nil
}

func (r *countingRunner) close() error { r.closeCalls.Add(1); return nil }

// MaxInFlight bounds the forward passes that run at once, however many goroutines call.
func TestMaxInFlightBoundsConcurrentPasses(t *testing.T) {
	cfg := SmallConfig(5)
	for _, limit := range []int{1, 3} {
		r := &countingRunner{cfg: cfg, hold: 5 * time.Second, want: int32(limit)}
		m := (&Model{rt: r, header: Header{Config: cfg}, opts: Options{Backend: BackendONNXRuntime, MaxInFlight: limit}}).finish()
		img := image.NewRGBA(image.Rect(0, 0, 40, 30))
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				_, err := m.Score(context.Background(), img)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		assert.EqualValues(t, 16, r.calls.Load())
		assert.EqualValues(t, limit, r.peak.Load(), "limit %d", limit)
		require.NoError(t, m.Close())
		assert.EqualValues(t, 1, r.closeCalls.Load())
		_, err := m.Score(context.Background(), img)
		assert.ErrorIs(t, err, ErrClosed)
	}
}

func TestInFlightDefault(t *testing.T) {
	assert.Equal(t, 7, Options{MaxInFlight: 7}.inFlightLimit())
	assert.GreaterOrEqual(t, Options{Threads: 1 << 20}.inFlightLimit(), 1)
	assert.GreaterOrEqual(t, Options{Backend: BackendONNXRuntime}.inFlightLimit(), 1)
}

func TestParseBackend(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Backend
	}{{"", BackendTorch}, {"torch", BackendTorch}, {"onnxruntime", BackendONNXRuntime}, {"tensorrt", BackendTensorRT}} {
		b, err := ParseBackend(c.in)
		require.NoError(t, err)
		assert.Equal(t, c.want, b)
	}
	_, err := ParseBackend("ort")
	require.ErrorContains(t, err, "torch, onnxruntime, tensorrt")
}

func TestRunnerOptionsRefused(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Backend: BackendTensorRT, Engine: "x.engine", Fast: true}, "Fast is an option of the torch and onnxruntime backends"},
		{Options{Backend: BackendONNXRuntime, Device: "cuda"}, "runs on the CPU"},
		{Options{Backend: BackendONNXRuntime, MaxBatch: -1}, "negative"},
		{Options{Backend: BackendONNXRuntime, MaxInFlight: -1}, "negative"},
		{Options{Backend: BackendTensorRT}, "needs Options.Engine"},
	} {
		_, err := Load("does-not-matter.csad", c.o)
		assert.ErrorContains(t, err, c.want, "%+v", c.o)
	}
}
