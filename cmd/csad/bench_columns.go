package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/ort"
	"github.com/csad-go/csad/torch"
)

// benchColumn is one engine of 'csad bench'. A column that could not be set up reports why in
// loadErr and makes no calls.
type benchColumn interface {
	name() string
	loadErr() error
	// call makes one forward pass on in and returns its wall time; with scores, also the
	// per-image scores.
	call(in *benchInput, scores bool) (secs float64, s []float64, err error)
	close()
}

// benchInput is one batch size's input, the same values for every column: torch.randn after
// torch.manual_seed(seed), as a tensor for LibTorch and in Go memory for ONNX Runtime. Python
// draws its own copy the same way.
type benchInput struct {
	batch int
	size  int64
	t     *torch.Tensor
	host  []float32 // only when a column needs it
}

func newBenchInput(cols []benchColumn, size int64, batch int, seed uint64) (*benchInput, error) {
	if err := torch.ManualSeed(seed); err != nil {
		return nil, err
	}
	in := &benchInput{batch: batch, size: size}
	in.t = torch.Randn(nil, []int64{int64(batch), 3, size, size}, torch.Float32)
	if err := in.t.Err(); err != nil {
		in.t.Close()
		return nil, err
	}
	needHost := slices.ContainsFunc(cols, func(c benchColumn) bool {
		return (c.name() == colORT || c.name() == colORTFast) && c.loadErr() == nil
	})
	if needHost {
		var err error
		if in.host, err = in.t.Float32s(); err != nil {
			in.t.Close()
			return nil, err
		}
	}
	return in, nil
}

func (in *benchInput) close() { in.t.Close() }

// openColumns sets up o.columns in turn order. Only a model file that cannot be read at all is
// an error; a column that fails to set up carries its error and the others go on. Loading every
// column once, before any timing, keeps the rounds free of loads; the cost is memory: the torch
// columns hold a copy of the weights each and ONNX Runtime its own.
func openColumns(o benchOptions, threads int, workers map[string]*pyColumn, logf func(string, ...any)) ([]benchColumn, csad.Header, error) {
	net, h, err := csad.LoadModel(o.model)
	if err != nil {
		return nil, csad.Header{}, err
	}
	// The ONNX columns export net before the exact column takes it over.
	ortCols := map[string]*ortColumn{}
	for _, name := range o.columns {
		if name == colORT || name == colORTFast {
			logf("%s: exporting the model to ONNX in memory", name)
			ortCols[name] = newORTColumn(net, h, threads, name == colORTFast)
		}
	}
	var cols []benchColumn
	for _, name := range o.columns {
		switch name {
		case colExact:
			m, err := csad.NewModel(net, h, csad.Options{Threads: o.threads})
			net = nil // the Model owns it now, or has freed it
			cols = append(cols, &torchColumn{col: name, m: m, err: err})
		case colFast, colBF16:
			m, err := csad.Load(o.model, csad.Options{Threads: o.threads, Fast: true, BFloat16: name == colBF16})
			cols = append(cols, &torchColumn{col: name, m: m, err: err})
		case colORT, colORTFast:
			cols = append(cols, ortCols[name])
		case colPython, colPyBF16:
			c := workers[name]
			if c.err == nil {
				logf("%s: waiting for the worker to load the model", name)
				c.err = c.w.ready()
			}
			cols = append(cols, c)
		}
	}
	if net != nil {
		if err := net.Close(); err != nil {
			closeColumns(cols)
			return nil, csad.Header{}, err
		}
	}
	for _, c := range cols {
		if err := c.loadErr(); err != nil {
			logf("%s: %v (left out)", c.name(), err)
		}
	}
	return cols, h, nil
}

func closeColumns(cols []benchColumn) {
	for _, c := range cols {
		c.close()
	}
}

// torchColumn scores through csad.Model.ScoreTensor, each call in an inference scope of its own
// that is closed inside the timing, so freeing is timed too.
type torchColumn struct {
	col string
	m   *csad.Model
	err error
}

func (c *torchColumn) name() string   { return c.col }
func (c *torchColumn) loadErr() error { return c.err }
func (c *torchColumn) close() {
	if c.m != nil {
		// The figures are already taken; a failing free of the weights cannot change them.
		if err := c.m.Close(); err != nil && c.err == nil {
			c.err = err
		}
		c.m = nil
	}
}

func (c *torchColumn) call(in *benchInput, scores bool) (float64, []float64, error) {
	t0 := time.Now()
	var sc []float64
	err := func() error {
		// in.t joins the scope for the call (so every result lands there) and leaves it before
		// the scope frees everything else.
		s := torch.NewInferenceScope()
		s.Own(in.t)
		defer func() {
			s.Keep(in.t)
			s.Close()
		}()
		o, err := c.m.ScoreTensor(in.t)
		if err != nil || !scores {
			return err
		}
		sc, err = o.Score.Float64s()
		return err
	}()
	return time.Since(t0).Seconds(), sc, err
}

// ortColumn runs ONNX Runtime on the graph csad.ExportONNX writes with maps (fast mode's graph
// with fast), through an ort.Session with the bench's intra-op threads: the session and graph
// the onnxruntime backend of csad.Model builds from a .csad file.
type ortColumn struct {
	col     string
	sess    *ort.Session
	version string
	err     error
}

// newORTColumn exports net in memory and compiles the graph; net stays the caller's.
func newORTColumn(net *csad.Network, h csad.Header, threads int, fast bool) *ortColumn {
	c := &ortColumn{col: colORT}
	if fast {
		c.col = colORTFast
	}
	graph, err := csad.ExportONNX(net, h, csad.ExportOptions{Maps: true, Fast: fast})
	if err != nil {
		c.err = err
		return c
	}
	if c.sess, err = ort.NewSession(graph, ort.Options{Threads: threads}); err != nil {
		c.err = err
		return c
	}
	if c.version, err = ort.Version(); err != nil {
		c.err = err
	}
	return c
}

func (c *ortColumn) name() string   { return c.col }
func (c *ortColumn) loadErr() error { return c.err }
func (c *ortColumn) close() {
	if c.sess != nil {
		if err := c.sess.Close(); err != nil && c.err == nil {
			c.err = err
		}
		c.sess = nil
	}
}

func (c *ortColumn) call(in *benchInput, scores bool) (float64, []float64, error) {
	t0 := time.Now()
	out, err := c.sess.Run(map[string]ort.Tensor{
		csad.ONNXInput: {Shape: []int64{int64(in.batch), 3, in.size, in.size}, Float32: in.host},
	})
	secs := time.Since(t0).Seconds()
	if err != nil || !scores {
		return secs, nil, err
	}
	s := out[csad.ONNXScore].Float32
	if len(s) != in.batch {
		return secs, nil, fmt.Errorf("output %q has %d values for a batch of %d", csad.ONNXScore, len(s), in.batch)
	}
	sc := make([]float64, len(s))
	for i, v := range s {
		sc[i] = float64(v)
	}
	return secs, sc, nil
}

// pyColumn asks the Python worker for one call; the worker times it itself, so the pipe's
// latency is not counted.
type pyColumn struct {
	col string // python or python-bf16
	w   *pyWorker
	err error
}

func (c *pyColumn) name() string   { return c.col }
func (c *pyColumn) loadErr() error { return c.err }
func (c *pyColumn) close() {
	if c.w != nil {
		c.w.close()
		c.w = nil
	}
}

func (c *pyColumn) call(in *benchInput, scores bool) (float64, []float64, error) {
	r, err := c.w.run(in.batch)
	if err != nil {
		return 0, nil, err
	}
	if scores && r.Scores == nil {
		return r.Seconds, nil, fmt.Errorf("bench_ref.py sent no scores on its first call of batch %d", in.batch)
	}
	return r.Seconds, r.Scores, nil
}
