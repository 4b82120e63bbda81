package report

import (
	"fmt"
	"strings"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/metrics"
)

func markdown(ds *loco.Dataset, opt Options, test []scored, sum *Summary, worst []scored) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Evaluation report: %s\n\n", ds.Category)
	fmt.Fprintf(&b, "- data set: `%s`\n- scores: `%s`\n", opt.Dataset, opt.Scores)
	if opt.Maps != "" {
		fmt.Fprintf(&b, "- anomaly maps: `%s`\n", opt.Maps)
	}
	n := map[string]int{}
	for _, t := range test {
		n[t.DefectType]++
	}
	fmt.Fprintf(&b, "- test images: %d good, %d logical anomalies, %d structural anomalies\n\n",
		n[loco.Good], n[loco.LogicalAnomalies], n[loco.StructuralAnomalies])

	b.WriteString("## Image-level AUROC (×100)\n\n")
	b.WriteString("Each split is scored against the good test images; ties count one half (scikit-learn `roc_auc_score`).\n\n")
	b.WriteString("| scores | logical | structural | mean |\n|---|---:|---:|---:|\n")
	for _, br := range branches {
		a, ok := sum.AUROC[br]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f |\n", br, 100*a[metrics.Logical], 100*a[metrics.Structural], 100*a[metrics.Mean])
	}
	b.WriteString("\n![ROC curves](roc.png)\n\n![score histograms](hist.png)\n\n")

	if loc := sum.Results.Localization; loc != nil {
		b.WriteString("## Pixel-level AU-sPRO\n\n")
		b.WriteString("Normalised area under the saturated per-region overlap curve up to each false-positive-rate limit, good test images included in each split (official MVTec LOCO AD evaluation, exact curve).\n\n")
		b.WriteString("| split |")
		for _, l := range metrics.DefaultLimits {
			fmt.Fprintf(&b, " FPR ≤ %s |", metrics.LimitKey(l))
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(metrics.DefaultLimits)) + "\n")
		for _, sp := range []string{metrics.Logical, metrics.Structural, metrics.Mean} {
			fmt.Fprintf(&b, "| %s |", sp)
			for _, l := range metrics.DefaultLimits {
				if v := loc.AUCsPRO[sp][metrics.LimitKey(l)]; v != nil {
					fmt.Fprintf(&b, " %.4f |", *v)
				} else {
					b.WriteString(" n/a |")
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(worst) > 0 {
		b.WriteString("## Worst cases\n\n")
		b.WriteString("Anomalies with the lowest scores and good images with the highest, with their anomaly maps (jet palette over the range of all test maps; ground truth outlined in white).\n\n")
		b.WriteString("![worst cases](worst_cases.png)\n\n| # | image | type | score |\n|---:|---|---|---:|\n")
		for i, w := range worst {
			fmt.Fprintf(&b, "| %d | `%s` | %s | %.6g |\n", i+1, w.Rel, w.DefectType, *w.rec.Score)
		}
		b.WriteString("\n")
	}
	b.WriteString("Raw numbers: [metrics.json](metrics.json) (layout of the official evaluation script, values in [0,1]).\n")
	return b.String()
}
