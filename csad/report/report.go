package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/metrics"
	"github.com/csad-go/csad/csad/tiffmap"
	"github.com/csad-go/csad/internal/atomicfile"
)

// Options configures Run.
type Options struct {
	// Dataset is the category folder.
	Dataset string
	// Scores is the JSON-lines score file.
	Scores string
	// Maps is the anomaly-map folder; empty for no localization metrics.
	Maps string
	// Out is the output folder, created if needed.
	Out string
	// Worst is the number of tiles in worst_cases.png (default 8).
	Worst int
}

// Record is one line of the score file.
type Record struct {
	Path      string   `json:"path"`
	Score     *float64 `json:"score"`
	LGST      *float64 `json:"lgst,omitempty"`
	PatchHist *float64 `json:"patch_hist,omitempty"`
}

// Branch names of the score file, in report order.
var branches = []string{"score", "lgst", "patch_hist"}

func (r Record) value(branch string) *float64 {
	switch branch {
	case "lgst":
		return r.LGST
	case "patch_hist":
		return r.PatchHist
	}
	return r.Score
}

// ReadScores parses a JSON-lines score file. Blank lines are skipped; every
// other line must be an object with a path and a numeric score.
func ReadScores(p string) ([]Record, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("report: %s line %d: %v (want {\"path\":...,\"score\":...})", p, n, err)
		}
		if r.Path == "" || r.Score == nil {
			return nil, fmt.Errorf("report: %s line %d: missing \"path\" or \"score\"", p, n)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("report: %s: %w", p, err)
	}
	return out, nil
}

// testKey reduces a path to "test/<type>/<file>", or "" when it does not
// end like a test image.
func testKey(p string) string {
	parts := strings.Split(path.Clean(filepath.ToSlash(p)), "/")
	if len(parts) < 3 || parts[len(parts)-3] != loco.Test {
		return ""
	}
	return strings.Join(parts[len(parts)-3:], "/")
}

// scored is a test image with its scores.
type scored struct {
	loco.Sample
	rec Record
}

// Summary is what Run computed.
type Summary struct {
	Results metrics.Results
	// AUROC[branch][split] for the branches present in every record.
	AUROC map[string]map[string]float64
	Files []string
}

// Run evaluates and writes the report.
func Run(opt Options) (*Summary, error) {
	if opt.Worst <= 0 {
		opt.Worst = 8
	}
	ds, err := loco.Open(opt.Dataset)
	if err != nil {
		return nil, err
	}
	recs, err := ReadScores(opt.Scores)
	if err != nil {
		return nil, err
	}
	byKey := map[string]Record{}
	for _, r := range recs {
		k := testKey(r.Path)
		if k == "" {
			continue // train or validation scores are allowed and ignored
		}
		if _, dup := byKey[k]; dup {
			return nil, fmt.Errorf("report: %s scores %s twice", opt.Scores, k)
		}
		byKey[k] = r
	}
	var test []scored
	var missing []string
	for _, s := range ds.Test {
		r, ok := byKey[s.Rel]
		if !ok {
			missing = append(missing, s.Rel)
			continue
		}
		test = append(test, scored{s, r})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("report: %s has no score for %d of %d test images (first: %s); score every image under %s",
			opt.Scores, len(missing), len(ds.Test), missing[0], filepath.Join(opt.Dataset, loco.Test))
	}

	sum := &Summary{AUROC: map[string]map[string]float64{}}
	split := func(b, typ string) []float64 {
		var v []float64
		for _, t := range test {
			if t.DefectType == typ {
				v = append(v, *t.rec.value(b))
			}
		}
		return v
	}
	for _, b := range branches {
		if !allHave(test, b) {
			continue
		}
		c, err := metrics.NewClassification(split(b, loco.Good), split(b, loco.LogicalAnomalies), split(b, loco.StructuralAnomalies))
		if err != nil {
			return nil, fmt.Errorf("report: %s auroc: %w", b, err)
		}
		m := map[string]float64{}
		for k, v := range c.AUCROC {
			m[k] = *v
		}
		sum.AUROC[b] = m
		if b == "score" {
			sum.Results.Classification = c
		}
	}

	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var maps map[string]*tiffmap.Map
	if opt.Maps != "" {
		maps, err = readMaps(ds, opt.Maps)
		if err != nil {
			return nil, err
		}
		loc, err := localization(ds, maps)
		if err != nil {
			return nil, err
		}
		sum.Results.Localization = loc
	}
	b, err := sum.Results.MarshalIndent()
	if err != nil {
		return nil, err
	}
	if err := writeFile(opt.Out, "metrics.json", b, sum); err != nil {
		return nil, err
	}
	if err := plotROC(filepath.Join(opt.Out, "roc.png"), test, sum); err != nil {
		return nil, err
	}
	sum.Files = append(sum.Files, "roc.png")
	if err := plotHist(filepath.Join(opt.Out, "hist.png"), test); err != nil {
		return nil, err
	}
	sum.Files = append(sum.Files, "hist.png")
	var worst []scored
	if maps != nil {
		worst = worstCases(test, opt.Worst)
		if err := worstGrid(filepath.Join(opt.Out, "worst_cases.png"), ds, worst, maps); err != nil {
			return nil, err
		}
		sum.Files = append(sum.Files, "worst_cases.png")
	}
	md := markdown(ds, opt, test, sum, worst)
	if err := writeFile(opt.Out, "report.md", []byte(md), sum); err != nil {
		return nil, err
	}
	return sum, nil
}

func writeFile(dir, name string, b []byte, sum *Summary) error {
	if err := atomicfile.WriteFile(filepath.Join(dir, name), b); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	sum.Files = append(sum.Files, name)
	return nil
}

func allHave(test []scored, b string) bool {
	for _, t := range test {
		if t.rec.value(b) == nil {
			return false
		}
	}
	return len(test) > 0
}

// readMaps loads the anomaly map of every test image and checks its size
// against the image.
func readMaps(ds *loco.Dataset, dir string) (map[string]*tiffmap.Map, error) {
	out := map[string]*tiffmap.Map{}
	for _, s := range ds.Test {
		stem := strings.TrimSuffix(s.Rel, ".png")
		var p string
		for _, ext := range []string{".tiff", ".tif"} {
			c := filepath.Join(dir, filepath.FromSlash(stem+ext))
			if _, err := os.Stat(c); err == nil {
				p = c
				break
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("report: %w", err)
			}
		}
		if p == "" {
			return nil, fmt.Errorf("report: no anomaly map for %s: want %s (float32 TIFF the size of the image)", s.Rel, filepath.Join(dir, filepath.FromSlash(stem+".tiff")))
		}
		m, err := tiffmap.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		w, h, err := imageSize(s.Path)
		if err != nil {
			return nil, err
		}
		if m.Width != w || m.Height != h {
			return nil, fmt.Errorf("report: anomaly map %s is %d×%d but its image is %d×%d; write maps at the image size", p, m.Width, m.Height, w, h)
		}
		out[s.Rel] = m
	}
	return out, nil
}

func imageSize(p string) (int, int, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	c, err := png.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("report: cannot read %s: %v", p, err)
	}
	return c.Width, c.Height, nil
}

// localization computes the AU-sPRO part of metrics.json.
func localization(ds *loco.Dataset, maps map[string]*tiffmap.Map) (*metrics.Localization, error) {
	var good, logical, structural []metrics.Image
	for _, s := range ds.Test {
		m := maps[s.Rel]
		im := metrics.Image{Width: m.Width, Height: m.Height, Map: m.Pix}
		if s.Label == 1 {
			g, err := ds.GroundTruth(s)
			if err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			if g.Width != m.Width || g.Height != m.Height {
				return nil, fmt.Errorf("report: ground truth of %s is %d×%d, its map %d×%d", s.Rel, g.Width, g.Height, m.Width, m.Height)
			}
			im.Channels = g.MetricsChannels()
		}
		switch s.DefectType {
		case loco.Good:
			good = append(good, im)
		case loco.LogicalAnomalies:
			logical = append(logical, im)
		case loco.StructuralAnomalies:
			structural = append(structural, im)
		}
	}
	loc, err := metrics.NewLocalization(good, logical, structural, nil)
	if err != nil {
		return nil, fmt.Errorf("report: au-spro: %w", err)
	}
	return loc, nil
}
