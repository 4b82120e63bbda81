package csad

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"sync"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/internal/gather"
	"github.com/csad-go/csad/torch"
)

// Options tune a loaded Model.
type Options struct {
	// Threads is LibTorch's intra-op thread count for the whole process; 0 keeps the current one.
	Threads int
	// Fast is inference in the fastest arithmetic measured here (Network.UseChannelsLast):
	// oneDNN's convolutions with weights laid out once at load, on maps kept in oneDNN's
	// blocked layout between them, BatchNorm folded into the convolutions, the teacher
	// projection before its resize and pool; about 1.3× exact mode on the CPU. Maps and the
	// LGST score stay within 2.5e-7 of PyTorch's; a near-tie in the segmentation's argmax can
	// flip a few pixels (≥ 99.995 % equal), which moves the patch-histogram score accordingly
	// (docs/numerics.md#fast-mode). Without it every result is bit for bit what the official
	// PyTorch model computes on the same LibTorch. The Model then holds only the derived
	// weights (the originals are freed once folded), so Network() is nil: load without Fast to
	// save, export or train. On BackendONNXRuntime, Fast runs fast mode's graph
	// (ExportOptions.Fast) made from a .csad file; an .onnx file runs the graph it holds.
	Fast bool
	// BFloat16, with Fast on the torch backend, runs the student's and the autoencoder's
	// convolutions in bfloat16 (Network.UseBFloat16): about 1.7× float32 fast mode at paper
	// size, on CPUs with AVX512_BF16 or AMX-BF16 only (CheckBFloat16CPU). The segmentation and the patch-histogram
	// score stay float32 fast mode's; the LGST score moves by up to about 1 %
	// (docs/numerics.md#bfloat16).
	BFloat16 bool
	// Device runs the model on "cpu" (default), "cuda" or "cuda:N"; CUDA needs a CUDA build of
	// LibTorch (README: Another LibTorch).
	Device string
	// MaxBatch caps the images per forward pass in ScoreBatch and ScoreFiles. The default, 1,
	// scores every image alone, which is what makes results bit for bit those of the official
	// model. Larger batches are faster per image on some machines, but LibTorch's convolutions
	// split their work by batch size, so scores then differ by float32 rounding (≈1e-7) and,
	// rarely, an argmax tie flips a segmentation pixel.
	MaxBatch int
	// Backend is the inference engine: BackendTorch (default), BackendONNXRuntime or
	// BackendTensorRT. Device applies to the torch backend only, Fast to torch and onnxruntime.
	Backend Backend
	// Engine is the TensorRT engine file that BackendTensorRT runs (cmd/build-engine makes it
	// from the same .csad model).
	Engine string
	// MaxInFlight bounds the forward passes that run at once when many goroutines share the
	// Model (one per camera, say); later calls wait their turn in arrival order. Each pass
	// already uses every intra-op thread, so running more at once only adds memory (about
	// 220 MiB per paper-size image). 0 means the machine's CPUs divided by the intra-op
	// threads, at least 1.
	MaxInFlight int
	// GatherBatch, above 1, lets single-image calls that wait for a forward pass (MaxInFlight
	// passes already running) share one: whichever call gets the next pass takes up to
	// GatherBatch waiting images, oldest first, into one batch and hands each caller its own
	// result. Under load that is batching's gain per image (README: batch 8 against batch 1)
	// without any caller batching its own images; with no queue each call runs alone, as
	// before. It needs Fast or a backend other than torch: in exact mode a batch changes
	// LibTorch's float rounding, and a result would depend on which calls arrived with it.
	GatherBatch int
}

// inFlightLimit resolves Options.MaxInFlight.
func (o Options) inFlightLimit() int {
	if o.MaxInFlight > 0 {
		return o.MaxInFlight
	}
	threads := o.Threads
	if threads <= 0 && o.Backend == BackendTorch {
		threads = torch.NumThreads()
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return max(1, runtime.NumCPU()/threads)
}

// Model is a loaded CSAD scorer. It is safe for concurrent use by many goroutines: the weights
// are read-only and every call works in its own scope. Close it when done.
type Model struct {
	mu     sync.RWMutex // Close waits for calls in flight
	net    *Network     // the torch backend's network
	rt     runner       // any other backend
	header Header
	opts   Options
	// slots holds a token per forward pass in flight. A full channel hands a freed slot to
	// the sender that has waited longest, so waiting calls run in arrival order.
	slots  chan struct{}
	gather gather.Queue[gatherInput, gatherOutput] // single images waiting to share a pass (Options.GatherBatch)
}

// finish completes a Model's construction.
func (m *Model) finish() *Model {
	if m.opts.MaxBatch == 0 {
		m.opts.MaxBatch = 1
	}
	m.slots = make(chan struct{}, m.opts.inFlightLimit())
	return m
}

// Load opens a model file: a .csad file for every backend, or, for BackendONNXRuntime, also an
// .onnx file that 'csad export' wrote (its header travels in the graph's metadata).
func Load(path string, opts Options) (*Model, error) {
	b, err := ParseBackend(string(opts.Backend))
	if err != nil {
		return nil, err
	}
	opts.Backend = b
	if b != BackendTorch {
		if err := checkRunnerOptions(opts); err != nil {
			return nil, err
		}
		rt, h, err := loadRunnerModel(path, opts)
		if err != nil {
			return nil, err
		}
		return (&Model{rt: rt, header: h, opts: opts}).finish(), nil
	}
	if err := checkCounts(opts); err != nil { // before reading a file the options cannot use
		return nil, err
	}
	if opts.BFloat16 {
		if err := CheckBFloat16CPU(); err != nil {
			return nil, err
		}
	}
	net, h, err := LoadModel(path)
	if err != nil {
		return nil, err
	}
	return newModel(net, h, opts)
}

// checkCounts refuses negative sizes, and gathering in exact mode.
func checkCounts(opts Options) error {
	switch {
	case opts.MaxBatch < 0:
		return fmt.Errorf("csad: MaxBatch %d is negative", opts.MaxBatch)
	case opts.MaxInFlight < 0:
		return fmt.Errorf("csad: MaxInFlight %d is negative", opts.MaxInFlight)
	case opts.GatherBatch < 0:
		return fmt.Errorf("csad: GatherBatch %d is negative", opts.GatherBatch)
	case opts.GatherBatch > maxGatherBatch:
		return fmt.Errorf("csad: GatherBatch %d is above %d", opts.GatherBatch, maxGatherBatch)
	case opts.BFloat16 && !opts.Fast:
		return errors.New("csad: BFloat16 is a variant of fast mode: set Fast as well (csad score -fast -bf16)")
	case opts.GatherBatch > 1 && (opts.Backend == BackendTorch || opts.Backend == "") && !opts.Fast:
		return fmt.Errorf("csad: GatherBatch %d needs Fast or another backend: in exact mode a batch changes LibTorch's float rounding, so a result would depend on which calls arrived with it", opts.GatherBatch)
	}
	return nil
}

// maxGatherBatch bounds Options.GatherBatch: a gathered pass holds every image's activations
// at once (about 220 MiB per paper-size image).
const maxGatherBatch = 64

// checkRunnerOptions refuses the torch-only options on another backend.
func checkRunnerOptions(opts Options) error {
	if err := checkCounts(opts); err != nil {
		return err
	}
	if opts.BFloat16 {
		return fmt.Errorf("csad: BFloat16 is an option of the torch backend's fast mode, not of %s", opts.Backend)
	}
	if opts.Fast && opts.Backend != BackendONNXRuntime {
		return fmt.Errorf("csad: Fast is an option of the torch and onnxruntime backends, not of %s: the engine is built from a graph already (cmd/build-engine -fast)", opts.Backend)
	}
	if opts.Device != "" && opts.Device != "cpu" && opts.Backend == BackendONNXRuntime {
		return fmt.Errorf("csad: the onnxruntime backend runs on the CPU (device %q asked)", opts.Device)
	}
	if opts.Backend == BackendTensorRT && opts.Engine == "" {
		return errors.New("csad: the tensorrt backend needs Options.Engine (an engine file from cmd/build-engine)")
	}
	return nil
}

// NewModel wraps a network that is already loaded; the Model takes ownership of it. With
// BackendONNXRuntime the network is exported to ONNX in memory and freed.
func NewModel(net *Network, h Header, opts Options) (*Model, error) { return newModel(net, h, opts) }

func newModel(net *Network, h Header, opts Options) (*Model, error) {
	b, err := ParseBackend(string(opts.Backend))
	if err != nil {
		net.Close()
		return nil, err
	}
	opts.Backend = b
	switch b {
	case BackendONNXRuntime:
		err := checkRunnerOptions(opts)
		var graph []byte
		if err == nil {
			h.Config = net.Config()
			graph, err = ExportONNX(net, h, ExportOptions{Maps: true, Fast: opts.Fast})
		}
		net.Close()
		if err != nil {
			return nil, err
		}
		rt, err := newORTRunner(graph, h.Config, opts)
		if err != nil {
			return nil, err
		}
		return (&Model{rt: rt, header: h, opts: opts}).finish(), nil
	case BackendTensorRT:
		net.Close()
		return nil, errors.New("csad: the tensorrt backend loads its engine with Load(model, Options{Backend: BackendTensorRT, Engine: ...})")
	}
	if err := checkCounts(opts); err != nil {
		net.Close()
		return nil, err
	}
	if opts.Threads > 0 {
		torch.SetNumThreads(opts.Threads)
	}
	dev, err := torch.ParseDevice(opts.Device)
	if err != nil {
		net.Close()
		return nil, fmt.Errorf("csad: %w", err)
	}
	if err := net.To(dev); err != nil {
		net.Close()
		return nil, err
	}
	if opts.Fast {
		// The Model owns net and runs only its fast pass: the originals of the folded weights
		// go (memory: docs/performance.md, "Fast mode keeps one copy of the weights").
		if err := net.keepOnlyFast(opts.BFloat16); err != nil {
			net.Close()
			return nil, err
		}
	}
	h.Config = net.Config()
	return (&Model{net: net, header: h, opts: opts}).finish(), nil
}

// Header describes the model file.
func (m *Model) Header() Header { return m.header }

// Network exposes the underlying network (for tools such as benchmarks); nil on a backend other
// than torch, and with Options.Fast, whose network keeps only fast mode's derived weights.
func (m *Model) Network() *Network {
	if m.net != nil && m.net.fastOnly {
		return nil
	}
	return m.net
}

// Backend is the engine the model runs on.
func (m *Model) Backend() Backend { return m.opts.Backend }

// Close frees the model. Calls in flight finish first; later calls fail.
func (m *Model) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	if m.net != nil {
		err = m.net.Close()
		m.net = nil
	}
	if m.rt != nil {
		err = m.rt.close()
		m.rt = nil
	}
	return err
}

// Result is the outcome for one image.
type Result struct {
	Score     float64 // fused score: z(LGST) + z(patch histogram); higher is more anomalous
	LGST      float64 // local–global student–teacher score (max of the 64×64 map)
	PatchHist float64 // patch-histogram score before its normalisation
	// Local and Global are the normalised MapSide×MapSide maps (row-major): 64×64 at the
	// paper's 256 px input, a quarter of the input side in general.
	Local, Global []float32
	MapSide       int
	// AnomalyMap is Local+Global resized bilinearly to the original image, Width×Height.
	AnomalyMap    []float32
	Width, Height int
	// Segmentation holds the component class of every pixel of the network input (256×256 at
	// the paper's size).
	Segmentation []uint8
	// Anomalous is Score above the model's threshold (Header.Threshold, chosen on validation
	// images in training); false when the model has no threshold.
	Anomalous bool
}

// ErrClosed is returned by calls on a closed Model.
var ErrClosed = errors.New("csad: model is closed")

// ErrNonFinite marks an image whose score came out NaN or infinite: the model's weights or
// normalisers are not finite (a damaged or badly trained model), never a property of the image.
var ErrNonFinite = errors.New("score is not finite (NaN or ±Inf): the model's weights or normalisers are damaged; re-train or re-import it")

// Score scores one image.
func (m *Model) Score(ctx context.Context, img image.Image) (*Result, error) {
	rs, err := m.ScoreBatch(ctx, []image.Image{img})
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// ScoreBatch scores images in forward passes of up to Options.MaxBatch images, results in input
// order. An image whose score is not finite fails the call with an error wrapping ErrNonFinite
// that names it; ScoreFiles reports such images one by one instead.
func (m *Model) ScoreBatch(ctx context.Context, imgs []image.Image) ([]*Result, error) {
	out := make([]*Result, 0, len(imgs))
	for start := 0; start < len(imgs); start += m.opts.MaxBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+m.opts.MaxBatch, len(imgs))
		rs, errs, err := m.scoreChunk(ctx, imgs[start:end])
		if err != nil {
			return nil, err
		}
		for i, e := range errs {
			if e != nil {
				return nil, fmt.Errorf("csad: image %d: %w", start+i, e)
			}
		}
		out = append(out, rs...)
	}
	return out, nil
}

// scoreChunk runs one forward pass; errs[i] is set for an image whose result is unusable.
// A single image may share its pass with other callers' (Options.GatherBatch).
func (m *Model) scoreChunk(ctx context.Context, imgs []image.Image) (rs []*Result, errs []error, err error) {
	size := m.header.Config.ImageSize
	n := int64(len(imgs))
	buf := make([]float32, 0, n*3*size*size)
	for i, img := range imgs {
		if img == nil {
			return nil, nil, fmt.Errorf("csad: image %d is nil", i)
		}
		buf = append(buf, imageproc.Preprocess(img, int(size))...)
	}
	if len(imgs) == 1 && m.opts.GatherBatch > 1 {
		out, err := m.scoreGathered(ctx, buf, imgs[0])
		if err != nil {
			return nil, nil, err
		}
		return []*Result{out.result}, []error{out.imageErr}, nil
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	defer func() { <-m.slots }()
	return m.forward(buf, imgs)
}

// forward runs one forward pass of preprocessed images; the caller holds a slot.
func (m *Model) forward(buf []float32, imgs []image.Image) (rs []*Result, errs []error, err error) {
	defer torch.StayOnThread()()
	size := m.header.Config.ImageSize
	n := int64(len(imgs))
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.rt != nil {
		return m.scoreHost(buf, imgs)
	}
	if m.net == nil {
		return nil, nil, ErrClosed
	}
	s := torch.NewInferenceScope()
	defer s.Close()
	o, err := m.net.Forward(m.net.Input(torch.FromSlice(s, buf, n, 3, size, size)))
	if err != nil {
		return nil, nil, err
	}
	rs, errs, err = collect(o, imgs, int(m.header.Config.FeatureSize))
	if err == nil && m.header.Threshold != nil {
		for _, r := range rs {
			r.Anomalous = r.Score > *m.header.Threshold
		}
	}
	return rs, errs, err
}

// ScoreTensor runs the network on a preprocessed batch (B, 3, S, S) that belongs to a scope and
// returns the raw outputs, owned by that scope. For callers that prepare their own tensors.
func (m *Model) ScoreTensor(x *torch.Tensor) (Outputs, error) {
	defer torch.StayOnThread()()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.rt != nil {
		return Outputs{}, errNoTorchNetwork
	}
	if m.net == nil {
		return Outputs{}, ErrClosed
	}
	return m.net.Forward(x)
}

// collect copies the outputs into Results and resizes the maps to each image.
func collect(o Outputs, imgs []image.Image, side int) ([]*Result, []error, error) {
	score, err := o.Score.Float64s()
	if err != nil {
		return nil, nil, fmt.Errorf("csad: forward: %w", err)
	}
	lgst, err := o.LGST.Float64s()
	if err != nil {
		return nil, nil, err
	}
	ph, err := o.PatchHist.Float64s()
	if err != nil {
		return nil, nil, err
	}
	local, err := o.Local.Float32s()
	if err != nil {
		return nil, nil, err
	}
	global, err := o.Global.Float32s()
	if err != nil {
		return nil, nil, err
	}
	labels, err := o.Labels.To(torch.Uint8).Bytes()
	if err != nil {
		return nil, nil, err
	}
	mm := side * side
	if len(score) != len(imgs) || len(local) != len(imgs)*mm || len(labels)%len(imgs) != 0 {
		return nil, nil, fmt.Errorf("csad: forward returned %d scores and %d map values for %d images", len(score), len(local), len(imgs))
	}
	combined := o.Local.Add(o.Global).Unsqueeze(1)
	defer combined.Close()
	seg := len(labels) / len(imgs)
	rs := make([]*Result, len(imgs))
	errs := make([]error, len(imgs))
	for i, img := range imgs {
		b := img.Bounds()
		w, h := b.Dx(), b.Dy()
		up := combined.Narrow(0, int64(i), 1).Interpolate(int64(h), int64(w), torch.Bilinear, false)
		amap, err := up.Float32s()
		up.Close()
		if err != nil {
			return nil, nil, err
		}
		rs[i] = &Result{
			Score: score[i], LGST: lgst[i], PatchHist: ph[i],
			// Capped slices: the images of a pass may go to different callers (GatherBatch), and
			// one's append must not write into the next one's map.
			Local: local[i*mm : (i+1)*mm : (i+1)*mm], Global: global[i*mm : (i+1)*mm : (i+1)*mm], MapSide: side,
			AnomalyMap: amap, Width: w, Height: h,
			Segmentation: labels[i*seg : (i+1)*seg : (i+1)*seg],
		}
		if !finite(score[i]) || !finite(lgst[i]) || !finite(ph[i]) {
			errs[i] = ErrNonFinite
		}
	}
	return rs, errs, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// FileResult is the outcome for one image file: a Result, or the error that kept it from being
// scored (the other files are scored regardless).
type FileResult struct {
	Path string
	*Result
	// Image is the decoded image (nil when it could not be read), for callers that draw on it.
	Image *imageproc.RGB
	Err   error
}

// ScoreFiles decodes and scores image files in batches; unreadable files get an error of their
// own and do not stop the rest.
func (m *Model) ScoreFiles(ctx context.Context, paths []string) []FileResult {
	out := make([]FileResult, len(paths))
	for start := 0; start < len(paths); start += m.opts.MaxBatch {
		end := min(start+m.opts.MaxBatch, len(paths))
		var imgs []image.Image
		var idx []int
		for i := start; i < end; i++ {
			out[i].Path = paths[i]
			if err := ctx.Err(); err != nil {
				out[i].Err = err
				continue
			}
			img, err := imageproc.Load(paths[i])
			if err != nil {
				out[i].Err = err
				continue
			}
			out[i].Image = img
			imgs = append(imgs, img)
			idx = append(idx, i)
		}
		if len(imgs) == 0 {
			continue
		}
		m.scoreFiles(ctx, imgs, idx, out)
	}
	return out
}

// scoreFiles scores decoded images in forward passes of Options.MaxBatch and files each result
// or error under its index.
func (m *Model) scoreFiles(ctx context.Context, imgs []image.Image, idx []int, out []FileResult) {
	rs, errs, err := m.scoreChunk(ctx, imgs)
	for j, i := range idx {
		switch {
		case err != nil:
			out[i].Err = fmt.Errorf("csad: score %s: %w", out[i].Path, err)
		case errs[j] != nil:
			out[i].Err = fmt.Errorf("csad: score %s: %w", out[i].Path, errs[j])
		default:
			out[i].Result = rs[j]
		}
	}
}
