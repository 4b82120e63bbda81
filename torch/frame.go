package torch

// Frame is the one way csad-go bounds the memory of a forward (or training) pass: each module's
// Forward opens a frame, brings its inputs in with Use, computes, and hands its outputs back with
// Return; closing the frame frees everything else it made. A loop over layers drops each layer's
// input as soon as the next layer has consumed it with Next. Together this holds what PyTorch's
// reference counting holds: a module's intermediates die when it returns, a layer's input when
// the following layer has run. Autograd is unaffected: the graph keeps what backward needs in
// LibTorch's own reference counts, whatever Go has closed.
//
//	func (b *block) Forward(x *torch.Tensor) *torch.Tensor {
//		f := torch.NewFrame(x)
//		defer f.Close()
//		y := b.conv2.Forward(b.conv1.Forward(f.Use(x)).Relu())
//		return f.Return(y.Add(x).Relu())
//	}
//
// Outputs go to the youngest scope among the inputs given to NewFrame (the caller's scope); with
// no scoped input there is nowhere to put them, and Err reports it, so an unscoped call never
// orphans tensors to the garbage collector.
type Frame struct {
	parent *Scope
	s      *Scope
	err    error
}

// NewFrame opens a frame whose outputs belong to the youngest scope among in; its operations run
// in that scope's autograd mode.
func NewFrame(in ...*Tensor) *Frame {
	parent := resultScope(in)
	f := &Frame{parent: parent, s: newScope(parent.Mode())}
	if parent == nil {
		f.err = errorf("Frame", CodeInvalid, "inputs belong to no scope: create them in a torch.Scope (torch.NewScope, NewNoGradScope, NewInferenceScope)")
	}
	return f
}

// Use returns a handle of t that belongs to the frame: operations on it put their results in
// the frame. t itself is untouched (nil stays nil).
func (f *Frame) Use(t *Tensor) *Tensor {
	if t == nil {
		return nil
	}
	return t.Share(f.s)
}

// Next closes prev (a layer's input the frame no longer needs) and returns next, for chains of
// layers: x = f.Next(x, layer.Forward(x)).
func (f *Frame) Next(prev, next *Tensor) *Tensor {
	if prev != next && prev != nil && prev.scope == f.s {
		prev.Close()
	}
	return next
}

// Return moves t out of the frame into the caller's scope and returns it. A failed t keeps its
// error; a t that never was in the frame is returned as it is.
func (f *Frame) Return(t *Tensor) *Tensor {
	if t == nil || t.scope != f.s {
		return t
	}
	if f.parent == nil {
		// Nowhere to go: the tensor is freed with the frame and reports why.
		return failed(f.err, nil)
	}
	f.s.Keep(t)
	return f.parent.Own(t)
}

// Err reports a frame that cannot return results (no scoped input).
func (f *Frame) Err() error { return f.err }

// Close frees everything the frame still holds. It is idempotent.
func (f *Frame) Close() error { return f.s.Close() }
