package cluster

import (
	"math"
	"slices"
)

// HDBSCANOptions configures HDBSCAN.
type HDBSCANOptions struct {
	MinClusterSize     int // >= 2
	MinSamples         int // 0 → MinClusterSize
	AllowSingleCluster bool
}

// HDBSCAN is scikit-learn ≥1.3's HDBSCAN (Euclidean, cluster_selection_method "eom", epsilon 0); noise = -1.
//
// The steps and their tie rules are scikit-learn's (algorithm "auto", the
// KD-tree + Prim path), restated in testdata/hdbscan_ref.py:
//
//  1. core distance of a sample: distance to its MinSamples-th nearest
//     neighbour, the sample itself counting as the first;
//  2. Prim's minimum spanning tree of the mutual reachability distance
//     max(core_a, core_b, |a−b|), started at sample 0, lowest index on ties;
//  3. edges ordered by NumPy's argsort (its introsort decides the order of
//     tied edges, and so the cluster numbering), merged into a single-linkage
//     tree;
//  4. the tree condensed with MinClusterSize, cluster stabilities, excess of
//     mass selection (the root only when AllowSingleCluster);
//  5. every sample labelled with its selected ancestor, numbered in
//     increasing condensed-tree id, or -1.
//
// Time is O(n²·d) and memory O(n·d).
func HDBSCAN(x [][]float64, o HDBSCANOptions) (labels []int, err error) {
	const op = "hdbscan"
	n, d, err := checkMatrix(op, x)
	if err != nil {
		return nil, err
	}
	if o.MinClusterSize < 2 {
		return nil, invalid(op, "min cluster size %d must be at least 2", o.MinClusterSize)
	}
	ms := o.MinSamples
	if ms == 0 {
		ms = o.MinClusterSize
	}
	if ms < 0 {
		return nil, invalid(op, "min samples %d is negative; use 0 for min cluster size", o.MinSamples)
	}
	if n < 2 {
		return nil, invalid(op, "%d sample; clustering needs at least 2", n)
	}
	if ms > n {
		return nil, invalid(op, "min samples %d must be at most the number of samples %d", ms, n)
	}
	data := flatten(x, n, d)
	core := coreDistances(data, n, d, ms)
	src, dst, w := primMST(data, n, d, core)
	h := singleLinkage(src, dst, w, n)
	rows := condenseTree(h, n, o.MinClusterSize)
	stab := stabilities(rows, n)
	selected := selectEOM(rows, stab, n, o.AllowSingleCluster)
	return labelPoints(rows, selected, n, o.AllowSingleCluster), nil
}

func coreDistances(data []float64, n, d, k int) []float64 {
	core := make([]float64, n)
	row := make([]float64, n)
	for i := 0; i < n; i++ {
		a := data[i*d : (i+1)*d]
		for j := 0; j < n; j++ {
			row[j] = math.Sqrt(sqDist(a, data[j*d:(j+1)*d]))
		}
		slices.Sort(row)
		core[i] = row[k-1]
	}
	return core
}

// primMST is scikit-learn's mst_from_data_matrix: edge i joins src[i] (in
// the tree) to dst[i] at mutual reachability w[i].
func primMST(data []float64, n, d int, core []float64) (src, dst []int, w []float64) {
	inTree := make([]bool, n)
	minReach := make([]float64, n)
	source := make([]int, n)
	for j := range minReach {
		minReach[j] = math.Inf(1)
		source[j] = 1 // scikit-learn initialises current_sources with ones
	}
	src, dst, w = make([]int, n-1), make([]int, n-1), make([]float64, n-1)
	cur := 0
	for e := 0; e < n-1; e++ {
		inTree[cur] = true
		a := data[cur*d : (cur+1)*d]
		best, bs, bn := math.Inf(1), 0, 0
		for j := 0; j < n; j++ {
			if inTree[j] {
				continue
			}
			mr := max(core[cur], core[j], math.Sqrt(sqDist(a, data[j*d:(j+1)*d])))
			if mr < minReach[j] {
				minReach[j], source[j] = mr, cur
			}
			if minReach[j] < best {
				best, bs, bn = minReach[j], source[j], j
			}
		}
		src[e], dst[e], w[e] = bs, bn, best
		cur = bn
	}
	return src, dst, w
}

// hierarchy is a single-linkage tree: node n+i merges left[i] and right[i]
// at distance dist[i] into size[i] samples; ids below n are samples.
type hierarchy struct {
	left, right, size []int
	dist              []float64
}

func singleLinkage(src, dst []int, w []float64, n int) hierarchy {
	order := numpyArgsort(w)
	parent := make([]int, 2*n-1)
	size := make([]int, 2*n-1)
	for i := range parent {
		parent[i] = -1
	}
	for i := 0; i < n; i++ {
		size[i] = 1
	}
	find := func(v int) int {
		r := v
		for parent[r] != -1 {
			r = parent[r]
		}
		for v != r && parent[v] != r {
			parent[v], v = r, parent[v]
		}
		return r
	}
	h := hierarchy{make([]int, n-1), make([]int, n-1), make([]int, n-1), make([]float64, n-1)}
	for i, e := range order {
		a, b := find(src[e]), find(dst[e])
		node := n + i
		h.left[i], h.right[i], h.dist[i] = a, b, w[e]
		size[node] = size[a] + size[b]
		h.size[i] = size[node]
		parent[a], parent[b] = node, node
	}
	return h
}

// bfs lists the subtree of root breadth first, as bfs_from_hierarchy.
func (h hierarchy) bfs(root, n int) []int {
	out := []int{root}
	for head := 0; head < len(out); head++ {
		if v := out[head]; v >= n {
			out = append(out, h.left[v-n], h.right[v-n])
		}
	}
	return out
}

func (h hierarchy) count(v, n int) int {
	if v < n {
		return 1
	}
	return h.size[v-n]
}

// condensedRow is one edge of the condensed tree: child leaves (a sample) or
// splits off (a cluster of childSize samples) parent at lambda = 1/distance.
type condensedRow struct {
	parent, child int
	lambda        float64
	childSize     int
}

// condenseTree is scikit-learn's _condense_tree; cluster ids start at n
// (the root) and are given in breadth-first order, left child first.
func condenseTree(h hierarchy, n, minSize int) []condensedRow {
	root := 2 * (n - 1)
	relabel := make([]int, root+1)
	relabel[root] = n
	nextLabel := n + 1
	ignore := make([]bool, root+1)
	var rows []condensedRow
	drop := func(node, sub int, lambda float64) {
		for _, s := range h.bfs(sub, n) {
			if s < n {
				rows = append(rows, condensedRow{relabel[node], s, lambda, 1})
			}
			ignore[s] = true
		}
	}
	for _, node := range h.bfs(root, n) {
		if ignore[node] || node < n {
			continue
		}
		i := node - n
		left, right := h.left[i], h.right[i]
		lambda := math.Inf(1)
		if h.dist[i] > 0 {
			lambda = 1 / h.dist[i]
		}
		lc, rc := h.count(left, n), h.count(right, n)
		switch {
		case lc >= minSize && rc >= minSize:
			relabel[left] = nextLabel
			rows = append(rows, condensedRow{relabel[node], nextLabel, lambda, lc})
			relabel[right] = nextLabel + 1
			rows = append(rows, condensedRow{relabel[node], nextLabel + 1, lambda, rc})
			nextLabel += 2
		case lc < minSize && rc < minSize:
			drop(node, left, lambda)
			drop(node, right, lambda)
		case lc < minSize:
			relabel[right] = relabel[node]
			drop(node, left, lambda)
		default:
			relabel[left] = relabel[node]
			drop(node, right, lambda)
		}
	}
	return rows
}

// stabilities is _compute_stability, indexed by cluster id − n: the sum over
// a cluster's rows of (lambda − birth)·size, accumulated in row order.
func stabilities(rows []condensedRow, n int) []float64 {
	maxID := n
	for _, r := range rows {
		maxID = max(maxID, r.parent)
	}
	birth := make([]float64, maxID-n+1)
	for _, r := range rows {
		if r.child >= n {
			birth[r.child-n] = r.lambda
		}
	}
	stab := make([]float64, maxID-n+1)
	for _, r := range rows {
		p := r.parent - n
		stab[p] += (r.lambda - birth[p]) * float64(r.childSize)
	}
	return stab
}

// selectEOM is _get_clusters with "eom": from the highest id down, a cluster
// stays selected unless its children's (propagated) stability is larger.
// It returns the selected ids in increasing order.
func selectEOM(rows []condensedRow, stab []float64, n int, allowSingle bool) []int {
	k := len(stab)
	children := make([][]int, k)
	for _, r := range rows {
		if r.childSize > 1 {
			children[r.parent-n] = append(children[r.parent-n], r.child)
		}
	}
	isCluster := make([]bool, k)
	lowest := 1
	if allowSingle {
		lowest = 0
	}
	for c := lowest; c < k; c++ {
		isCluster[c] = true
	}
	for c := k - 1; c >= lowest; c-- {
		sub := 0.0
		for _, ch := range children[c] {
			sub += stab[ch-n]
		}
		if sub > stab[c] {
			isCluster[c] = false
			stab[c] = sub
			continue
		}
		queue := slices.Clone(children[c])
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			isCluster[v-n] = false
			queue = append(queue, children[v-n]...)
		}
	}
	var sel []int
	for c, ok := range isCluster {
		if ok {
			sel = append(sel, c+n)
		}
	}
	return sel
}

// labelPoints is _do_labelling: a sample takes the label of the selected
// cluster it falls out of or below; below no selected cluster it is noise.
// A selected root (AllowSingleCluster) keeps only the samples that leave it
// at its largest lambda, as scikit-learn does.
func labelPoints(rows []condensedRow, selected []int, n int, allowSingle bool) []int {
	label := map[int]int{}
	for i, c := range selected {
		label[c] = i
	}
	up := map[int]int{}
	pointLambda := make([]float64, n)
	rootMax := math.Inf(-1)
	for _, r := range rows {
		if _, sel := label[r.child]; !sel {
			up[r.child] = r.parent
		}
		if r.child < n {
			pointLambda[r.child] = r.lambda
		}
		if r.parent == n {
			rootMax = max(rootMax, r.lambda)
		}
	}
	out := make([]int, n)
	for i := range out {
		v := i
		for {
			p, ok := up[v]
			if !ok {
				break
			}
			v = p
		}
		out[i] = -1
		if v != n {
			if l, ok := label[v]; ok {
				out[i] = l
			}
		} else if l, ok := label[n]; ok && len(selected) == 1 && allowSingle && pointLambda[i] >= rootMax {
			out[i] = l
		}
	}
	return out
}
