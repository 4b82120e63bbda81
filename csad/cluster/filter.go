package cluster

import (
	"fmt"
	"math"
	"slices"
)

// FilterResult is what FilterHistograms found.
type FilterResult struct {
	GoodIndices    []int // sorted
	KeptClasses    []int // raw cluster ids kept, increasing
	LargestCluster []int // member indices
	MinClusterSize int   // the value finally used
	// HDBSCANLabels is the HDBSCAN label of every image at MinClusterSize
	// (-1 noise), for reports.
	HDBSCANLabels []int
}

// FilterOptions configures FilterHistograms.
type FilterOptions struct {
	// KeepDuplicates keeps an image listed once per cluster whose candidates
	// it is among, as pseudo_label.py does with filter_hist false (spec §8.2
	// item 11), instead of once.
	KeepDuplicates bool
}

// keptAreaThreshold is pseudo_label.py's minimum mean area fraction for a
// class to be kept.
const keptAreaThreshold = 0.001

// FilterHistograms is §5.6 steps 2–5: hist[i][c] is the area fraction of
// MeanShift cluster c in image i (step 1).
//
//   - HDBSCAN (MinSamples = MinClusterSize, no single cluster) with
//     min_cluster_size = int(0.1·N); while every image is noise, retry with
//     one less, and fail with ErrNoCluster once it would go below 2 (where
//     scikit-learn raises).
//   - The largest cluster is the first of the largest size.
//   - For each cluster, its candidates are the int(0.5·size) images among
//     all images (members or not) with the smallest L∞ distance to the
//     cluster's mean histogram, ties in NumPy's argsort order.
//   - GoodIndices: with filterHist the largest cluster's candidates, else the
//     candidates of every cluster; sorted. An image that is a candidate of
//     two clusters appears once unless opt.KeepDuplicates (the official code
//     concatenates and keeps duplicates; spec §8.2 item 11).
//   - KeptClasses: the classes whose mean area over the largest cluster's
//     members (not the good subset) exceeds 0.001.
func FilterHistograms(hist [][]float64, filterHist bool, opt FilterOptions) (FilterResult, error) {
	const op = "filter histograms"
	n, k, err := checkMatrix(op, hist)
	if err != nil {
		return FilterResult{}, err
	}
	start := int(float64(n) * 0.1)
	if start < 2 {
		return FilterResult{}, invalid(op, "%d images give min_cluster_size int(0.1·%d) = %d; HDBSCAN needs at least 2, so at least 20 images", n, n, start)
	}
	var labels []int
	mcs := start
	for ; ; mcs-- {
		if mcs < 2 {
			return FilterResult{}, fmt.Errorf("%w: %s: HDBSCAN labels all %d images noise for every min_cluster_size from %d down to 2; the histograms have no dense group", ErrNoCluster, op, n, start)
		}
		labels, err = HDBSCAN(hist, HDBSCANOptions{MinClusterSize: mcs})
		if err != nil {
			return FilterResult{}, err
		}
		if slices.Max(labels) >= 0 {
			break
		}
	}
	nc := slices.Max(labels) + 1
	members := make([][]int, nc)
	for i, l := range labels {
		if l >= 0 {
			members[l] = append(members[l], i)
		}
	}
	largest := 0
	for c := range members {
		if len(members[c]) > len(members[largest]) {
			largest = c
		}
	}
	dist := make([]float64, n)
	var good []int
	for c, mem := range members {
		mean := meanRows(hist, mem, k)
		for i, h := range hist {
			m := 0.0
			for j, v := range h {
				m = math.Max(m, math.Abs(v-mean[j]))
			}
			dist[i] = m
		}
		numGood := int(float64(len(mem)) * 0.5)
		cand := numpyArgsort(dist)[:numGood]
		if !filterHist || c == largest {
			good = append(good, cand...)
		}
	}
	slices.Sort(good)
	if !opt.KeepDuplicates {
		good = slices.Compact(good)
	}
	var kept []int
	for c, v := range meanRows(hist, members[largest], k) {
		if v > keptAreaThreshold {
			kept = append(kept, c)
		}
	}
	return FilterResult{
		GoodIndices:    good,
		KeptClasses:    kept,
		LargestCluster: members[largest],
		MinClusterSize: mcs,
		HDBSCANLabels:  labels,
	}, nil
}

// meanRows is np.mean(x[rows], axis=0): NumPy adds the rows one after
// another, then divides by their number.
func meanRows(x [][]float64, rows []int, k int) []float64 {
	m := make([]float64, k)
	for _, r := range rows {
		for j, v := range x[r] {
			m[j] += v
		}
	}
	for j := range m {
		m[j] /= float64(len(rows))
	}
	return m
}
