// Package cluster holds the pure-Go numerics of CSAD's pseudo-label stage
// and patch-histogram detector, each matching the scikit-learn or NumPy call
// the official Python code makes:
//
//   - MeanShift: sklearn.cluster.MeanShift (flat kernel, every sample a
//     seed), spec §5.5.
//   - HDBSCAN: sklearn.cluster.HDBSCAN (scikit-learn ≥ 1.3; Euclidean, excess
//     of mass), spec §5.6.
//   - FilterHistograms: spec §5.6 steps 2–5 (image filtering and kept
//     classes, as pseudo_label.py's build_histogram).
//   - Covariance / Cov and Pinv: numpy.cov (ddof 1) and numpy.linalg.pinv
//     (rcond 1e-15), spec §4.4.
//   - Quantile and TrimmedStats: numpy.quantile (linear) and the trimmed
//     z-score statistics of spec §6.1.
//
// Matrices are [][]float64 with one sample per row. Nothing here uses
// LibTorch or writes files.
//
// # Exactness
//
// Results are tested against NumPy and scikit-learn
// (testdata/gen_cluster_golden.py) and, for HDBSCAN, which Debian's
// scikit-learn 1.2 lacks, against a restatement of scikit-learn 1.3
// (testdata/hdbscan_ref.py). Labels are identical; where NumPy's summation
// order is fixed (quantiles, trimmed statistics, means of NumPy's pairwise
// sum) results are bitwise equal; covariances, pseudo-inverses and
// MeanShift centres agree to rounding. Tie order follows NumPy's introsort
// argsort, which scikit-learn's HDBSCAN and pseudo_label.py rely on.
//
// # Errors
//
// Bad input (no rows, ragged rows, NaN or ±Inf, out-of-range options) gives
// an error wrapping ErrInvalidInput that names the offending value; nothing
// panics on input.
//
// # Threading
//
// Every function is safe for concurrent use; inputs are not modified.
// MeanShift runs its seeds on GOMAXPROCS goroutines, with a result that does
// not depend on their number.
package cluster
