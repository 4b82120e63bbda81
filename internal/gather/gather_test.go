package gather_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/internal/gather"
)

// recorder is a pass that returns ten times each input and records the inputs of every pass;
// the first pass waits for release.
type recorder struct {
	release chan struct{}
	mu      sync.Mutex
	passes  [][]int
}

func (r *recorder) run(ins []int) ([]int, error) {
	r.mu.Lock()
	first := len(r.passes) == 0
	r.passes = append(r.passes, append([]int(nil), ins...))
	r.mu.Unlock()
	if first {
		<-r.release
	}
	outs := make([]int, len(ins))
	for i, v := range ins {
		outs[i] = 10 * v
	}
	return outs, nil
}

func (r *recorder) passCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.passes)
}

func waitLen(t *testing.T, q *gather.Queue[int, int], n int) {
	t.Helper()
	require.Eventually(t, func() bool { return q.Len() == n }, 10*time.Second, time.Millisecond)
}

// Calls queued behind a busy pass share the next passes, oldest first, up to the limit each, and
// every caller gets its own output.
func TestQueueSharesPasses(t *testing.T) {
	var q gather.Queue[int, int]
	slots := make(chan struct{}, 1)
	r := &recorder{release: make(chan struct{})}
	const callers = 10
	got := make([]int, callers)
	var wg sync.WaitGroup
	call := func(i int) {
		out, err := q.Do(context.Background(), slots, 4, i, r.run)
		assert.NoError(t, err)
		got[i] = out
	}
	wg.Go(func() { call(0) })
	require.Eventually(t, func() bool { return r.passCount() == 1 }, 10*time.Second, time.Millisecond)
	for i := 1; i < callers; i++ {
		wg.Go(func() { call(i) })
		waitLen(t, &q, i) // one at a time, so the queue's order is known
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, q.Waiting())
	close(r.release)
	wg.Wait()
	assert.Equal(t, []int{0, 10, 20, 30, 40, 50, 60, 70, 80, 90}, got, "each caller gets its own input's output")
	assert.Equal(t, [][]int{{0}, {1, 2, 3, 4}, {5, 6, 7, 8}, {9}}, r.passes, "passes of up to 4, oldest first")
	assert.Zero(t, q.Len())
	assert.Empty(t, slots, "every slot is given back")
}

// A caller whose context ends while it waits leaves the queue and is not run; the others are.
func TestQueueCancelledWhileQueued(t *testing.T) {
	var q gather.Queue[int, int]
	slots := make(chan struct{}, 1)
	r := &recorder{release: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := q.Do(context.Background(), slots, 8, 1, r.run)
		assert.NoError(t, err)
	})
	require.Eventually(t, func() bool { return r.passCount() == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	var cancelledErr error
	wg.Go(func() { _, cancelledErr = q.Do(ctx, slots, 8, 2, r.run) })
	waitLen(t, &q, 1)
	wg.Go(func() {
		out, err := q.Do(context.Background(), slots, 8, 3, r.run)
		assert.NoError(t, err)
		assert.Equal(t, 30, out)
	})
	waitLen(t, &q, 2)
	cancel()
	waitLen(t, &q, 1)
	close(r.release)
	wg.Wait()
	assert.ErrorIs(t, cancelledErr, context.Canceled)
	assert.Equal(t, [][]int{{1}, {3}}, r.passes, "the cancelled input is not run")
}

// A pass that fails, or returns the wrong number of outputs, fails every call in it.
func TestQueuePassErrorReachesEveryCaller(t *testing.T) {
	errPass := errors.New("out of memory")
	for _, c := range []struct {
		name string
		run  func([]int) ([]int, error)
		want string
	}{
		{"error", func([]int) ([]int, error) { return nil, errPass }, "out of memory"},
		{"short", func(ins []int) ([]int, error) { return ins[:1], nil }, "a pass of 3 inputs returned 1 outputs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var q gather.Queue[int, int]
			slots := make(chan struct{}, 1)
			slots <- struct{}{} // busy, so that all three queue and share one pass
			errs := make([]error, 3)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() { _, errs[i] = q.Do(context.Background(), slots, 8, i, c.run) })
			}
			waitLen(t, &q, 3)
			<-slots
			wg.Wait()
			for i, err := range errs {
				assert.ErrorContains(t, err, c.want, "caller %d", i)
			}
		})
	}
}

// A pass that panics panics in the caller that ran it; every other caller of the pass gets an
// error instead of waiting for ever, and the slot is given back.
func TestQueuePanicInPass(t *testing.T) {
	var q gather.Queue[int, int]
	slots := make(chan struct{}, 1)
	slots <- struct{}{}
	var panics atomic.Int32
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			defer func() {
				if recover() != nil {
					panics.Add(1)
				}
			}()
			_, errs[i] = q.Do(context.Background(), slots, 8, i, func([]int) ([]int, error) { panic("kernel bug") })
		})
	}
	waitLen(t, &q, 3)
	<-slots
	wg.Wait()
	assert.Equal(t, int32(1), panics.Load(), "the caller that ran the pass panics")
	failed := 0
	for _, err := range errs {
		if err != nil {
			assert.ErrorContains(t, err, "panicked in another caller's goroutine")
			failed++
		}
	}
	assert.Equal(t, 2, failed, "the other two callers get an error")
	assert.Empty(t, slots, "the slot is given back")
	assert.Zero(t, q.Len())
}

// A limit below 1 runs one input a pass rather than none.
func TestQueueLimitBelowOne(t *testing.T) {
	var q gather.Queue[int, int]
	out, err := q.Do(context.Background(), make(chan struct{}, 1), 0, 7, func(ins []int) ([]int, error) { return ins, nil })
	require.NoError(t, err)
	assert.Equal(t, 7, out)
}

// Four callers of one model share passes of up to 8 inputs, one pass at a time.
func ExampleQueue() {
	var q gather.Queue[string, int]
	slots := make(chan struct{}, 1) // one pass at a time
	pass := func(words []string) ([]int, error) {
		lengths := make([]int, len(words))
		for i, w := range words {
			lengths[i] = len(w)
		}
		return lengths, nil
	}
	words := []string{"tray", "juice", "bottle", "pushpin"}
	lengths := make([]int, len(words))
	var wg sync.WaitGroup
	for i, w := range words {
		wg.Go(func() {
			n, err := q.Do(context.Background(), slots, 8, w, pass)
			if err != nil {
				log.Fatal(err)
			}
			lengths[i] = n
		})
	}
	wg.Wait()
	fmt.Println(lengths)
	// Output: [4 5 6 7]
}
