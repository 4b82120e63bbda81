package cluster

import "math/bits"

// numpyLess is NumPy's ordering for floats: NaN sorts after every number.
func numpyLess(a, b float64) bool {
	return a < b || (b != b && a == a)
}

// numpyArgsort returns the permutation numpy.argsort(v) returns with its
// default kind ("quicksort", an introsort), tie order included.
//
// The order of equal keys is not a detail here: scikit-learn orders the
// HDBSCAN minimum-spanning-tree edges with np.argsort, and mutual
// reachability distances tie often (many edges take a core distance), so the
// order of tied edges decides cluster ids; pseudo_label.py picks the good
// images with np.argsort of L∞ distances. This port follows NumPy's generic
// aquicksort (npysort/quicksort.cpp: median-of-3 partition, insertion sort
// up to 16 elements, heapsort past 2·log2(n) levels), which is what NumPy
// < 1.25 runs everywhere and later versions run on CPUs without AVX-512.
func numpyArgsort(v []float64) []int {
	n := len(v)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if n < 2 {
		return idx
	}
	const smallQuicksort = 15 // NumPy's SMALL_QUICKSORT
	type span struct{ l, r, depth int }
	var stack []span
	pl, pr := 0, n-1
	cdepth := (bits.Len(uint(n)) - 1) * 2
	for {
		if cdepth < 0 {
			numpyAHeapsort(v, idx[pl:pr+1])
		} else {
			for pr-pl > smallQuicksort {
				pm := pl + (pr-pl)>>1
				if numpyLess(v[idx[pm]], v[idx[pl]]) {
					idx[pm], idx[pl] = idx[pl], idx[pm]
				}
				if numpyLess(v[idx[pr]], v[idx[pm]]) {
					idx[pr], idx[pm] = idx[pm], idx[pr]
				}
				if numpyLess(v[idx[pm]], v[idx[pl]]) {
					idx[pm], idx[pl] = idx[pl], idx[pm]
				}
				vp := v[idx[pm]]
				pi, pj := pl, pr-1
				idx[pm], idx[pj] = idx[pj], idx[pm]
				for {
					pi++
					for numpyLess(v[idx[pi]], vp) {
						pi++
					}
					pj--
					for numpyLess(vp, v[idx[pj]]) {
						pj--
					}
					if pi >= pj {
						break
					}
					idx[pi], idx[pj] = idx[pj], idx[pi]
				}
				pk := pr - 1
				idx[pi], idx[pk] = idx[pk], idx[pi]
				// The larger side waits on the stack, as in NumPy.
				cdepth--
				if pi-pl < pr-pi {
					stack = append(stack, span{pi + 1, pr, cdepth})
					pr = pi - 1
				} else {
					stack = append(stack, span{pl, pi - 1, cdepth})
					pl = pi + 1
				}
			}
			for pi := pl + 1; pi <= pr; pi++ {
				vi := idx[pi]
				vp := v[vi]
				pj := pi
				for pj > pl && numpyLess(vp, v[idx[pj-1]]) {
					idx[pj] = idx[pj-1]
					pj--
				}
				idx[pj] = vi
			}
		}
		if len(stack) == 0 {
			return idx
		}
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		pl, pr, cdepth = top.l, top.r, top.depth
	}
}

// numpyAHeapsort is NumPy's aheapsort on idx (1-based heap arithmetic).
func numpyAHeapsort(v []float64, idx []int) {
	n := len(idx)
	a := func(k int) *int { return &idx[k-1] }
	for l := n >> 1; l > 0; l-- {
		tmp := *a(l)
		i, j := l, l<<1
		for j <= n {
			if j < n && numpyLess(v[*a(j)], v[*a(j + 1)]) {
				j++
			}
			if !numpyLess(v[tmp], v[*a(j)]) {
				break
			}
			*a(i) = *a(j)
			i = j
			j += j
		}
		*a(i) = tmp
	}
	for n > 1 {
		tmp := *a(n)
		*a(n) = *a(1)
		n--
		i, j := 1, 2
		for j <= n {
			if j < n && numpyLess(v[*a(j)], v[*a(j + 1)]) {
				j++
			}
			if !numpyLess(v[tmp], v[*a(j)]) {
				break
			}
			*a(i) = *a(j)
			i = j
			j += j
		}
		*a(i) = tmp
	}
}
