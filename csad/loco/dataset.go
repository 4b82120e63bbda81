package loco

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/csad-go/csad/csad/metrics"
)

// Split and defect-type folder names of the layout.
const (
	Train       = "train"
	Validation  = "validation"
	Test        = "test"
	GroundTruth = "ground_truth"
	ConfigFile  = "defects_config.json"

	Good                = "good"
	LogicalAnomalies    = "logical_anomalies"
	StructuralAnomalies = "structural_anomalies"
)

// Sample is one image of the data set.
type Sample struct {
	// Path is the file path (the data set folder joined with Rel).
	Path string
	// Rel is the slash-separated path relative to the category folder,
	// e.g. "test/logical_anomalies/003.png".
	Rel string
	// Split is "train", "validation" or "test".
	Split string
	// DefectType is the name of the parent folder: "good",
	// "logical_anomalies" or "structural_anomalies".
	DefectType string
	// Label is 0 for good images and 1 for anomalies.
	Label int
	// GroundTruthDir is the image's ground-truth folder; empty for good
	// images.
	GroundTruthDir string
}

// Dataset is one category of a LOCO-layout data set.
type Dataset struct {
	// Dir is the category folder, Category its base name.
	Dir, Category string
	Train         []Sample
	Validation    []Sample
	// Test holds the test images ordered by defect-type folder, then name.
	Test []Sample
	// Defects is defects_config.json; nil when the file is absent (it is
	// needed only to read ground truth).
	Defects DefectsConfig
}

// OpenOption changes what Open accepts.
type OpenOption func(*openOptions)

type openOptions struct{ allowNoValidation bool }

// AllowMissingValidation lets Open accept a category without validation/good.
func AllowMissingValidation() OpenOption { return func(o *openOptions) { o.allowNoValidation = true } }

const layoutHint = "expected the MVTec LOCO AD layout <category>/{train/good,validation/good,test/{good,logical_anomalies,structural_anomalies},ground_truth/...}; point the path at a category folder (e.g. .../mvtec_loco_anomaly_detection/breakfast_box) or create one with 'csad synth'"

// Open lists a category folder. It fails when a split folder is missing, when
// an anomalous test image has no ground-truth folder (or one without PNGs),
// and when defects_config.json exists but does not parse.
//
// With AllowMissingValidation, a category without validation/good opens with no validation
// images (training then splits train/good, seeded, and says so).
func Open(dir string, opts ...OpenOption) (*Dataset, error) {
	var o openOptions
	for _, f := range opts {
		f(&o)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("loco: data set folder %s: %w; %s", dir, err, layoutHint)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("loco: %s is not a folder; %s", dir, layoutHint)
	}
	d := &Dataset{Dir: dir, Category: filepath.Base(filepath.Clean(dir))}
	if d.Train, err = d.listSplit(Train, Good); err != nil {
		return nil, err
	}
	if _, serr := os.Stat(filepath.Join(dir, Validation, Good)); serr != nil && o.allowNoValidation {
		d.Validation = nil
	} else if d.Validation, err = d.listSplit(Validation, Good); err != nil {
		return nil, err
	}
	testDir := filepath.Join(dir, Test)
	types, err := listDirs(testDir)
	if err != nil {
		return nil, fmt.Errorf("loco: missing split %q at %s: %v; %s", Test, testDir, err, layoutHint)
	}
	for _, want := range []string{Good, LogicalAnomalies, StructuralAnomalies} {
		if !slices.Contains(types, want) {
			p := filepath.Join(testDir, want)
			return nil, fmt.Errorf("loco: missing split %q at %s; %s", Test+"/"+want, p, layoutHint)
		}
	}
	for _, t := range types {
		ss, err := d.listSplit(Test, t)
		if err != nil {
			return nil, err
		}
		d.Test = append(d.Test, ss...)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfgPath); err == nil {
		if d.Defects, err = ReadDefectsConfig(cfgPath); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loco: %s: %w", cfgPath, err)
	}
	return d, nil
}

func (d *Dataset) listSplit(split, typ string) ([]Sample, error) {
	folder := filepath.Join(d.Dir, split, typ)
	names, err := listPNGs(folder)
	if err != nil {
		return nil, fmt.Errorf("loco: missing split %q at %s: %v; %s", split+"/"+typ, folder, err, layoutHint)
	}
	out := make([]Sample, 0, len(names))
	for _, n := range names {
		s := Sample{
			Path:       filepath.Join(folder, n),
			Rel:        path.Join(split, typ, n),
			Split:      split,
			DefectType: typ,
		}
		if split == Test && typ != Good {
			s.Label = 1
			gt := filepath.Join(d.Dir, GroundTruth, typ, strings.TrimSuffix(n, ".png"))
			pngs, err := listPNGs(gt)
			if err != nil {
				return nil, fmt.Errorf("loco: anomalous test image %s has no ground-truth folder %s: %v; every image in test/%s needs ground_truth/%s/<name without .png>/ with one PNG per defect", s.Path, gt, err, typ, typ)
			}
			if len(pngs) == 0 {
				return nil, fmt.Errorf("loco: ground-truth folder %s of %s holds no PNG; add one mask PNG per defect", gt, s.Path)
			}
			s.GroundTruthDir = gt
		}
		out = append(out, s)
	}
	return out, nil
}

// TestOf returns the test samples of one defect type, in order.
func (d *Dataset) TestOf(defectType string) []Sample {
	var out []Sample
	for _, s := range d.Test {
		if s.DefectType == defectType {
			out = append(out, s)
		}
	}
	return out
}

// All returns train, validation and test samples in this order.
func (d *Dataset) All() []Sample {
	return slices.Concat(d.Train, d.Validation, d.Test)
}

// listPNGs returns the sorted *.png names of a folder (files only).
func listPNGs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir) // ReadDir sorts by name
	if err != nil {
		return nil, unwrapPath(err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".png") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// listDirs returns the sorted sub-folder names of a folder, hidden ones
// left out as the official listdir does.
func listDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, unwrapPath(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// unwrapPath drops the path from a *fs.PathError, because the callers'
// messages already name it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadImage decodes a PNG file fully (a truncated file fails here, not
// later).
func LoadImage(p string) (image.Image, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("loco: %w", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("loco: cannot decode %s: %v; the file is damaged or not a PNG, replace it (re-extract the data set or rerun 'csad synth')", p, err)
	}
	return img, nil
}

// GroundTruthChannel is one defect mask of an anomalous test image.
type GroundTruthChannel struct {
	Path string
	// Mask is row-major; true inside the defect.
	Mask   []bool
	Defect DefectConfig
}

// GroundTruthMap is the ground truth of one anomalous test image.
type GroundTruthMap struct {
	Width, Height int
	Channels      []GroundTruthChannel
}

// GroundTruth reads the masks of an anomalous test sample. Each PNG must be
// 8-bit grayscale (or paletted, whose indices count as values, as numpy
// reads them) with zero and one positive value listed in defects_config.json.
func (d *Dataset) GroundTruth(s Sample) (*GroundTruthMap, error) {
	if s.GroundTruthDir == "" {
		return nil, fmt.Errorf("loco: %s is a good image and has no ground truth", s.Path)
	}
	if d.Defects == nil {
		return nil, fmt.Errorf("loco: %s is missing; it is needed to read ground-truth masks (copy it from the data set release)", filepath.Join(d.Dir, ConfigFile))
	}
	names, err := listPNGs(s.GroundTruthDir)
	if err != nil {
		return nil, fmt.Errorf("loco: ground-truth folder %s: %v", s.GroundTruthDir, err)
	}
	g := &GroundTruthMap{}
	for _, n := range names {
		p := filepath.Join(s.GroundTruthDir, n)
		img, err := LoadImage(p)
		if err != nil {
			return nil, err
		}
		ch, w, h, err := d.channel(p, img)
		if err != nil {
			return nil, err
		}
		if len(g.Channels) == 0 {
			g.Width, g.Height = w, h
		} else if w != g.Width || h != g.Height {
			return nil, fmt.Errorf("loco: %s is %d×%d but the other masks of its folder are %d×%d", p, w, h, g.Width, g.Height)
		}
		g.Channels = append(g.Channels, ch)
	}
	if len(g.Channels) == 0 {
		return nil, fmt.Errorf("loco: ground-truth folder %s holds no PNG", s.GroundTruthDir)
	}
	return g, nil
}

func (d *Dataset) channel(p string, img image.Image) (GroundTruthChannel, int, int, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	vals := make([]uint8, 0, w*h)
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			vals = append(vals, m.Pix[y*m.Stride:y*m.Stride+w]...)
		}
	case *image.Paletted:
		for y := 0; y < h; y++ {
			vals = append(vals, m.Pix[y*m.Stride:y*m.Stride+w]...)
		}
	default:
		return GroundTruthChannel{}, 0, 0, fmt.Errorf("loco: ground-truth mask %s is a %T, want an 8-bit grayscale PNG", p, img)
	}
	var v uint8
	mask := make([]bool, len(vals))
	for i, x := range vals {
		if x == 0 {
			continue
		}
		if v != 0 && x != v {
			return GroundTruthChannel{}, 0, 0, fmt.Errorf("loco: ground-truth mask %s holds two defect values (%d and %d); each PNG must mark exactly one defect", p, v, x)
		}
		v = x
		mask[i] = true
	}
	if v == 0 {
		return GroundTruthChannel{}, 0, 0, fmt.Errorf("loco: ground-truth mask %s is empty (all zero); delete it or mark the defect", p)
	}
	cfg, ok := d.Defects.ByPixelValue(int(v))
	if !ok {
		return GroundTruthChannel{}, 0, 0, fmt.Errorf("loco: ground-truth mask %s uses pixel value %d, which %s does not list", p, v, filepath.Join(d.Dir, ConfigFile))
	}
	return GroundTruthChannel{Path: p, Mask: mask, Defect: cfg}, w, h, nil
}

// Union returns the OR of all channels.
func (g *GroundTruthMap) Union() []bool {
	u := make([]bool, g.Width*g.Height)
	for _, c := range g.Channels {
		for i, m := range c.Mask {
			u[i] = u[i] || m
		}
	}
	return u
}

// MetricsChannels converts the map for metrics.SPROCurve.
func (g *GroundTruthMap) MetricsChannels() []metrics.Channel {
	out := make([]metrics.Channel, len(g.Channels))
	for i, c := range g.Channels {
		out[i] = metrics.Channel{
			Mask:                c.Mask,
			Name:                c.Defect.DefectName,
			SaturationThreshold: c.Defect.SaturationThreshold,
			RelativeSaturation:  c.Defect.RelativeSaturation,
		}
	}
	return out
}

// Verify decodes every image and ground-truth mask and checks that masks
// have the size of their image. It reports the first problem.
func (d *Dataset) Verify() error {
	for _, s := range d.All() {
		img, err := LoadImage(s.Path)
		if err != nil {
			return err
		}
		if s.GroundTruthDir == "" {
			continue
		}
		g, err := d.GroundTruth(s)
		if err != nil {
			return err
		}
		b := img.Bounds()
		if g.Width != b.Dx() || g.Height != b.Dy() {
			return fmt.Errorf("loco: ground truth of %s is %d×%d but the image is %d×%d", s.Path, g.Width, g.Height, b.Dx(), b.Dy())
		}
	}
	return nil
}
