package csad

import (
	"context"
	"image"
	"slices"
	"sync"
)

// gatherRequest is one single-image call waiting for a forward pass it may share.
type gatherRequest struct {
	input []float32 // preprocessed, 3×S×S
	img   image.Image
	done  chan struct{} // closed once result or an error is set

	result   *Result
	imageErr error // this image's result is unusable (ErrNonFinite)
	passErr  error // the shared pass failed
}

// gatherQueue holds the single images that wait for a pass, oldest first.
type gatherQueue struct {
	mu      sync.Mutex
	pending []*gatherRequest
}

func (q *gatherQueue) push(r *gatherRequest) {
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()
}

// take removes up to n of the oldest requests.
func (q *gatherQueue) take(n int) []*gatherRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.pending))
	batch := slices.Clone(q.pending[:n])
	q.pending = slices.Delete(q.pending, 0, n)
	return batch
}

// remove takes r out of the queue; false when a pass has taken it already.
func (q *gatherQueue) remove(r *gatherRequest) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.pending, r)
	if i < 0 {
		return false
	}
	q.pending = slices.Delete(q.pending, i, i+1)
	return true
}

// scoreGathered scores one preprocessed image, in a pass of its own or shared with others that
// wait at the same time. A call that gets a slot runs the oldest waiting images (its own among
// them unless more than GatherBatch are older; then it runs theirs and goes on), so every slot
// is used as soon as it frees and no image waits behind a younger one. A call whose image
// another call has taken waits for that pass's result.
func (m *Model) scoreGathered(ctx context.Context, input []float32, img image.Image) (*gatherRequest, error) {
	req := &gatherRequest{input: input, img: img, done: make(chan struct{})}
	m.gather.push(req)
	for {
		select {
		case <-req.done:
			return req, nil
		case <-ctx.Done():
			if m.gather.remove(req) {
				return nil, ctx.Err()
			}
			<-req.done // in a pass already: its result is moments away
			return req, nil
		case m.slots <- struct{}{}:
		}
		if batch := m.gather.take(m.opts.GatherBatch); len(batch) > 0 {
			m.runGathered(batch)
		}
		<-m.slots
	}
}

// runGathered runs one pass of the batch's images and hands each request its result.
func (m *Model) runGathered(batch []*gatherRequest) {
	size := len(batch[0].input)
	buf := make([]float32, 0, len(batch)*size)
	imgs := make([]image.Image, len(batch))
	for i, r := range batch {
		buf = append(buf, r.input...)
		imgs[i] = r.img
	}
	rs, errs, err := m.forward(buf, imgs)
	for i, r := range batch {
		if err != nil {
			r.passErr = err
		} else {
			r.result, r.imageErr = rs[i], errs[i]
		}
		close(r.done)
	}
}
