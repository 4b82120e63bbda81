package cluster

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidInput is wrapped by every error about the caller's data or
// options (empty or ragged matrices, non-finite values, out-of-range
// options), so callers can tell bad input from a failed computation.
var ErrInvalidInput = errors.New("cluster: invalid input")

// ErrNoCluster is wrapped by FilterHistograms when HDBSCAN labels every image
// noise for every allowed min_cluster_size.
var ErrNoCluster = errors.New("cluster: no cluster found")

// invalid builds an ErrInvalidInput error with the operation name in front.
func invalid(op, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidInput, op, fmt.Sprintf(format, args...))
}

// maxElements bounds n·d of an input matrix and d·d of a covariance, so a
// corrupt size fails with a message instead of an out-of-memory crash; 1<<28
// float64 values are 2 GiB, far above CSAD's few thousand × 512.
const maxElements = 1 << 28

// checkMatrix validates a samples-by-features matrix: at least one row, every
// row the same non-zero length, all values finite.
func checkMatrix(op string, x [][]float64) (n, d int, err error) {
	n = len(x)
	if n == 0 {
		return 0, 0, invalid(op, "the matrix has no rows; pass at least one sample")
	}
	d = len(x[0])
	if d == 0 {
		return 0, 0, invalid(op, "row 0 is empty; every sample needs at least one feature")
	}
	if n > maxElements/d {
		return 0, 0, invalid(op, "%d×%d values exceed the limit of %d", n, d, maxElements)
	}
	for i, row := range x {
		if len(row) != d {
			return 0, 0, invalid(op, "row %d has %d values but row 0 has %d; every sample needs the same number of features", i, len(row), d)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, 0, invalid(op, "x[%d][%d] is %v; remove or impute non-finite features", i, j, v)
			}
		}
	}
	return n, d, nil
}

// flatten copies x into one row-major slice (rows are contiguous, which the
// O(n²) distance loops want).
func flatten(x [][]float64, n, d int) []float64 {
	f := make([]float64, n*d)
	for i, row := range x {
		copy(f[i*d:(i+1)*d], row)
	}
	return f
}
