package pseudolabel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/cluster"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/internal/npy"
)

// DefaultBandwidth is the MeanShift bandwidth Run uses on standardised
// DefaultFeatures (10 columns, see Standardize). On the synthetic categories
// it separates every part kind (pins, compartment floors, tray frame;
// oranges, nectarine, granola, card; levers, bodies, cables); at 2 the tray's
// floors and frame fall into one class, at 2.5 oranges and nectarines too.
const DefaultBandwidth = 1.5

// Options configures Run.
type Options struct {
	// DataRoot holds the category folders (MVTec LOCO AD layout); Run reads
	// DataRoot/Category/train/good/*.png, sorted by name.
	DataRoot, Category string
	// Out is the masks root: the result is Out/Category, replaced as a
	// whole when the run succeeds and left untouched when it fails.
	Out string
	// Masks, when set, is a masks root in the §5.1 layout (e.g. from the
	// official Grounded-SAM stage) whose Masks/Category/NNN folders are read
	// and validated instead of segmenting; it may be Out itself, which is
	// then re-clustered in place. The files are copied into the result
	// through ReadImageMasks and WriteImageMasks, so background.jpg is
	// re-encoded from its pixels above 127.
	Masks string
	// UseRefined clusters refined_masks.png instead of grounding_mask.png
	// (the official no_sam false categories do; for Segment's masks the
	// two hold the same components).
	UseRefined bool
	// Seed is recorded in info.json. Only the CNN feature (Encoder) draws
	// random numbers: its projection to CNNProjectionDim columns (see
	// Project) is seeded with it. The model-free descriptors are low
	// dimensional and are clustered without a projection, so their output
	// does not depend on Seed.
	Seed uint64
	// Bandwidth of MeanShift on the standardised descriptors (or on the
	// projected CNN feature); 0 means DefaultBandwidth (DefaultCNNBandwidth
	// with Encoder).
	Bandwidth float64
	// Features selects the descriptor columns (see Vector); nil means
	// DefaultFeatures, or FeatCNN alone with Encoder. FeatCNN cannot be
	// mixed with the model-free columns: the official configs cluster on it
	// alone.
	Features []string
	// Encoder, when set, is a torchvision or timm wide_resnet50_2
	// checkpoint including layer4 (see csad.LoadFeatureExtractor): the
	// components are then clustered on the official CNN feature of spec
	// §5.4 (Align, CNNFeature, Project) instead of the model-free
	// descriptors. The network is loaded for this stage only.
	Encoder string
	// FilterHist is the §5.6 filter_hist flag: good images from the
	// largest histogram cluster only.
	FilterHist bool
	// KeepDuplicates reproduces the official duplicate good indices when
	// FilterHist is false (spec §8.2 item 11).
	KeepDuplicates bool
	// Segment configures the segmentation (ignored with Masks).
	Segment SegmentOptions
	// Workers is the number of images processed at once; 0 means
	// GOMAXPROCS. The output does not depend on it.
	Workers int
}

// Summary describes a finished Run; it is also written as info/info.json.
type Summary struct {
	Category string `json:"category"`
	// Dir is Out/Category.
	Dir string `json:"-"`
	// Images are the train/good file names, in order (the NNN folders are
	// their stems).
	Images        []string `json:"images"`
	Width, Height int      `json:"-"`
	ImageSize     [2]int   `json:"image_size_wh"`
	MaskSource    string   `json:"mask_source"`
	MaskFile      string   `json:"clustered_mask_file"`
	// Components is the number of components over all images;
	// ComponentNumMode the most common count per image (smallest on ties,
	// as scipy.stats.mode).
	Components       int      `json:"components"`
	ComponentNumMode int      `json:"component_num_mode"`
	Features         []string `json:"features"`
	FeatureColumns   []string `json:"feature_columns"`
	// FeatureMean and FeatureStd are the standardisation of the columns.
	FeatureMean []float64 `json:"feature_mean"`
	FeatureStd  []float64 `json:"feature_std"`
	Bandwidth   float64   `json:"bandwidth"`
	Seed        uint64    `json:"seed"`
	// Encoder is Options.Encoder; ProjectionDim the width of the seeded
	// random projection the CNN feature was clustered in (0 without).
	Encoder       string `json:"encoder,omitempty"`
	ProjectionDim int    `json:"projection_dim,omitempty"`
	// RawClusters is the number of MeanShift clusters; NoiseBelow the
	// member count under which a cluster became noise (int(0.5·images)).
	RawClusters int `json:"raw_clusters"`
	NoiseBelow  int `json:"noise_below"`
	// ClusterSizes are the member counts of the raw clusters, by id.
	ClusterSizes []int `json:"cluster_sizes"`
	// KeptClusters are the raw ids of the final classes 1..K, in order.
	KeptClusters []int `json:"kept_clusters"`
	// Classes is K; ClassComponents[k] the number of components of class
	// k+1 over all images.
	Classes         int   `json:"classes"`
	ClassComponents []int `json:"class_components"`
	// GoodIndices are the sup images (filtered_histogram_indices.npy).
	GoodIndices    []int `json:"good_indices"`
	LargestCluster []int `json:"largest_histogram_cluster"`
	MinClusterSize int   `json:"hdbscan_min_cluster_size"`
	FilterHist     bool  `json:"filter_hist"`
	// Segment holds the segmentation options used (nil with Masks).
	Segment *SegmentOptions `json:"segment,omitempty"`
}

// imageResult is what the mask stage keeps of one image: the components
// of its clustered map.
type imageResult struct {
	name   string
	values []uint8 // label value of each component in the clustered map
	areas  []int
	rows   [][]float64
	crops  []*imageproc.RGB // aligned crops, for the CNN feature
}

// ErrLayout is wrapped by Run's errors about the input folders and files.
var ErrLayout = errors.New("bad input layout")

// listTrain returns the sorted PNG names of DataRoot/Category/train/good.
func listTrain(o Options) (string, []string, error) {
	dir := filepath.Join(o.DataRoot, o.Category, "train", "good")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return dir, nil, fmt.Errorf("pseudolabel: no train/good folder at %s (%v): %w; point DataRoot at the folder holding the category folders (MVTec LOCO layout, e.g. made with 'csad synth')", dir, unwrapPathErr(err), ErrLayout)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".png") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return dir, nil, fmt.Errorf("pseudolabel: %s holds no .png image: %w", dir, ErrLayout)
	}
	return dir, names, nil
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// imageSize reads a PNG header.
func imageSize(path string) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("pseudolabel: %w", err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("pseudolabel: %s: not a readable PNG (%v): %w", path, err, ErrLayout)
	}
	return cfg.Width, cfg.Height, nil
}

// Run is the pseudo-label pipeline of spec §5 on train/good with a
// classical segmentation: masks (Segment, or Options.Masks), components
// (§5.3), descriptors (Describe, Vector, Standardize; in place of the CNN
// feature of §5.4), MeanShift (§5.5, every point a seed, cluster_all),
// clusters with fewer than int(0.5·N) components become noise, per-image
// area histograms and cluster.FilterHistograms (§5.6), and the final maps.
// It writes Out/Category in the §5.1 layout:
//
//	NNN/grounding_mask.png, refined_masks.png (+ _color.png), background.jpg,
//	    grounding_background.png, cluster_map.png, filtered_cluster_map.png (+ _color.png)
//	info/filtered_histogram_indices.npy (int64), filtered_component_histogram.npy,
//	    raw_component_histogram.npy (float64), component_num_mode.npy (int64 scalar),
//	    component_features.npy (raw descriptor columns), component_image.npy,
//	    info.json (the Summary)
//
// Everything is written into a temporary sibling folder that replaces
// Out/Category only at the end, so a failed or cancelled run leaves no
// half-written result. Images of different sizes, a missing train/good and
// bad mask files are errors naming the file.
func Run(ctx context.Context, o Options) (_ Summary, err error) {
	if o.Category == "" || o.Out == "" {
		return Summary{}, fmt.Errorf("pseudolabel: Options.Category and Options.Out must be set (got %q, %q)", o.Category, o.Out)
	}
	useCNN := o.Encoder != ""
	defBW := DefaultBandwidth
	if useCNN {
		defBW = DefaultCNNBandwidth
	}
	if o.Bandwidth == 0 {
		o.Bandwidth = defBW
	}
	if !(o.Bandwidth > 0) || o.Bandwidth > 1e6 {
		return Summary{}, fmt.Errorf("pseudolabel: Options.Bandwidth %g must be positive and finite; 0 selects %g", o.Bandwidth, defBW)
	}
	switch {
	case useCNN && o.Features == nil:
		o.Features = []string{FeatCNN}
	case useCNN && !slices.Equal(o.Features, []string{FeatCNN}):
		return Summary{}, fmt.Errorf("pseudolabel: with Options.Encoder the components are clustered on the CNN feature alone; leave Options.Features nil (or [%q]), got %q", FeatCNN, o.Features)
	case !useCNN && slices.Contains(o.Features, FeatCNN):
		return Summary{}, fmt.Errorf("pseudolabel: feature %q needs Options.Encoder (a wide_resnet50_2 checkpoint with layer4)", FeatCNN)
	case o.Features == nil:
		o.Features = DefaultFeatures
	}
	if !useCNN {
		if _, _, err := Vector(Descriptor{Area: 1}, o.Features); err != nil {
			return Summary{}, err
		}
	}
	seg, err := o.Segment.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	trainDir, names, err := listTrain(o)
	if err != nil {
		return Summary{}, err
	}
	W, H, err := imageSize(filepath.Join(trainDir, names[0]))
	if err != nil {
		return Summary{}, err
	}
	for _, n := range names[1:] {
		p := filepath.Join(trainDir, n)
		w, h, err := imageSize(p)
		if err != nil {
			return Summary{}, err
		}
		if w != W || h != H {
			return Summary{}, fmt.Errorf("pseudolabel: %s is %d×%d but %s is %d×%d; every train image of a category must have one size: %w", p, w, h, names[0], W, H, ErrLayout)
		}
	}

	var fe *csad.FeatureExtractor
	if useCNN {
		// Loaded before any image is read, so a wrong checkpoint fails at once.
		if fe, err = csad.LoadFeatureExtractor(o.Encoder); err != nil {
			return Summary{}, fmt.Errorf("pseudolabel: Options.Encoder: %w", err)
		}
		defer func() { err = errors.Join(err, fe.Close()) }()
	}

	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return Summary{}, fmt.Errorf("pseudolabel: %w", err)
	}
	tmp, err := os.MkdirTemp(o.Out, "."+o.Category+".tmp-")
	if err != nil {
		return Summary{}, fmt.Errorf("pseudolabel: %w", err)
	}
	done := false
	defer func() {
		if !done {
			if rerr := os.RemoveAll(tmp); rerr != nil {
				err = errors.Join(err, fmt.Errorf("pseudolabel: remove the unfinished %s: %w", tmp, rerr))
			}
		}
	}()

	sum := Summary{Category: o.Category, Dir: filepath.Join(o.Out, o.Category), Images: names, Width: W, Height: H,
		ImageSize: [2]int{W, H}, Features: o.Features, Bandwidth: o.Bandwidth, Seed: o.Seed, FilterHist: o.FilterHist, Encoder: o.Encoder,
		MaskFile: FileGroundingMask, MaskSource: "segment"}
	if o.UseRefined {
		sum.MaskFile = FileRefinedMasks
	}
	if o.Masks != "" {
		sum.MaskSource = filepath.Join(o.Masks, o.Category)
	} else {
		sum.Segment = &seg
	}

	results := make([]imageResult, len(names))
	if err := forEach(ctx, len(names), o.Workers, func(i int) error {
		r, err := maskStage(o, seg, trainDir, names[i], tmp, W, H)
		results[i] = r
		return err
	}); err != nil {
		return Summary{}, err
	}
	if useCNN {
		// One network forward at a time: LibTorch already spreads each over the cores.
		for i := range results {
			for j, crop := range results[i].crops {
				if err := ctx.Err(); err != nil {
					return Summary{}, err
				}
				v, err := CNNFeature(fe, crop)
				if err != nil {
					return Summary{}, fmt.Errorf("%w (%s, component %d)", err, names[i], j+1)
				}
				results[i].rows[j] = v
			}
			results[i].crops = nil
		}
	}

	// Components and their features, in image order then label order.
	var rows [][]float64
	var imageOf []int64
	counts := make([]int, len(names))
	for i, r := range results {
		rows = append(rows, r.rows...)
		for range r.rows {
			imageOf = append(imageOf, int64(i))
		}
		counts[i] = len(r.rows)
	}
	sum.Components = len(rows)
	sum.ComponentNumMode = mode(counts)
	if len(rows) == 0 {
		return Summary{}, fmt.Errorf("pseudolabel: no image of %s has a component above 0.1 %% of the image; check the masks (or SegmentOptions: lower BackgroundDist if parts vanish into the background)", trainDir)
	}
	var cols []string
	var z [][]float64
	if useCNN {
		for k := range csad.FeatureChannels {
			cols = append(cols, "cnn_"+strconv.Itoa(k))
		}
		// The official clusters the raw feature through a random linear map
		// (no standardisation); its scale is what DefaultCNNBandwidth fits.
		if z, err = Project(rows, CNNProjectionDim, o.Seed); err != nil {
			return Summary{}, err
		}
		sum.ProjectionDim = CNNProjectionDim
	} else {
		if _, cols, err = Vector(Descriptor{Area: 1}, o.Features); err != nil {
			return Summary{}, err
		}
		var mean, std []float64
		if z, mean, std, err = Standardize(rows); err != nil {
			return Summary{}, err
		}
		sum.FeatureMean, sum.FeatureStd = mean, std
	}
	sum.FeatureColumns = cols
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	labels, _, err := cluster.MeanShift(z, cluster.MeanShiftOptions{Bandwidth: o.Bandwidth, ClusterAll: true})
	if err != nil {
		return Summary{}, fmt.Errorf("pseudolabel: %w", err)
	}
	nRaw := slices.Max(labels) + 1
	sum.RawClusters = nRaw
	sum.ClusterSizes = make([]int, nRaw)
	for _, l := range labels {
		sum.ClusterSizes[l]++
	}
	// §5.5 step 3: small clusters are noise; ids are not renumbered.
	sum.NoiseBelow = int(0.5 * float64(len(names)))
	for i, l := range labels {
		if sum.ClusterSizes[l] < sum.NoiseBelow {
			labels[i] = -1
		}
	}
	maxLabel := slices.Max(labels)
	if maxLabel >= MaxLabels {
		return Summary{}, fmt.Errorf("pseudolabel: MeanShift cluster id %d does not fit cluster_map.png (ids up to %d); raise Options.Bandwidth (now %g)", maxLabel, MaxLabels-1, o.Bandwidth)
	}
	if maxLabel < 0 {
		return Summary{}, fmt.Errorf("pseudolabel: every MeanShift cluster of the %d components has fewer than %d members (int(0.5·%d images)); raise Options.Bandwidth (now %g) or check that the parts recur across images", len(rows), sum.NoiseBelow, len(names), o.Bandwidth)
	}
	// §5.6 step 1: per-image area fractions per raw cluster.
	npix := float64(W * H)
	hist := make([][]float64, len(names))
	k := 0
	for i, r := range results {
		hist[i] = make([]float64, maxLabel+1)
		for j := range r.rows {
			if l := labels[k+j]; l >= 0 {
				hist[i][l] += float64(r.areas[j])
			}
		}
		for c := range hist[i] {
			hist[i][c] /= npix
		}
		k += len(r.rows)
	}
	fr, err := cluster.FilterHistograms(hist, o.FilterHist, cluster.FilterOptions{KeepDuplicates: o.KeepDuplicates})
	if err != nil {
		return Summary{}, fmt.Errorf("pseudolabel: %w", err)
	}
	sum.GoodIndices, sum.LargestCluster, sum.MinClusterSize = fr.GoodIndices, fr.LargestCluster, fr.MinClusterSize
	sum.KeptClusters = fr.KeptClasses
	sum.Classes = len(fr.KeptClasses)
	sum.ClassComponents = make([]int, sum.Classes)
	if sum.Classes > MaxLabels {
		return Summary{}, fmt.Errorf("pseudolabel: %d classes do not fit an 8-bit cluster map (at most %d); raise Options.Bandwidth", sum.Classes, MaxLabels)
	}
	newID := map[int]int{}
	for j, c := range fr.KeptClasses {
		newID[c] = j
	}

	// Final maps, one image at a time.
	filtered := make([]float64, len(names)*sum.Classes)
	offsets := make([]int, len(names)+1)
	for i, r := range results {
		offsets[i+1] = offsets[i] + len(r.rows)
	}
	var mu sync.Mutex
	if err := forEach(ctx, len(names), o.Workers, func(i int) error {
		r := results[i]
		dir := filepath.Join(tmp, stem(r.name))
		src, err := ReadLabelMap(filepath.Join(dir, sum.MaskFile), W, H)
		if err != nil {
			return err
		}
		var lut, flut [256]uint8
		var classCount = make([]int, sum.Classes)
		for j, v := range r.values {
			l := labels[offsets[i]+j]
			if l < 0 {
				continue
			}
			lut[v] = uint8(l + 1)
			if c, ok := newID[l]; ok {
				flut[v] = uint8(c + 1)
				filtered[i*sum.Classes+c] += float64(r.areas[j]) / npix
				classCount[c]++
			}
		}
		cm, fm := NewLabelMap(W, H), NewLabelMap(W, H)
		for p, v := range src.Pix {
			cm.Pix[p], fm.Pix[p] = lut[v], flut[v]
		}
		if err := WriteLabelMap(filepath.Join(dir, FileClusterMap), cm, ClassColor); err != nil {
			return err
		}
		if err := WriteLabelMap(filepath.Join(dir, FileFilteredClusterMap), fm, ClassColor); err != nil {
			return err
		}
		mu.Lock()
		for c, n := range classCount {
			sum.ClassComponents[c] += n
		}
		mu.Unlock()
		return nil
	}); err != nil {
		return Summary{}, err
	}

	info := filepath.Join(tmp, InfoDir)
	if err := os.MkdirAll(info, 0o755); err != nil {
		return Summary{}, fmt.Errorf("pseudolabel: %w", err)
	}
	good := make([]int64, len(sum.GoodIndices))
	for i, g := range sum.GoodIndices {
		good[i] = int64(g)
	}
	raw := make([]float64, 0, len(names)*(maxLabel+1))
	for _, h := range hist {
		raw = append(raw, h...)
	}
	feat := make([]float64, 0, len(rows)*len(cols))
	for _, r := range rows {
		feat = append(feat, r...)
	}
	for name, a := range map[string]npy.Array{
		"filtered_histogram_indices.npy":   {Shape: []int{len(good)}, I64: nonNil(good)},
		"filtered_component_histogram.npy": {Shape: []int{len(names), sum.Classes}, F64: nonNilF(filtered)},
		"raw_component_histogram.npy":      {Shape: []int{len(names), maxLabel + 1}, F64: raw},
		"component_num_mode.npy":           {I64: []int64{int64(sum.ComponentNumMode)}},
		"component_features.npy":           {Shape: []int{len(rows), len(cols)}, F64: feat},
		"component_image.npy":              {Shape: []int{len(rows)}, I64: imageOf},
	} {
		if err := npy.Write(filepath.Join(info, name), a); err != nil {
			return Summary{}, err
		}
	}
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return Summary{}, fmt.Errorf("pseudolabel: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(info, "info.json"), append(js, '\n')); err != nil {
		return Summary{}, fmt.Errorf("pseudolabel: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	if err := replaceDir(tmp, sum.Dir); err != nil {
		return Summary{}, err
	}
	done = true
	return sum, nil
}

func nonNil(v []int64) []int64 {
	if v == nil {
		return []int64{}
	}
	return v
}

func nonNilF(v []float64) []float64 {
	if v == nil {
		return []float64{}
	}
	return v
}

func stem(name string) string { return strings.TrimSuffix(name, filepath.Ext(name)) }

// maskStage makes (or reads) the masks of one image, writes them into the
// temporary result and describes the components of the clustered map.
func maskStage(o Options, seg SegmentOptions, trainDir, name, tmp string, W, H int) (imageResult, error) {
	r := imageResult{name: name}
	path := filepath.Join(trainDir, name)
	img, err := imageproc.Load(path)
	if err != nil {
		return r, err
	}
	if img.W != W || img.H != H {
		return r, fmt.Errorf("pseudolabel: %s decodes to %d×%d, its header said %d×%d: %w", path, img.W, img.H, W, H, ErrLayout)
	}
	var m ImageMasks
	if o.Masks != "" {
		if m, err = ReadImageMasks(filepath.Join(o.Masks, o.Category, stem(name)), W, H); err != nil {
			return r, err
		}
	} else {
		s, err := Segment(img, seg)
		if err != nil {
			return r, fmt.Errorf("%w (%s)", err, path)
		}
		if m, err = NewImageMasks(s); err != nil {
			return r, fmt.Errorf("%w (%s)", err, path)
		}
	}
	if err := WriteImageMasks(filepath.Join(tmp, stem(name)), m); err != nil {
		return r, err
	}
	src := m.Grounding
	if o.UseRefined {
		src = m.Refined
	}
	masks, values := Split(src)
	r.values = values
	for _, mk := range masks {
		if o.Encoder != "" {
			a, err := Align(img, mk)
			if err != nil {
				return r, fmt.Errorf("%w (%s)", err, path)
			}
			r.crops = append(r.crops, a.Image)
			r.rows = append(r.rows, nil) // the CNN feature comes after the mask stage
			r.areas = append(r.areas, mk.Area())
			continue
		}
		d, err := Describe(img, mk)
		if err != nil {
			return r, err
		}
		v, _, err := Vector(d, o.Features)
		if err != nil {
			return r, err
		}
		r.rows = append(r.rows, v)
		// The histogram counts the visible pixels of the label, as the
		// official np.sum(m != 0) over the split mask.
		r.areas = append(r.areas, mk.Area())
	}
	return r, nil
}

// mode is scipy.stats.mode of non-negative counts: the most common value,
// the smallest on ties.
func mode(v []int) int {
	c := map[int]int{}
	best, bn := 0, -1
	for _, x := range v {
		c[x]++
	}
	for x, n := range c {
		if n > bn || (n == bn && x < best) {
			best, bn = x, n
		}
	}
	return best
}

// forEach runs f(0..n-1) on up to workers goroutines and returns the error
// of the lowest failing index (so the message does not depend on timing),
// or ctx.Err() when the context ends first.
func forEach(ctx context.Context, n, workers int, f func(int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = f(i)
			}
		}()
	}
	var ctxErr error
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ctxErr != nil {
		return ctxErr
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// replaceDir moves the finished folder tmp to dst, replacing what is there:
// the old folder is first renamed aside, so dst never holds a mixture.
func replaceDir(tmp, dst string) error {
	old := ""
	if _, err := os.Stat(dst); err == nil {
		o, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".old-")
		if err != nil {
			return fmt.Errorf("pseudolabel: %w", err)
		}
		if err := os.Remove(o); err != nil {
			return fmt.Errorf("pseudolabel: %w", err)
		}
		if err := os.Rename(dst, o); err != nil {
			return fmt.Errorf("pseudolabel: move the old %s aside: %w", dst, err)
		}
		old = o
	}
	if err := os.Rename(tmp, dst); err != nil {
		err = fmt.Errorf("pseudolabel: move the result into %s: %w", dst, err)
		if old != "" {
			// Put the previous result back rather than leave none.
			if rerr := os.Rename(old, dst); rerr != nil {
				err = errors.Join(err, fmt.Errorf("pseudolabel: the previous result is at %s: %w", old, rerr))
			}
		}
		return err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("pseudolabel: result written to %s, but the previous one at %s could not be removed: %w", dst, old, err)
		}
	}
	return nil
}
