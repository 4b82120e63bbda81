package cluster

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// Covariance is numpy.cov(x, rowvar=False) (ddof 1): x has one sample per
// row, the result is d×d. It returns nil for input Cov rejects; call Cov to
// learn why.
func Covariance(x [][]float64) [][]float64 {
	c, err := Cov(x)
	if err != nil {
		return nil
	}
	return c
}

// Cov is Covariance with the reason for a rejected input: no rows, ragged
// rows, a non-finite value, fewer than 2 samples (ddof 1 would divide by
// zero; NumPy returns inf/NaN with a warning), or a d×d result too large.
//
// Like NumPy it centres each variable on its mean (NumPy's pairwise sum, so
// the means are bitwise NumPy's), forms the cross products and multiplies by
// 1/(n−1) rather than dividing. NumPy's products go through BLAS in an order
// it does not fix, so agreement is to rounding (about 1e-16 relative to the
// largest entry), not bitwise. The result is exactly symmetric.
func Cov(x [][]float64) ([][]float64, error) {
	const op = "covariance"
	n, d, err := checkMatrix(op, x)
	if err != nil {
		return nil, err
	}
	if n < 2 {
		return nil, invalid(op, "%d sample; ddof 1 needs at least 2", n)
	}
	if d > maxElements/d {
		return nil, invalid(op, "%d variables give a %d×%d matrix, over the limit of %d values", d, d, d, maxElements)
	}
	// Variables as rows, as NumPy's copy of x.T.
	xt := make([]float64, d*n)
	for i, row := range x {
		for j, v := range row {
			xt[j*n+i] = v
		}
	}
	for j := 0; j < d; j++ {
		r := xt[j*n : (j+1)*n]
		m := pairwiseSum(r) / float64(n)
		for i := range r {
			r[i] -= m
		}
	}
	scale := 1 / float64(n-1)
	c := make([][]float64, d)
	for j := range c {
		c[j] = make([]float64, d)
	}
	for j := 0; j < d; j++ {
		a := xt[j*n : (j+1)*n]
		for k := j; k < d; k++ {
			b := xt[k*n : (k+1)*n]
			s := 0.0
			for i := range a {
				s += a[i] * b[i]
			}
			s *= scale
			c[j][k], c[k][j] = s, s
		}
	}
	return c, nil
}

// pinvRcond is numpy.linalg.pinv's default relative cutoff.
const pinvRcond = 1e-15

// Pinv is numpy.linalg.pinv(a) in float64: a thin SVD a = U·diag(s)·Vᵀ,
// singular values s ≤ 1e-15·max(s) treated as zero, and a⁺ = V·diag(1/s)·Uᵀ.
// a is m×n (rows need not be square); the result is n×m. An all-zero matrix
// gives an all-zero pseudo-inverse, as in NumPy.
//
// The SVD is gonum's (LAPACK dgesvd), NumPy's is LAPACK dgesdd: the two agree
// to rounding for the well-separated spectra of CSAD's histogram
// covariances (an all-zero background row/column gives an exactly or nearly
// zero singular value far below the cutoff). A singular value within a few
// ulps of the cutoff can be kept by one and dropped by the other.
func Pinv(a [][]float64) ([][]float64, error) {
	const op = "pinv"
	m, n, err := checkMatrix(op, a)
	if err != nil {
		return nil, err
	}
	am := mat.NewDense(m, n, flatten(a, m, n))
	var svd mat.SVD
	if !svd.Factorize(am, mat.SVDThin) {
		return nil, invalid(op, "the %d×%d SVD did not converge", m, n)
	}
	s := svd.Values(nil)
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	smax := 0.0
	for _, x := range s {
		smax = math.Max(smax, x)
	}
	cutoff := pinvRcond * smax
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, m)
	}
	for k, sk := range s {
		if !(sk > cutoff) {
			continue
		}
		inv := 1 / sk
		for i := 0; i < n; i++ {
			vik := v.At(i, k) * inv
			if vik == 0 {
				continue
			}
			row := out[i]
			for j := 0; j < m; j++ {
				row[j] += vik * u.At(j, k)
			}
		}
	}
	return out, nil
}
