package pseudolabel

import (
	"cmp"
	"math"
	"slices"
)

// labImage is an image in CIE Lab, one float32 plane per channel.
type labImage struct {
	w, h    int
	l, a, b []float32
}

func (im *labImage) dist(p, q int) float32 {
	dl, da, db := im.l[p]-im.l[q], im.a[p]-im.a[q], im.b[p]-im.b[q]
	return float32(math.Sqrt(float64(dl*dl + da*da + db*db)))
}

// blur applies a separable Gaussian of standard deviation sigma to every
// plane, repeating the edge pixels.
func (im *labImage) blur(sigma float64) {
	if sigma <= 0 {
		return
	}
	r := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*r+1)
	var sum float64
	for i := range k {
		x := float64(i - r)
		v := math.Exp(-x * x / (2 * sigma * sigma))
		k[i] = float32(v)
		sum += v
	}
	for i := range k {
		k[i] /= float32(sum)
	}
	tmp := make([]float32, im.w*im.h)
	for _, pl := range [][]float32{im.l, im.a, im.b} {
		for y := 0; y < im.h; y++ {
			row := pl[y*im.w : (y+1)*im.w]
			for x := 0; x < im.w; x++ {
				var s float32
				for j, kv := range k {
					s += kv * row[min(max(x+j-r, 0), im.w-1)]
				}
				tmp[y*im.w+x] = s
			}
		}
		for y := 0; y < im.h; y++ {
			for x := 0; x < im.w; x++ {
				var s float32
				for j, kv := range k {
					s += kv * tmp[min(max(y+j-r, 0), im.h-1)*im.w+x]
				}
				pl[y*im.w+x] = s
			}
		}
	}
}

// unionFind is a disjoint-set forest with union by size and path halving.
type unionFind struct {
	parent []int32
	size   []int32
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int32, n), size: make([]int32, n)}
	for i := range u.parent {
		u.parent[i] = int32(i)
		u.size[i] = 1
	}
	return u
}

func (u *unionFind) find(x int32) int32 {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

// union joins the sets of the roots a and b and returns the new root.
func (u *unionFind) union(a, b int32) int32 {
	if u.size[a] < u.size[b] {
		a, b = b, a
	}
	u.parent[b] = a
	u.size[a] += u.size[b]
	return a
}

type edge struct {
	a, b int32
	w    float32
}

// gridEdges returns the 8-neighbour edges of the image weighted by the Lab
// distance of their pixels, sorted by weight (ties by position, so the
// result does not depend on the sort algorithm).
func gridEdges(im *labImage) []edge {
	w, h := im.w, im.h
	edges := make([]edge, 0, 4*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := y*w + x
			if x+1 < w {
				edges = append(edges, edge{int32(p), int32(p + 1), im.dist(p, p+1)})
			}
			if y+1 < h {
				edges = append(edges, edge{int32(p), int32(p + w), im.dist(p, p+w)})
				if x+1 < w {
					edges = append(edges, edge{int32(p), int32(p + w + 1), im.dist(p, p+w+1)})
				}
				if x > 0 {
					edges = append(edges, edge{int32(p), int32(p + w - 1), im.dist(p, p+w-1)})
				}
			}
		}
	}
	slices.SortFunc(edges, func(e, f edge) int {
		if c := cmp.Compare(e.w, f.w); c != 0 {
			return c
		}
		if c := cmp.Compare(e.a, f.a); c != 0 {
			return c
		}
		return cmp.Compare(e.b, f.b)
	})
	return edges
}

// felzenszwalb is the graph-based segmentation of Felzenszwalb and
// Huttenlocher (IJCV 2004) on sorted grid edges: two components merge when
// the edge joining them is no heavier than the smaller of their internal
// differences plus k/size. Components below minSize pixels are then joined
// to a neighbour along the lightest edges. It returns a component id per
// pixel, numbered 0..n-1 in raster order of first appearance.
func felzenszwalb(n int, edges []edge, k float64, minSize int) ([]int32, int) {
	u := newUnionFind(n)
	thresh := make([]float32, n)
	for i := range thresh {
		thresh[i] = float32(k)
	}
	for _, e := range edges {
		a, b := u.find(e.a), u.find(e.b)
		if a == b || e.w > thresh[a] || e.w > thresh[b] {
			continue
		}
		r := u.union(a, b)
		thresh[r] = e.w + float32(k/float64(u.size[r]))
	}
	for _, e := range edges {
		a, b := u.find(e.a), u.find(e.b)
		if a != b && (int(u.size[a]) < minSize || int(u.size[b]) < minSize) {
			u.union(a, b)
		}
	}
	return compact(u, n)
}

// compact numbers the sets of u 0..n-1 in raster order.
func compact(u *unionFind, n int) ([]int32, int) {
	ids := make([]int32, n)
	remap := make(map[int32]int32)
	for p := range ids {
		r := u.find(int32(p))
		id, ok := remap[r]
		if !ok {
			id = int32(len(remap))
			remap[r] = id
		}
		ids[p] = id
	}
	return ids, len(remap)
}
