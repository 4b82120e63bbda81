package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrOneClass is returned by the AUROC functions when one of the two classes
// is empty; scikit-learn raises a ValueError in that case.
var ErrOneClass = errors.New("metrics: auroc needs at least one good and one anomalous score")

// AUROC returns the area under the ROC curve of scores against binary labels
// (0 good, 1 anomalous), as scikit-learn's roc_auc_score computes it: ties
// count one half. Labels other than 0 and 1 are an error, and so are NaN
// scores, which have no order.
func AUROC(scores []float64, labels []int) (float64, error) {
	if len(scores) != len(labels) {
		return 0, fmt.Errorf("metrics: %d scores but %d labels", len(scores), len(labels))
	}
	var good, bad []float64
	for i, s := range scores {
		switch labels[i] {
		case 0:
			good = append(good, s)
		case 1:
			bad = append(bad, s)
		default:
			return 0, fmt.Errorf("metrics: label %d at index %d is neither 0 (good) nor 1 (anomalous)", labels[i], i)
		}
	}
	return AUROCSplit(good, bad)
}

// AUROCSplit is AUROC with the scores of good and anomalous images given
// separately, the form of the official evaluation script's
// compute_classification_auc_roc.
func AUROCSplit(good, anomalous []float64) (float64, error) {
	if len(good) == 0 || len(anomalous) == 0 {
		return 0, ErrOneClass
	}
	for _, v := range [][]float64{good, anomalous} {
		for _, s := range v {
			if math.IsNaN(s) {
				return 0, errors.New("metrics: auroc got a NaN score")
			}
		}
	}
	g := slices.Clone(good)
	a := slices.Clone(anomalous)
	slices.Sort(g)
	slices.Sort(a)
	// Twice the Mann–Whitney U as an integer: a pair with the anomalous score
	// above counts 2, a tie 1. Dividing once at the end gives the correctly
	// rounded quotient instead of accumulating rounding over the curve.
	var twiceU int64
	lo, hi := 0, 0 // g[:lo] < s, g[:hi] <= s for the current anomalous score s
	for _, s := range a {
		for lo < len(g) && g[lo] < s {
			lo++
		}
		if hi < lo {
			hi = lo
		}
		for hi < len(g) && g[hi] <= s {
			hi++
		}
		twiceU += 2*int64(lo) + int64(hi-lo)
	}
	return float64(twiceU) / (2 * float64(len(g)) * float64(len(a))), nil
}

// ROCCurve returns the points of the ROC curve, FPR and TPR ascending, with
// one point per distinct score plus (0,0); it is what scikit-learn's
// roc_curve returns with drop_intermediate=false, and what the plots of
// package report draw.
func ROCCurve(good, anomalous []float64) (fpr, tpr []float64) {
	type item struct {
		s   float64
		bad bool
	}
	all := make([]item, 0, len(good)+len(anomalous))
	for _, s := range good {
		all = append(all, item{s, false})
	}
	for _, s := range anomalous {
		all = append(all, item{s, true})
	}
	// Descending score: lowering the threshold adds images one tie group at a
	// time.
	slices.SortFunc(all, func(x, y item) int {
		switch {
		case x.s > y.s:
			return -1
		case x.s < y.s:
			return 1
		}
		return 0
	})
	fpr = []float64{0}
	tpr = []float64{0}
	var fp, tp int
	for i, it := range all {
		if it.bad {
			tp++
		} else {
			fp++
		}
		if i == len(all)-1 || all[i+1].s != it.s {
			fpr = append(fpr, ratio(fp, len(good)))
			tpr = append(tpr, ratio(tp, len(anomalous)))
		}
	}
	return fpr, tpr
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}
