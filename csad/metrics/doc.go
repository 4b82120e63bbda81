// Package metrics computes the evaluation numbers of MVTec LOCO AD: the
// image-level AUROC of scikit-learn's roc_auc_score and the pixel-level
// AU-sPRO of the official MVTec LOCO AD evaluation, and writes them in the
// metrics.json layout of the official evaluation script.
//
// # AUROC
//
// [AUROC] is the Mann–Whitney statistic with average ranks: the fraction of
// (anomalous, good) pairs whose anomalous score is larger, a tie counting one
// half. scikit-learn integrates the ROC curve with the trapezoidal rule, which
// is the same number; here the pair counts are kept as integers and divided
// once, so the result is the correctly rounded float64 value and agrees with
// scikit-learn to about 1e-15.
//
// # AU-sPRO
//
// [AUsPRO] follows the official evaluation (Bergmann et al., "Beyond Dents
// and Scratches", IJCV 2022): a pixel is predicted anomalous when its score is
// strictly greater than the threshold; the false positive rate counts every
// pixel that lies in no defect channel, over all images of the set (good test
// images included); the sPRO of one defect channel is
// min(1, true-positive area / saturation area), where the saturation area is
// min(saturation_threshold, defect area) for absolute thresholds and
// int(saturation_threshold × defect area) for relative ones; the curve is the
// mean sPRO over all channels of all images against the FPR, integrated with
// the trapezoidal rule up to an FPR limit (linear interpolation at the limit)
// and divided by the limit.
//
// The official script approximates the curve by refining a set of thresholds
// sampled from the scores until adjacent curve points are at most 0.01 apart.
// This package evaluates the curve at every distinct score instead, which is
// the value that approximation converges to; the official number may differ
// from it by up to about the refinement tolerance on coarse curves.
//
// # Ownership and threading
//
// Functions do not keep or modify their inputs and hold no global state; they
// are safe to call from several goroutines.
package metrics
