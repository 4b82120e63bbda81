package torch_test

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// trainGolden is the folder testdata/gen_golden_train.py fills on this machine (train.safetensors,
// net_script.pt; torchtest.GoldenDir).
func trainGolden(t *testing.T, name string) string {
	return filepath.Join(torchtest.GoldenDir(t, "../testdata", "gen_golden_train.py"), name)
}

// A module traced and saved by testdata/gen_golden_train.py runs from Go with identical output
// (tolerance: none).
func TestGoldenTorchScript(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, trainGolden(t, "train.safetensors"))
	defer torchtest.UseGoldenThreads(t, meta)()
	m, err := torch.LoadScript(trainGolden(t, "net_script.pt"))
	require.NoError(t, err)
	defer m.Close()
	x := s.Own(g["x"].Narrow(0, 1, 1).Squeeze(0))
	out, err := m.Forward(x)
	require.NoError(t, err)
	require.Len(t, out, 1)
	torchtest.RequireBitwise(t, "script output", out[0], g["script/out"])
	_, err = m.Call("no_such_method", x)
	assert.ErrorContains(t, err, "no_such_method", "calling a missing method succeeded")
	require.NoError(t, m.Close())
	_, err = m.Forward(x)
	assert.ErrorIs(t, err, torch.ErrClosed)
	assert.EqualError(t, err, "torch: ScriptModule.forward: use after close: the module was closed; load it again")
	assert.ErrorIs(t, m.SetTraining(true), torch.ErrClosed)
}

// SetTraining changes the module while other goroutines run it: it must hold the module's lock
// for writing. Run with -race: `go test -race -run Script ./torch/`.
func TestScriptSetTrainingConcurrent(t *testing.T) {
	s := torch.NewInferenceScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, trainGolden(t, "train.safetensors"))
	defer torchtest.UseGoldenThreads(t, meta)()
	m, err := torch.LoadScript(trainGolden(t, "net_script.pt"))
	require.NoError(t, err)
	defer m.Close()
	assert.False(t, m.Training(), "LoadScript leaves the module in eval mode")
	x := s.Own(g["x"].Narrow(0, 1, 1).Squeeze(0))
	require.NoError(t, x.Err())

	const rounds = 20
	errs := make(chan error, 4*rounds)
	var trainingReads atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if w%2 == 0 {
					errs <- m.SetTraining(i%2 == 0)
					continue
				}
				if m.Training() { // the read that races with an unlocked write
					trainingReads.Add(1)
				}
				out, err := m.Forward(x)
				for _, o := range out {
					err = errorsJoin(err, o.Close())
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d of %d reads saw training mode", trainingReads.Load(), 2*rounds)
	require.NoError(t, m.SetTraining(true))
	assert.True(t, m.Training())
	require.NoError(t, m.SetTraining(false))
	assert.False(t, m.Training())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
