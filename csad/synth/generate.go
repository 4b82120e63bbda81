package synth

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/internal/atomicfile"
)

// Options configures Generate. The zero value of a count means "use the
// default"; use DefaultOptions and change fields.
type Options struct {
	// Seed selects the data set; the same seed and options give the same
	// bytes.
	Seed uint64
	// Width and Height of every image in pixels.
	Width, Height int
	// Image counts per split.
	Train, Validation, TestGood, TestLogical, TestStructural int
	// Workers is the number of images drawn in parallel; 0 means
	// GOMAXPROCS. The output does not depend on it.
	Workers int
}

// DefaultOptions returns the defaults of 'csad synth': 320×256 images, 60
// train, 16 validation, 20 good, 20 logical and 20 structural test images,
// seed 1.
func DefaultOptions() Options {
	return Options{Seed: 1, Width: 320, Height: 256, Train: 60, Validation: 16, TestGood: 20, TestLogical: 20, TestStructural: 20}
}

var registry = map[string]func() *category{
	"tray":       trayCategory,
	"box":        boxCategory,
	"connectors": connectorsCategory,
}

// Categories returns the category names, sorted.
func Categories() []string {
	var out []string
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Rule returns the human description of a category's rule.
func Rule(cat string) (string, error) {
	c, err := lookup(cat)
	if err != nil {
		return "", err
	}
	return c.rule, nil
}

// Defects returns a category's defect types, logical first.
func Defects(cat string) ([]DefectSpec, error) {
	c, err := lookup(cat)
	if err != nil {
		return nil, err
	}
	return c.defects, nil
}

func lookup(cat string) (*category, error) {
	f, ok := registry[cat]
	if !ok {
		return nil, fmt.Errorf("synth: unknown category %q (have %v)", cat, Categories())
	}
	return f(), nil
}

// Render draws one image: kind Normal, Logical or Structural, in split
// ("train", "validation" or "test") with the given index. It is what
// Generate writes at <split>/<kind>/<index>.png.
func Render(cat string, opt Options, split string, kind Kind, index int) (*Image, error) {
	c, err := lookup(cat)
	if err != nil {
		return nil, err
	}
	if opt.Width < 32 || opt.Height < 32 {
		return nil, fmt.Errorf("synth: image size %d×%d too small (minimum 32×32)", opt.Width, opt.Height)
	}
	return generate(c, opt.Seed, split, kind, index, opt.Width, opt.Height)
}

// DefectsConfig returns the defects_config.json entries of a category for
// images of the given size: pixel values 255, 254, ... in the order of
// Defects, absolute saturation thresholds scaled from the nominal 320×256
// frame.
func DefectsConfig(cat string, width, height int) (loco.DefectsConfig, error) {
	c, err := lookup(cat)
	if err != nil {
		return nil, err
	}
	s := math.Min(float64(width)/nomW, float64(height)/nomH)
	var out loco.DefectsConfig
	for i, d := range c.defects {
		t := d.Saturation
		if !d.Relative {
			t = math.Max(1, math.Floor(t*s*s))
		}
		out = append(out, loco.DefectConfig{DefectName: d.Name, PixelValue: 255 - i, SaturationThreshold: t, RelativeSaturation: d.Relative})
	}
	return out, nil
}

type job struct {
	split string
	kind  Kind
	index int
}

// Generate writes one category in the MVTec LOCO AD layout under
// root/<cat>: images, ground-truth masks (one PNG per defect, value from
// defects_config.json) and defects_config.json. Existing files are
// overwritten; the folder is not emptied first.
func Generate(root, cat string, opt Options) error {
	c, err := lookup(cat)
	if err != nil {
		return err
	}
	if opt.Width < 32 || opt.Height < 32 {
		return fmt.Errorf("synth: image size %d×%d too small (minimum 32×32)", opt.Width, opt.Height)
	}
	for _, n := range []int{opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural} {
		if n < 0 || n > 100000 {
			return fmt.Errorf("synth: image count %d outside 0..100000", n)
		}
	}
	dir := filepath.Join(root, cat)
	cfg, err := DefectsConfig(cat, opt.Width, opt.Height)
	if err != nil {
		return err
	}
	values := map[string]uint8{}
	for _, d := range cfg {
		values[d.DefectName] = uint8(d.PixelValue)
	}
	var jobs []job
	add := func(split string, kind Kind, n int) {
		for i := 0; i < n; i++ {
			jobs = append(jobs, job{split, kind, i})
		}
	}
	for _, p := range []string{filepath.Join(dir, loco.Train, loco.Good), filepath.Join(dir, loco.Validation, loco.Good),
		filepath.Join(dir, loco.Test, loco.Good), filepath.Join(dir, loco.Test, loco.LogicalAnomalies),
		filepath.Join(dir, loco.Test, loco.StructuralAnomalies),
		filepath.Join(dir, loco.GroundTruth, loco.LogicalAnomalies), filepath.Join(dir, loco.GroundTruth, loco.StructuralAnomalies)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	add(loco.Train, Normal, opt.Train)
	add(loco.Validation, Normal, opt.Validation)
	add(loco.Test, Normal, opt.TestGood)
	add(loco.Test, Logical, opt.TestLogical)
	add(loco.Test, Structural, opt.TestStructural)

	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = writeOne(c, dir, opt, jobs[i], values)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := loco.WriteDefectsConfig(filepath.Join(dir, loco.ConfigFile), cfg); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

func writeOne(c *category, dir string, opt Options, j job, values map[string]uint8) error {
	img, err := generate(c, opt.Seed, j.split, j.kind, j.index, opt.Width, opt.Height)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%03d", j.index)
	if err := writePNG(filepath.Join(dir, j.split, j.kind.String(), name+".png"), img.RGB); err != nil {
		return err
	}
	if j.kind == Normal {
		return nil
	}
	gt := filepath.Join(dir, loco.GroundTruth, j.kind.String(), name)
	if err := os.MkdirAll(gt, 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	for k, ch := range img.Channels {
		m := &mask{opt.Width, opt.Height, ch.Mask}
		if err := writePNG(filepath.Join(gt, fmt.Sprintf("%03d.png", k)), m.gray(values[ch.Defect])); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(path string, img image.Image) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	return nil
}
