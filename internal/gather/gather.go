// Package gather lets calls that each have one input and wait for a forward pass share one: the
// call that gets the next free slot runs the oldest waiting inputs together and hands every
// caller its own output. Under load that is batching's gain per image without any caller
// batching its own; with no queue each call runs alone. csad.Model and ortscore.Scorer use it
// for their GatherBatch option.
package gather

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Queue holds the inputs waiting for a pass, oldest first. The zero value is ready to use; a
// Queue must not be copied after first use.
type Queue[In, Out any] struct {
	mu      sync.Mutex
	pending []*request[In, Out]
}

// request is one call waiting for its output.
type request[In, Out any] struct {
	in   In
	done chan struct{} // closed once out or err is set
	out  Out
	err  error
}

// Do queues in and returns its output. slots holds a token for each pass in flight (a channel
// whose capacity is the bound on passes, shared with callers that do not gather). A waiting call
// that gets a token runs up to limit (at least 1) of the oldest queued inputs, its own among them
// unless more than limit are older (then it runs theirs and waits for the next token), so every slot is used
// as soon as it frees and no input waits behind a younger one. run gets the inputs of one pass
// and returns one output for each, in order, or an error that every caller of the pass gets.
// A call whose ctx ends while its input is queued returns ctx.Err(); once a pass has taken the
// input, the call waits for that pass instead, which is already running.
func (q *Queue[In, Out]) Do(ctx context.Context, slots chan struct{}, limit int, in In, run func([]In) ([]Out, error)) (Out, error) {
	limit = max(limit, 1)
	req := &request[In, Out]{in: in, done: make(chan struct{})}
	q.push(req)
	for {
		select {
		case <-req.done:
			return req.out, req.err
		case <-ctx.Done():
			if q.remove(req) {
				var zero Out
				return zero, ctx.Err()
			}
			<-req.done
			return req.out, req.err
		case slots <- struct{}{}:
		}
		q.runOldest(slots, limit, run)
	}
}

// errPanicked is what the other callers of a pass get when run panics; the caller that ran it
// gets the panic.
var errPanicked = errors.New("gather: the forward pass panicked in another caller's goroutine")

// runOldest runs one pass of up to limit of the oldest waiting inputs, then gives back the slot
// its caller took, also when run panics.
func (q *Queue[In, Out]) runOldest(slots chan struct{}, limit int, run func([]In) ([]Out, error)) {
	defer func() { <-slots }()
	batch := q.take(limit)
	if len(batch) == 0 {
		return
	}
	ins := make([]In, len(batch))
	for i, r := range batch {
		ins[i] = r.in
	}
	answered := false
	defer func() {
		if !answered { // run panicked: no caller of the pass may wait for ever
			for _, r := range batch {
				r.err = errPanicked
				close(r.done)
			}
		}
	}()
	outs, err := run(ins)
	if err == nil && len(outs) != len(ins) {
		err = fmt.Errorf("gather: a pass of %d inputs returned %d outputs", len(ins), len(outs))
	}
	for i, r := range batch {
		if err != nil {
			r.err = err
		} else {
			r.out = outs[i]
		}
		close(r.done)
	}
	answered = true
}

// Len returns the number of inputs waiting.
func (q *Queue[In, Out]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Waiting returns the waiting inputs, oldest first.
func (q *Queue[In, Out]) Waiting() []In {
	q.mu.Lock()
	defer q.mu.Unlock()
	ins := make([]In, len(q.pending))
	for i, r := range q.pending {
		ins[i] = r.in
	}
	return ins
}

func (q *Queue[In, Out]) push(r *request[In, Out]) {
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()
}

// take removes up to n of the oldest requests.
func (q *Queue[In, Out]) take(n int) []*request[In, Out] {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.pending))
	batch := slices.Clone(q.pending[:n])
	q.pending = slices.Delete(q.pending, 0, n)
	return batch
}

// remove takes r out of the queue; false when a pass has taken it already.
func (q *Queue[In, Out]) remove(r *request[In, Out]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.pending, r)
	if i < 0 {
		return false
	}
	q.pending = slices.Delete(q.pending, i, i+1)
	return true
}
