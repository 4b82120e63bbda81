package cluster

import (
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// MeanShiftOptions configures MeanShift. Matrix rows are samples.
type MeanShiftOptions struct {
	Bandwidth  float64 // required, > 0
	MaxIter    int     // 0 → 300
	ClusterAll bool    // scikit-learn's cluster_all (true in CSAD)
	// Float32 rounds x to float32 and computes the means in float32, as
	// scikit-learn does when it is given float32 features (CSAD's projected
	// cnn_image features are float32). Distances stay float64, as in
	// scikit-learn's KD-tree.
	Float32 bool
}

// MeanShift is scikit-learn's MeanShift(bandwidth, seeds=None (every point), bin_seeding=False, cluster_all).
//
// Every sample seeds a flat-kernel climb: the mean moves to the mean of the
// samples within Bandwidth (distance ≤ Bandwidth) until it moves by less
// than 1e-3·Bandwidth (strictly, as scikit-learn 1.2's code; spec §5.5 says
// ≤) or after MaxIter moves. Climbs that end on an empty neighbourhood are
// dropped; equal end points are merged, keeping the count of the last seed
// that reached them (a Python dict). Centres are sorted by (count, centre
// coordinates) descending; each kept centre removes every other centre
// within Bandwidth. labels[i] is the index of the nearest kept centre (the
// first on a tie), or -1 when ClusterAll is false and that centre is farther
// than Bandwidth.
//
// Centres agree with scikit-learn to rounding, not bitwise: its KD-tree
// returns neighbours in tree order, which changes the order of the sums.
// Seeds run in parallel over GOMAXPROCS goroutines; the result does not
// depend on the number of goroutines.
func MeanShift(x [][]float64, o MeanShiftOptions) (labels []int, centers [][]float64, err error) {
	const op = "meanshift"
	n, d, err := checkMatrix(op, x)
	if err != nil {
		return nil, nil, err
	}
	bw := o.Bandwidth
	if !(bw > 0) || math.IsInf(bw, 0) {
		return nil, nil, invalid(op, "bandwidth %v must be positive and finite (CSAD uses max_hyper, e.g. 3.5)", bw)
	}
	if o.MaxIter < 0 {
		return nil, nil, invalid(op, "max iterations %d is negative; use 0 for scikit-learn's 300", o.MaxIter)
	}
	maxIter := o.MaxIter
	if maxIter == 0 {
		maxIter = 300
	}
	data := flatten(x, n, d)
	if o.Float32 {
		for i, v := range data {
			f := float32(v)
			if math.IsInf(float64(f), 0) {
				return nil, nil, invalid(op, "x[%d][%d] = %v overflows float32", i/d, i%d, v)
			}
			data[i] = float64(f)
		}
	}
	ms := meanShifter{data: data, n: n, d: d, r2: bw * bw, stop: 1e-3 * bw, maxIter: maxIter, f32: o.Float32}

	ends := make([]climb, n)
	workers := min(runtime.GOMAXPROCS(0), n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := make([]float64, d)
			sum32 := make([]float32, d)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ends[i] = ms.climb(data[i*d:(i+1)*d], sum, sum32)
			}
		}()
	}
	wg.Wait()

	// center_intensity_dict: first insertion fixes the key, later equal
	// centres overwrite the count.
	type entry struct {
		center []float64
		count  int
	}
	var uniq []entry
	where := map[string]int{}
	for _, e := range ends {
		if e.count == 0 {
			continue
		}
		k := centerKey(e.center)
		if j, ok := where[k]; ok {
			uniq[j].count = e.count
			continue
		}
		where[k] = len(uniq)
		uniq = append(uniq, entry{e.center, e.count})
	}
	if len(uniq) == 0 {
		return nil, nil, invalid(op, "no sample lies within bandwidth %v of any seed; increase the bandwidth", bw)
	}
	sort.SliceStable(uniq, func(a, b int) bool {
		if uniq[a].count != uniq[b].count {
			return uniq[a].count > uniq[b].count
		}
		return tupleLess(uniq[b].center, uniq[a].center)
	})
	keep := make([]bool, len(uniq))
	for i := range keep {
		keep[i] = true
	}
	for i := range uniq {
		if !keep[i] {
			continue
		}
		for j := range uniq {
			if within(uniq[i].center, uniq[j].center, ms.r2) {
				keep[j] = false
			}
		}
		keep[i] = true
	}
	for i, e := range uniq {
		if keep[i] {
			centers = append(centers, e.center)
		}
	}

	labels = make([]int, n)
	for i := range labels {
		p := data[i*d : (i+1)*d]
		best, bestD := 0, math.Inf(1)
		for c, ctr := range centers {
			if s := sqDist(p, ctr); s < bestD {
				best, bestD = c, s
			}
		}
		labels[i] = best
		if !o.ClusterAll && !(math.Sqrt(bestD) <= bw) {
			labels[i] = -1
		}
	}
	return labels, centers, nil
}

type meanShifter struct {
	data     []float64
	n, d     int
	r2, stop float64
	maxIter  int
	f32      bool
}

// climb is where one seed's climb ended and how many samples were within the
// bandwidth of the point it last moved from (scikit-learn's
// len(points_within)).
type climb struct {
	center []float64
	count  int
}

func (m *meanShifter) climb(seed []float64, sum []float64, sum32 []float32) climb {
	mean := append([]float64(nil), seed...)
	next := make([]float64, m.d)
	for it := 0; ; it++ {
		count := 0
		clear(sum)
		clear(sum32)
		for j := 0; j < m.n; j++ {
			p := m.data[j*m.d : (j+1)*m.d]
			if !within(mean, p, m.r2) {
				continue
			}
			count++
			if m.f32 {
				for k, v := range p {
					sum32[k] += float32(v)
				}
			} else {
				for k, v := range p {
					sum[k] += v
				}
			}
		}
		if count == 0 {
			return climb{mean, 0}
		}
		if m.f32 {
			c := float32(count)
			for k := range next {
				next[k] = float64(sum32[k] / c)
			}
		} else {
			c := float64(count)
			for k := range next {
				next[k] = sum[k] / c
			}
		}
		moved := math.Sqrt(sqDist(next, mean))
		mean, next = next, mean
		if moved < m.stop || it == m.maxIter {
			return climb{mean, count}
		}
	}
}

// within reports |a−b|² ≤ r2, stopping as soon as the partial sum exceeds
// r2 (the sum only grows, so the answer is the same as the full sum's).
func within(a, b []float64, r2 float64) bool {
	s := 0.0
	for k := range a {
		t := a[k] - b[k]
		s += float64(t * t)
		if s > r2 {
			return false
		}
	}
	return true
}

// sqDist is the squared Euclidean distance summed in feature order, as
// scikit-learn's Cython distance metrics do.
func sqDist(a, b []float64) float64 {
	s := 0.0
	for k := range a {
		t := a[k] - b[k]
		s += float64(t * t)
	}
	return s
}

// tupleLess is Python's tuple comparison of two centres.
func tupleLess(a, b []float64) bool {
	for k := range a {
		if a[k] != b[k] {
			return a[k] < b[k]
		}
	}
	return false
}

// centerKey identifies a centre the way a tuple of floats hashes in Python:
// by value, with 0.0 and -0.0 equal.
func centerKey(c []float64) string {
	b := make([]byte, 0, 8*len(c))
	for _, v := range c {
		if v == 0 {
			v = 0
		}
		u := math.Float64bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24), byte(u>>32), byte(u>>40), byte(u>>48), byte(u>>56))
	}
	return string(b)
}
