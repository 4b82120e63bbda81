package pseudolabel

import (
	"container/heap"
	"math"
	"slices"
)

// bound is a set of 4-neighbour pixel pairs (the boundary of two regions,
// or the inside of one): how many and the sum of their Lab distances.
type bound struct {
	n int
	w float64
}

func (b bound) add(c bound) bound { return bound{b.n + c.n, b.w + c.w} }

// contrast is the mean Lab step over the pairs, 0 for none.
func (b bound) contrast() float64 {
	if b.n == 0 {
		return 0
	}
	return b.w / float64(b.n)
}

// regions is the region adjacency graph of a segmentation. Statistics are
// kept at the union-find root of each region.
type regions struct {
	u   *unionFind
	n   []float64    // pixel count
	sum [][3]float64 // Lab sums
	// inner holds the pixel pairs inside the graph-segmentation regions
	// that make up a region; the boundaries merged away are left out, so
	// that merging does not make a smooth region look textured.
	inner []bound
	adj   []map[int32]bound
	ids   []int32 // graph-segmentation region of each working pixel
	bg    []bool  // background regions (set by background)
}

func newRegions(im *labImage, ids []int32, n int) *regions {
	rg := &regions{u: newUnionFind(n), n: make([]float64, n), sum: make([][3]float64, n),
		inner: make([]bound, n), adj: make([]map[int32]bound, n), ids: ids, bg: make([]bool, n)}
	for i := range rg.adj {
		rg.adj[i] = map[int32]bound{}
	}
	for p, id := range ids {
		rg.n[id]++
		rg.sum[id][0] += float64(im.l[p])
		rg.sum[id][1] += float64(im.a[p])
		rg.sum[id][2] += float64(im.b[p])
	}
	link := func(p, q int) {
		a, b := ids[p], ids[q]
		w := bound{1, float64(im.dist(p, q))}
		if a == b {
			rg.inner[a] = rg.inner[a].add(w)
			return
		}
		rg.adj[a][b] = rg.adj[a][b].add(w)
		rg.adj[b][a] = rg.adj[b][a].add(w)
	}
	for y := 0; y < im.h; y++ {
		for x := 0; x < im.w; x++ {
			p := y*im.w + x
			if x+1 < im.w {
				link(p, p+1)
			}
			if y+1 < im.h {
				link(p, p+im.w)
			}
		}
	}
	return rg
}

func (rg *regions) root(id int32) int32 { return rg.u.find(id) }

func (rg *regions) mean(r int32) [3]float64 {
	s, n := rg.sum[r], rg.n[r]
	return [3]float64{s[0] / n, s[1] / n, s[2] / n}
}

func dist3(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// join merges the regions of roots a and b and returns the new root.
func (rg *regions) join(a, b int32) int32 {
	r := rg.u.union(a, b)
	o := a
	if r == a {
		o = b
	}
	rg.n[r] += rg.n[o]
	for k := range rg.sum[r] {
		rg.sum[r][k] += rg.sum[o][k]
	}
	rg.inner[r] = rg.inner[r].add(rg.inner[o])
	rg.bg[r] = rg.bg[r] || rg.bg[o]
	for nb, c := range rg.adj[o] {
		delete(rg.adj[nb], o)
		if nb == r {
			continue
		}
		rg.adj[r][nb] = rg.adj[r][nb].add(c)
		rg.adj[nb][r] = rg.adj[nb][r].add(c)
	}
	delete(rg.adj[r], o)
	rg.adj[o] = nil
	return r
}

type pair struct {
	d    float64
	a, b int32
}
type pairHeap []pair

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].d != h[j].d {
		return h[i].d < h[j].d
	}
	if h[i].a != h[j].a {
		return h[i].a < h[j].a
	}
	return h[i].b < h[j].b
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pair)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeRule decides which adjacent foreground regions mergeSimilar joins.
type mergeRule struct {
	// maxDist bounds the shadeDist of the mean colours.
	maxDist float64
	// edge and edgeGain bound the boundary contrast by
	// edge + edgeGain·(the larger inner contrast of the two): a boundary
	// must be about as weak as the texture inside the regions, so that
	// shading splits and patches of one texture merge while object outlines
	// stay.
	edge, edgeGain float64
}

// Enclosure rule of score: a region with at least enclosedShare of its
// boundary on one neighbour at least 1/enclosedRatio times its size is a
// speck inside that neighbour (a seed in granola, a hole in a part); it
// merges on colour alone, whatever its outline.
const enclosedShare, enclosedRatio = 0.9, 0.1

// Contact rule of score: two regions whose mean lightness differs by more
// than contactDL (L*) merge on a weak boundary only if it is at least
// minContact of the smaller one's boundary. A short weak contact between
// a lighter and a darker surface is usually a gap in an outline (a tray
// floor touching the brighter frame where the wall's shadow fades), not one
// surface cut in two; pieces of one surface (bars of a frame meeting at a
// narrow joint) have about the same lightness.
const minContact, contactDL = 0.25, 8.0

// perimeter is the number of 4-neighbour pairs on the boundary of root r
// (the image border not counted).
func (rg *regions) perimeter(r int32) float64 {
	total := 0
	for _, c := range rg.adj[r] {
		total += c.n
	}
	return float64(total)
}

// enclosed reports whether root a lies inside root b in that sense.
func (rg *regions) enclosed(a, b int32) bool {
	if rg.n[a] > enclosedRatio*rg.n[b] {
		return false
	}
	return float64(rg.adj[a][b].n) >= enclosedShare*rg.perimeter(a)
}

// score returns the merge priority of roots a and b (the mean colour
// distance) and whether the rule allows the merge.
func (rg *regions) score(a, b int32, m mergeRule) (float64, bool) {
	if rg.bg[a] || rg.bg[b] {
		return 0, false
	}
	d := shadeDist(rg.mean(a), rg.mean(b))
	if d >= m.maxDist {
		return d, false
	}
	if rg.enclosed(a, b) || rg.enclosed(b, a) {
		return d, true
	}
	lim := m.edge + m.edgeGain*math.Max(rg.inner[a].contrast(), rg.inner[b].contrast())
	bd := rg.adj[a][b]
	if float64(bd.n) < minContact*math.Min(rg.perimeter(a), rg.perimeter(b)) && math.Abs(rg.mean(a)[0]-rg.mean(b)[0]) > contactDL {
		return d, false
	}
	return d, bd.contrast() < lim
}

// mergeSimilar merges adjacent foreground regions allowed by the rule, the
// closest mean colours first, re-scoring pairs as regions grow.
func (rg *regions) mergeSimilar(m mergeRule) {
	h := &pairHeap{}
	for a, nbs := range rg.adj {
		for b := range nbs {
			if int32(a) < b {
				if d, ok := rg.score(int32(a), b, m); ok {
					*h = append(*h, pair{d, int32(a), b})
				}
			}
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		p := heap.Pop(h).(pair)
		a, b := rg.u.find(p.a), rg.u.find(p.b)
		if a == b {
			continue
		}
		d, ok := rg.score(a, b, m)
		if !ok {
			continue
		}
		if a != p.a || b != p.b || d != p.d {
			// Queued before one of the two grew: queue it again with its
			// current score, so merges stay in order of distance.
			heap.Push(h, pair{d, min(a, b), max(a, b)})
			continue
		}
		r := rg.join(a, b)
		for nb := range rg.adj[r] {
			if d, ok := rg.score(r, nb, m); ok {
				heap.Push(h, pair{d, min(r, nb), max(r, nb)})
			}
		}
	}
}

// sortedNeighbours returns the neighbours of root r in increasing order,
// so that traversals do not depend on map order.
func (rg *regions) sortedNeighbours(r int32) []int32 {
	out := make([]int32, 0, len(rg.adj[r]))
	for nb := range rg.adj[r] {
		out = append(out, nb)
	}
	slices.Sort(out)
	return out
}

// thinDepth: a region none of whose pixels lies thinDepth or more 4-steps
// inside it (a strip at most about five pixels wide) is thin.
const thinDepth = 3

// depth returns, per root region, the largest city-block distance from one
// of its pixels to the nearest pixel outside it (the image border counts as
// outside): half the width of its thickest part.
func (rg *regions) depth(w, h int) []int32 {
	root := make([]int32, w*h)
	for p, id := range rg.ids {
		root[p] = rg.root(id)
	}
	const inf = math.MaxInt32 / 2
	d := make([]int32, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := y*w + x
			v := int32(inf)
			if x == 0 || y == 0 || root[p-1] != root[p] || root[p-w] != root[p] {
				v = 1
			} else {
				v = min(d[p-1], d[p-w]) + 1
			}
			d[p] = v
		}
	}
	out := make([]int32, len(rg.n))
	for y := h - 1; y >= 0; y-- {
		for x := w - 1; x >= 0; x-- {
			p := y*w + x
			if x == w-1 || y == h-1 || root[p+1] != root[p] || root[p+w] != root[p] {
				d[p] = 1
			} else {
				d[p] = min(d[p], d[p+1]+1, d[p+w]+1)
			}
			out[root[p]] = max(out[root[p]], d[p])
		}
	}
	return out
}

// absorbSmall joins every foreground region that is small (fewer than
// limit pixels) or thin (see thinDepth), smallest first, to the adjacent region of the
// closest colour by shadeDist when that is closer than maxDist: the rims,
// highlights and shadow slivers that the graph segmentation leaves along
// outlines would otherwise be dropped as too small and leave gaps, or
// survive as parts of their own in some images and not in others.
// Background neighbours count, so slivers of shadow on the surface become
// background.
func (rg *regions) absorbSmall(w, h int, limit float64, maxDist float64) {
	depth := rg.depth(w, h)
	// The depth of a union is taken as the larger of the two, which is
	// exact when they touch along a short boundary, the common case here.
	thin := func(r int32) bool { return depth[r] < thinDepth }
	wanted := func(r int32) bool { return !rg.bg[r] && (rg.n[r] < limit || thin(r)) }
	h2 := &pairHeap{}
	for r := range rg.n {
		if rg.u.find(int32(r)) == int32(r) && wanted(int32(r)) {
			*h2 = append(*h2, pair{rg.n[r], int32(r), 0})
		}
	}
	heap.Init(h2)
	for h2.Len() > 0 {
		p := heap.Pop(h2).(pair)
		r := p.a
		if rg.u.find(r) != r || !wanted(r) {
			continue
		}
		if rg.n[r] != p.d {
			heap.Push(h2, pair{rg.n[r], r, 0})
			continue
		}
		best, bd := int32(-1), maxDist
		m := rg.mean(r)
		for _, nb := range rg.sortedNeighbours(r) {
			if d := shadeDist(m, rg.mean(nb)); d < bd {
				best, bd = nb, d
			}
		}
		if best < 0 {
			continue
		}
		dj := max(depth[r], depth[best])
		j := rg.join(r, best)
		depth[j] = dj
		if wanted(j) {
			heap.Push(h2, pair{rg.n[j], j, 0})
		}
	}
}
