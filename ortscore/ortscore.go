package ortscore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/internal/gather"
	"github.com/csad-go/csad/ort"
)

// The names of csad-go's ONNX export (csad/onnx_api.go). They are repeated here, not imported,
// because package csad links LibTorch; TestNamesMatchCSAD keeps the two in step.
const (
	InputName        = "input"
	ScoreName        = "score"
	LGSTName         = "lgst"
	PatchHistName    = "patch_hist"
	SegmentationName = "segmentation"
	LocalMapName     = "local_map"
	GlobalMapName    = "global_map"
	// HeaderKey is the metadata_props key holding the .csad header as JSON.
	HeaderKey = "csad.header"
)

// exportHint is the fix every "not a csad-go graph with maps" error names.
const exportHint = "export the .csad model with 'csad export -maps'"

// maxImageSize bounds the header's image side before anything is sized from it; csad-go's
// configurations stop at 1024.
const maxImageSize = 8192

// ErrClosed is returned by calls on a closed Scorer.
var ErrClosed = errors.New("ortscore: scorer is closed")

// ErrNonFinite marks an image whose score came out NaN or infinite: the model's weights or
// normalisers are not finite (a damaged or badly trained model), never a property of the image.
// Its message is csad.ErrNonFinite's.
var ErrNonFinite = errors.New("score is not finite (NaN or ±Inf): the model's weights or normalisers are damaged; re-train or re-import it")

// Options tune a Scorer.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count for this model; 0 is ONNX Runtime's
	// default (one per core).
	Threads int
	// MaxInFlight bounds the forward passes that run at once when many goroutines share the
	// Scorer; later calls wait their turn in arrival order. 0 means the machine's CPUs divided
	// by Threads (all CPUs when Threads is 0, so 1), at least 1.
	MaxInFlight int
	// GatherBatch, above 1, lets single-image calls that wait for a forward pass (MaxInFlight
	// passes already running) share one: whichever call gets the next pass takes up to
	// GatherBatch waiting images, oldest first, into one batch and hands each caller its own
	// result, as csad.Options.GatherBatch does. Under load that is batching's gain per image
	// without any caller batching its own images; with no queue each call runs alone. ONNX
	// Runtime's results for a batch differ from an image's alone in the last float32 bits
	// (docs/onnx.md), so a gathered score depends, within that rounding, on the images that
	// shared its pass. 0 or 1: a pass per image, at most 64.
	GatherBatch int
}

// maxGatherBatch bounds Options.GatherBatch: larger passes gain nothing per image here and
// hold a large batch's memory at once (csad.Options' bound).
const maxGatherBatch = 64

func (o Options) inFlightLimit() int {
	if o.MaxInFlight > 0 {
		return o.MaxInFlight
	}
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return max(1, runtime.NumCPU()/threads)
}

// Header is the part of the model's .csad header (csad.Header) that scoring needs.
type Header struct {
	Category    string
	ImageSize   int // network input side S: images are resized to S×S
	FeatureSize int // side F of the Local and Global maps, S/4
	// Threshold is the decision threshold on Score chosen in training; nil when the model has
	// none (then Result.Anomalous is always false).
	Threshold *float64
}

// rawHeader mirrors the JSON of csad.Header (csad/modelfile.go, csad/config.go) as far as
// Header needs it; the other fields are ignored.
type rawHeader struct {
	Category string `json:"category"`
	Config   struct {
		ImageSize   int64 `json:"image_size"`
		FeatureSize int64 `json:"feature_size"`
	} `json:"config"`
	Threshold *float64 `json:"threshold"`
}

// Result is the outcome for one image; its fields mean what csad.Result's do.
type Result struct {
	Score     float64 // fused score: z(LGST) + z(patch histogram); higher is more anomalous
	LGST      float64 // local–global student–teacher score (max of the normalised map)
	PatchHist float64 // patch-histogram score before its normalisation
	// Local and Global are the normalised MapSide×MapSide maps (row-major), a quarter of the
	// input side.
	Local, Global []float32
	MapSide       int
	// AnomalyMap is Local+Global resized to the original image, Width×Height, with LibTorch's
	// bilinear interpolation (Resize).
	AnomalyMap    []float32
	Width, Height int
	// Segmentation holds the component class of every pixel of the network input
	// (ImageSize×ImageSize).
	Segmentation []uint8
	// Anomalous is Score above Header.Threshold; false when the model has no threshold.
	Anomalous bool
}

// Scorer scores images with an exported CSAD graph on ONNX Runtime. It is safe for concurrent
// use by many goroutines; Close it when done.
type Scorer struct {
	mu     sync.RWMutex // runs hold it shared, Close exclusively, so Close waits for them
	sess   *ort.Session // nil once closed
	header Header
	// slots holds a token per forward pass in flight. A full channel hands a freed slot to the
	// sender that has waited longest, so waiting calls run in arrival order.
	slots       chan struct{}
	gatherBatch int                          // Options.GatherBatch
	gather      gather.Queue[request, reply] // single images waiting to share a pass
	// beforeRun, when set (by tests only), runs inside a slot and the read lock, just before
	// the forward pass, with the pass's batch size.
	beforeRun func(batch int)
}

// request is one image, preprocessed, with its size.
type request struct {
	x    []float32 // 3×S×S
	w, h int
}

// reply is one image's share of a pass.
type reply struct {
	result *Result
	err    error // this image's result is unusable (ErrNonFinite)
}

// Load opens an .onnx file that csad-go exported with maps ('csad export -maps', or
// csad.ExportONNX with ExportOptions{Maps: true}). The graph must carry the model header in its
// "csad.header" metadata and the outputs score, lgst, patch_hist, local_map, global_map and
// segmentation with the shapes the header implies.
func Load(path string, opts Options) (*Scorer, error) {
	if opts.Threads < 0 {
		return nil, fmt.Errorf("ortscore: Options.Threads is %d; use 0 for ONNX Runtime's default or a positive count", opts.Threads)
	}
	if opts.MaxInFlight < 0 {
		return nil, fmt.Errorf("ortscore: Options.MaxInFlight is %d; use 0 for the default or a positive count", opts.MaxInFlight)
	}
	if opts.GatherBatch < 0 || opts.GatherBatch > maxGatherBatch {
		return nil, fmt.Errorf("ortscore: Options.GatherBatch is %d; use 0 for a pass per image or up to %d to gather waiting images", opts.GatherBatch, maxGatherBatch)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ortscore: load model: %w", err)
	}
	sess, err := ort.NewSession(data, ort.Options{Threads: opts.Threads})
	if err != nil {
		return nil, fmt.Errorf("ortscore: load %s: %w", path, err)
	}
	h, err := checkGraph(sess)
	if err != nil {
		_ = sess.Close() // the graph error is the one worth reporting
		return nil, fmt.Errorf("ortscore: %s %w", path, err)
	}
	return &Scorer{sess: sess, header: h, slots: make(chan struct{}, opts.inFlightLimit()), gatherBatch: opts.GatherBatch}, nil
}

// checkGraph reads the header and makes sure the graph has every input and output Score reads,
// so that a wrong file fails at Load rather than at the first image. Its errors continue a
// sentence that starts with the file's path.
func checkGraph(sess *ort.Session) (Header, error) {
	raw, ok := sess.Metadata()[HeaderKey]
	if !ok {
		return Header{}, fmt.Errorf("has no %q metadata, so it is not a CSAD graph that csad-go exported: %s", HeaderKey, exportHint)
	}
	var rh rawHeader
	if err := json.Unmarshal([]byte(raw), &rh); err != nil {
		return Header{}, fmt.Errorf("has unreadable %q metadata (%v): %s", HeaderKey, err, exportHint)
	}
	s, f := rh.Config.ImageSize, rh.Config.FeatureSize
	if s < 1 || s > maxImageSize || f < 1 || f > s {
		return Header{}, fmt.Errorf("has %q metadata with image_size %d and feature_size %d; want 1..%d and 1..image_size: %s",
			HeaderKey, s, f, maxImageSize, exportHint)
	}
	want := func(kind string, infos []ort.Info, name string, dt ort.DType, dims ...int64) error {
		i := slices.IndexFunc(infos, func(in ort.Info) bool { return in.Name == name })
		if i < 0 {
			return fmt.Errorf("has no %s %q (it was exported without maps, or not by csad-go): %s", kind, name, exportHint)
		}
		shape := append([]int64{-1}, dims...)
		if in := infos[i]; in.DType != dt || !slices.Equal(in.Shape, shape) {
			return fmt.Errorf("has %s %q as %s %v, want %s %v (-1: the batch axis) for the header's image_size %d: %s",
				kind, name, in.DType, in.Shape, dt, shape, s, exportHint)
		}
		return nil
	}
	ins, outs := sess.Inputs(), sess.Outputs()
	if len(ins) != 1 {
		return Header{}, fmt.Errorf("has %d inputs; a csad-go graph has one, %q: %s", len(ins), InputName, exportHint)
	}
	checks := []error{
		want("input", ins, InputName, ort.Float32, 3, s, s),
		want("output", outs, ScoreName, ort.Float32),
		want("output", outs, LGSTName, ort.Float32),
		want("output", outs, PatchHistName, ort.Float32),
		want("output", outs, LocalMapName, ort.Float32, f, f),
		want("output", outs, GlobalMapName, ort.Float32, f, f),
		want("output", outs, SegmentationName, ort.Int32, s, s),
	}
	for _, err := range checks {
		if err != nil {
			return Header{}, err
		}
	}
	return Header{Category: rh.Category, ImageSize: int(s), FeatureSize: int(f), Threshold: rh.Threshold}, nil
}

// Header is the model's header as read from the graph; Threshold points to a copy.
func (s *Scorer) Header() Header {
	h := s.header
	if h.Threshold != nil {
		t := *h.Threshold
		h.Threshold = &t
	}
	return h
}

// Score scores one image.
func (s *Scorer) Score(ctx context.Context, img image.Image) (*Result, error) {
	rs, err := s.ScoreBatch(ctx, []image.Image{img})
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// ScoreBatch scores images in input order, each in a forward pass of its own (or, with
// Options.GatherBatch, shared with other callers' waiting images, as Score does): ONNX
// Runtime's results for a batch of 8 differ from those for the images alone in the last float32
// bits (docs/onnx.md), so batching a caller's images would make a score depend on the images
// beside it; csad.Model also scores one image per pass by default.
// The first image that fails (nil, empty, too large, a non-finite score) fails the call with an
// error naming its index; a cancelled ctx stops the call between images and while it waits for
// a slot.
func (s *Scorer) ScoreBatch(ctx context.Context, imgs []image.Image) ([]*Result, error) {
	out := make([]*Result, 0, len(imgs))
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := s.score(ctx, img)
		if err != nil {
			if errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			return nil, fmt.Errorf("ortscore: image %d: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// score runs one image. Its errors, but ErrClosed and the context's, are completed by
// ScoreBatch with the image's index.
func (s *Scorer) score(ctx context.Context, img image.Image) (*Result, error) {
	if img == nil {
		return nil, errors.New("the image is nil")
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("the image is empty (%d×%d)", w, h)
	}
	if limit := imageproc.MaxPixels(); w > limit/h {
		return nil, fmt.Errorf("%w: %d×%d is above imageproc.MaxPixels (%d pixels)", imageproc.ErrTooLarge, w, h, limit)
	}
	// Every call queues; with GatherBatch 0 or 1 each pass takes the oldest waiting image alone.
	rep, err := s.gather.Do(ctx, s.slots, s.gatherBatch, request{x: imageproc.Preprocess(img, s.header.ImageSize), w: w, h: h}, s.run)
	if err != nil {
		return nil, err
	}
	return rep.result, rep.err
}

// run runs one forward pass of the requests' images; the caller holds a slot.
func (s *Scorer) run(reqs []request) ([]reply, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return nil, ErrClosed
	}
	if s.beforeRun != nil {
		s.beforeRun(len(reqs))
	}
	size := int64(s.header.ImageSize)
	x := reqs[0].x
	if len(reqs) > 1 {
		x = make([]float32, 0, len(reqs)*len(reqs[0].x))
		for _, r := range reqs {
			x = append(x, r.x...)
		}
	}
	out, err := s.sess.Run(map[string]ort.Tensor{InputName: {Shape: []int64{int64(len(reqs)), 3, size, size}, Float32: x}})
	if err != nil {
		return nil, err
	}
	return s.collect(out, reqs)
}

// collect turns one pass's outputs into a reply per image, checking every size against the
// header (ONNX Runtime returns what the graph computed, whatever it declared).
func (s *Scorer) collect(out map[string]ort.Tensor, reqs []request) ([]reply, error) {
	n, side, size := len(reqs), s.header.FeatureSize, s.header.ImageSize
	get := func(name string, per int) ([]float32, error) {
		v := out[name].Float32
		if len(v) != n*per {
			return nil, fmt.Errorf("the graph returned %d float32 values for %q, want %d", len(v), name, n*per)
		}
		return v, nil
	}
	var scalars [3][]float32
	for i, name := range []string{ScoreName, LGSTName, PatchHistName} {
		v, err := get(name, 1)
		if err != nil {
			return nil, err
		}
		scalars[i] = v
	}
	mm := side * side
	local, err := get(LocalMapName, mm)
	if err != nil {
		return nil, err
	}
	global, err := get(GlobalMapName, mm)
	if err != nil {
		return nil, err
	}
	classes := out[SegmentationName].Int32
	if len(classes) != n*size*size {
		return nil, fmt.Errorf("the graph returned %d int32 values for %q, want %d", len(classes), SegmentationName, n*size*size)
	}
	seg := make([]uint8, len(classes))
	for i, c := range classes {
		if c < 0 || c > 255 {
			return nil, fmt.Errorf("the graph returned class %d in %q; classes are 0..255", c, SegmentationName)
		}
		seg[i] = uint8(c)
	}
	reps := make([]reply, n)
	for i, req := range reqs {
		// Capped slices: the images of a pass may go to different callers, and one caller's
		// append must not write into another's map.
		lo, hi, ss := i*mm, (i+1)*mm, size*size
		r := &Result{
			Score: float64(scalars[0][i]), LGST: float64(scalars[1][i]), PatchHist: float64(scalars[2][i]),
			Local: local[lo:hi:hi], Global: global[lo:hi:hi], MapSide: side,
			Width: req.w, Height: req.h, Segmentation: seg[i*ss : (i+1)*ss : (i+1)*ss],
		}
		if !finite(r.Score) || !finite(r.LGST) || !finite(r.PatchHist) {
			reps[i] = reply{err: ErrNonFinite}
			continue
		}
		combined := make([]float32, mm)
		for j := range combined {
			combined[j] = r.Local[j] + r.Global[j]
		}
		if r.AnomalyMap, err = Resize(combined, side, side, req.w, req.h); err != nil {
			return nil, err
		}
		if t := s.header.Threshold; t != nil {
			r.Anomalous = r.Score > *t
		}
		reps[i] = reply{result: r}
	}
	return reps, nil
}

// Close frees the ONNX Runtime session after the calls in flight have finished; later calls
// return ErrClosed. It is idempotent and nil-safe.
func (s *Scorer) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	err := s.sess.Close()
	s.sess = nil
	if err != nil {
		return fmt.Errorf("ortscore: %w", err)
	}
	return nil
}
