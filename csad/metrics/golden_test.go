package metrics

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestAUROCGolden compares with scikit-learn's roc_auc_score on the cases
// written by testdata/gen_metrics_golden.py. Tolerance 1e-12 (absolute):
// both sides are exact up to float64 rounding of a few operations.
func TestAUROCGolden(t *testing.T) {
	b, err := os.ReadFile("../../testdata/metrics/auroc_golden.json")
	if err != nil {
		t.Fatalf("golden file missing: %v; regenerate with /usr/bin/python3 testdata/gen_metrics_golden.py (needs python3-sklearn)", err)
	}
	var g struct {
		Cases []struct {
			Name   string    `json:"name"`
			Scores []float64 `json:"scores"`
			Labels []int     `json:"labels"`
			AUROC  float64   `json:"auroc"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 8 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		got, err := AUROC(c.Scores, c.Labels)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if math.Abs(got-c.AUROC) > 1e-12 {
			t.Errorf("%s: AUROC %.17g, sklearn %.17g", c.Name, got, c.AUROC)
		}
	}
}
