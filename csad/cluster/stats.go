package cluster

import (
	"math"
	"slices"
)

// pairwiseSum is NumPy's pairwise_sum for a contiguous float64 array, the
// summation behind np.sum / np.mean / np.std of a 1-D array: a plain loop
// below 8 values, eight interleaved accumulators up to 128, and halving
// (rounded down to a multiple of 8) above. Reproducing it makes TrimmedStats
// bitwise equal to NumPy instead of equal up to rounding.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for k := range r {
				r[k] += a[i+k]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}

// Quantile is numpy.quantile(v, q) with linear interpolation (NumPy ≥ 1.22's
// "linear" method, including its two-sided lerp that rounds towards the
// nearer end). It returns NaN when v is empty, q is outside [0, 1], or v
// holds a NaN — the cases where NumPy raises or returns NaN; use
// TrimmedStats for a checked computation.
func Quantile(v []float64, q float64) float64 {
	if len(v) == 0 || !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	s := slices.Clone(v)
	for _, x := range s {
		if math.IsNaN(x) {
			return math.NaN()
		}
	}
	slices.Sort(s)
	return sortedQuantile(s, q)
}

func sortedQuantile(s []float64, q float64) float64 {
	n := len(s)
	vi := float64(n-1) * q
	if vi >= float64(n-1) {
		return s[n-1]
	}
	prev := math.Floor(vi)
	i := int(prev)
	a, b := s[i], s[i+1]
	t := vi - prev
	diff := b - a
	// float64(...) keeps each product rounded on its own (no fused
	// multiply-add), as NumPy's separate ufunc calls are.
	if t >= 0.5 {
		return b - float64(diff*(1-t))
	}
	return a + float64(diff*t)
}

// TrimmedStats is spec §6.1's trimmed statistics of validation scores v:
// q20 and q80 by numpy.quantile (linear), the values strictly between them
// (in their original order, which fixes NumPy's summation order), and their
// mean and population (ddof 0) standard deviation, bitwise equal to
// np.mean and np.std. The callers' zero guards (divide only when std ≠ 0 in
// training, std ≤ 1e-3 → 1 in the export) are left to them.
func TrimmedStats(v []float64) (mean, std float64, err error) {
	const op = "trimmed stats"
	if len(v) == 0 {
		return 0, 0, invalid(op, "no values; pass the validation scores")
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, 0, invalid(op, "v[%d] is %v; every validation score must be finite", i, x)
		}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	lo, hi := sortedQuantile(s, 0.2), sortedQuantile(s, 0.8)
	t := make([]float64, 0, len(v))
	for _, x := range v {
		if x > lo && x < hi {
			t = append(t, x)
		}
	}
	if len(t) == 0 {
		return 0, 0, invalid(op, "no value of %d lies strictly between q20=%g and q80=%g; need at least 3 distinct validation scores", len(v), lo, hi)
	}
	n := float64(len(t))
	mean = pairwiseSum(t) / n
	for i, x := range t {
		d := x - mean
		t[i] = d * d
	}
	std = math.Sqrt(pairwiseSum(t) / n)
	return mean, std, nil
}
