package report_test

import (
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/metrics"
	"github.com/csad-go/csad/csad/report"
	"github.com/csad-go/csad/csad/synth"
	"github.com/csad-go/csad/csad/tiffmap"
)

// fixture generates a small tray data set and returns its folder.
func fixture(t *testing.T) string {
	t.Helper()
	o := synth.DefaultOptions()
	o.Width, o.Height = 160, 128
	o.Train, o.Validation, o.TestGood, o.TestLogical, o.TestStructural = 1, 1, 5, 6, 8
	root := t.TempDir()
	if err := synth.Generate(root, "tray", o); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "tray")
}

// writeInputs writes a score file and one map per test image; mapFn gives
// the map from the ground-truth union (nil for good images).
func writeInputs(t *testing.T, dir string, score func(i int, s loco.Sample) float64, mapFn func(gt []bool, w, h int) []float32) (string, string) {
	t.Helper()
	ds, err := loco.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	scores := filepath.Join(out, "scores.jsonl")
	var lines []string
	for i, s := range ds.Test {
		lines = append(lines, fmt.Sprintf(`{"path":%q,"score":%v,"lgst":%v}`, s.Path, score(i, s), float64(s.Label)))
		w, h := 160, 128
		var gt []bool
		if s.Label == 1 {
			g, err := ds.GroundTruth(s)
			if err != nil {
				t.Fatal(err)
			}
			gt = g.Union()
		}
		m := &tiffmap.Map{Width: w, Height: h, Pix: mapFn(gt, w, h)}
		if err := tiffmap.WriteFile(filepath.Join(out, "maps", filepath.FromSlash(strings.TrimSuffix(s.Rel, ".png")+".tiff")), m); err != nil {
			t.Fatal(err)
		}
	}
	// A validation score is allowed and ignored.
	lines = append(lines, `{"path":"validation/good/000.png","score":0}`)
	if err := os.WriteFile(scores, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return scores, filepath.Join(out, "maps")
}

func oracle(gt []bool, w, h int) []float32 {
	m := make([]float32, w*h)
	for i := range m {
		if gt != nil && gt[i] {
			m[i] = 1
		}
	}
	return m
}

func readResults(t *testing.T, out string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReportOracle(t *testing.T) {
	dir := fixture(t)
	// Perfect scores and perfect maps: every AUROC and AU-sPRO is 1.
	scores, maps := writeInputs(t, dir, func(_ int, s loco.Sample) float64 { return float64(s.Label) }, oracle)
	out := filepath.Join(t.TempDir(), "rep")
	sum, err := report.Run(report.Options{Dataset: dir, Scores: scores, Maps: maps, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range []string{metrics.Logical, metrics.Structural, metrics.Mean} {
		if v := *sum.Results.Classification.AUCROC[sp]; v != 1 {
			t.Errorf("AUROC %s = %v", sp, v)
		}
		for k, v := range sum.Results.Localization.AUCsPRO[sp] {
			if v == nil || math.Abs(*v-1) > 1e-12 {
				t.Errorf("AU-sPRO %s@%s = %v", sp, k, v)
			}
		}
	}
	if _, ok := sum.AUROC["lgst"]; !ok {
		t.Error("lgst branch not evaluated")
	}
	r := readResults(t, out)
	spro := r["localization"].(map[string]any)["auc_spro"].(map[string]any)
	for _, k := range []string{"0.01", "0.05", "0.1", "0.3", "1.0"} {
		if _, ok := spro["logical_anomalies"].(map[string]any)[k]; !ok {
			t.Errorf("metrics.json lacks auc_spro.logical_anomalies[%q]", k)
		}
	}
	if _, ok := r["classification"].(map[string]any)["auc_roc"].(map[string]any)["mean"]; !ok {
		t.Error("metrics.json lacks classification.auc_roc.mean")
	}
	for _, f := range []string{"roc.png", "hist.png", "worst_cases.png"} {
		fh, err := os.Open(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		c, err := png.DecodeConfig(fh)
		fh.Close()
		if err != nil || c.Width < 200 {
			t.Errorf("%s: %v (%d px wide)", f, err, c.Width)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| score | 100.000 | 100.000 | 100.000 |", "AU-sPRO", "worst_cases.png", "roc.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func TestReportConstantMapsAndTies(t *testing.T) {
	dir := fixture(t)
	// All scores tied: AUROC 0.5. Constant maps: the sPRO curve is the
	// diagonal, so AU-sPRO at limit l is l/2 (see the metrics tests).
	scores, maps := writeInputs(t, dir, func(int, loco.Sample) float64 { return 3 },
		func(_ []bool, w, h int) []float32 { return make([]float32, w*h) })
	sum, err := report.Run(report.Options{Dataset: dir, Scores: scores, Maps: maps, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if v := *sum.Results.Classification.AUCROC[metrics.Mean]; v != 0.5 {
		t.Errorf("tied AUROC %v", v)
	}
	for _, l := range metrics.DefaultLimits {
		v := sum.Results.Localization.AUCsPRO[metrics.Logical][metrics.LimitKey(l)]
		if math.Abs(*v-l/2) > 1e-9 {
			t.Errorf("constant AU-sPRO@%v = %v, want %v", l, *v, l/2)
		}
	}
}

func TestReportErrors(t *testing.T) {
	dir := fixture(t)
	scores, maps := writeInputs(t, dir, func(i int, _ loco.Sample) float64 { return float64(i) }, oracle)
	// A missing score.
	b, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	short := filepath.Join(t.TempDir(), "short.jsonl")
	if err := os.WriteFile(short, []byte(strings.Join(lines[1:], "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = report.Run(report.Options{Dataset: dir, Scores: short, Out: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no score for 1 of 19 test images (first: test/good/000.png)") {
		t.Errorf("missing score: %v", err)
	}
	// A broken line.
	if err := os.WriteFile(short, []byte(lines[0]+"\n{oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := report.Run(report.Options{Dataset: dir, Scores: short, Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
	// A missing map.
	if err := os.Remove(filepath.Join(maps, "test", "good", "003.tiff")); err != nil {
		t.Fatal(err)
	}
	if _, err := report.Run(report.Options{Dataset: dir, Scores: scores, Maps: maps, Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "003.tiff") {
		t.Errorf("missing map: %v", err)
	}
	// Without maps the report still works and has no localization.
	sum, err := report.Run(report.Options{Dataset: dir, Scores: scores, Out: t.TempDir()})
	if err != nil || sum.Results.Localization != nil {
		t.Errorf("no maps: %v, %+v", err, sum)
	}
}
