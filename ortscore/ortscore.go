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
}

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
	slots chan struct{}
	// beforeRun, when set (by tests only), runs inside a slot and the read lock, just before
	// the forward pass.
	beforeRun func()
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
	return &Scorer{sess: sess, header: h, slots: make(chan struct{}, opts.inFlightLimit())}, nil
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

// ScoreBatch scores images in input order, each in a forward pass of its own: ONNX Runtime's
// results for a batch of 8 differ from those for the images alone in the last float32 bits
// (docs/onnx.md), so batching would make a score depend on the images beside it; csad.Model
// also scores one image per pass by default.
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
	size := s.header.ImageSize
	x := imageproc.Preprocess(img, size)

	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.slots }()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return nil, ErrClosed
	}
	if s.beforeRun != nil {
		s.beforeRun()
	}
	out, err := s.sess.Run(map[string]ort.Tensor{InputName: {Shape: []int64{1, 3, int64(size), int64(size)}, Float32: x}})
	if err != nil {
		return nil, err
	}
	return s.collect(out, w, h)
}

// collect turns one pass's outputs into a Result, checking every size against the header
// (ONNX Runtime returns what the graph computed, whatever it declared).
func (s *Scorer) collect(out map[string]ort.Tensor, w, h int) (*Result, error) {
	side, size := s.header.FeatureSize, s.header.ImageSize
	get := func(name string, n int) ([]float32, error) {
		v := out[name].Float32
		if len(v) != n {
			return nil, fmt.Errorf("the graph returned %d float32 values for %q, want %d", len(v), name, n)
		}
		return v, nil
	}
	var scalars [3]float64
	for i, name := range []string{ScoreName, LGSTName, PatchHistName} {
		v, err := get(name, 1)
		if err != nil {
			return nil, err
		}
		scalars[i] = float64(v[0])
	}
	local, err := get(LocalMapName, side*side)
	if err != nil {
		return nil, err
	}
	global, err := get(GlobalMapName, side*side)
	if err != nil {
		return nil, err
	}
	classes := out[SegmentationName].Int32
	if len(classes) != size*size {
		return nil, fmt.Errorf("the graph returned %d int32 values for %q, want %d", len(classes), SegmentationName, size*size)
	}
	seg := make([]uint8, len(classes))
	for i, c := range classes {
		if c < 0 || c > 255 {
			return nil, fmt.Errorf("the graph returned class %d in %q; classes are 0..255", c, SegmentationName)
		}
		seg[i] = uint8(c)
	}
	r := &Result{
		Score: scalars[0], LGST: scalars[1], PatchHist: scalars[2],
		Local: local, Global: global, MapSide: side,
		Width: w, Height: h, Segmentation: seg,
	}
	if !finite(r.Score) || !finite(r.LGST) || !finite(r.PatchHist) {
		return nil, ErrNonFinite
	}
	combined := make([]float32, len(local))
	for i := range combined {
		combined[i] = local[i] + global[i]
	}
	if r.AnomalyMap, err = Resize(combined, side, side, w, h); err != nil {
		return nil, err
	}
	if t := s.header.Threshold; t != nil {
		r.Anomalous = r.Score > *t
	}
	return r, nil
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
