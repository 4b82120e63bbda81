package pseudolabel

import (
	"math"
	"slices"
)

// bgModel is the background colour as a quadratic function of the pixel
// position, one polynomial per Lab channel: uneven lighting and vignetting
// change the surface colour across the image by more than the contrast of
// a pale part on a pale surface, so a single corner colour is not enough.
type bgModel struct {
	coef [3][6]float64
	w, h int
}

func (m *bgModel) basis(x, y int) [6]float64 {
	u := (float64(x)+0.5)/float64(m.w) - 0.5
	v := (float64(y)+0.5)/float64(m.h) - 0.5
	return [6]float64{1, u, v, u * u, u * v, v * v}
}

func (m *bgModel) at(x, y int) [3]float64 {
	b := m.basis(x, y)
	var out [3]float64
	for c := range out {
		for k, v := range b {
			out[c] += m.coef[c][k] * v
		}
	}
	return out
}

// fitBackground fits the model to the sample pixels by least squares,
// then three times drops the pixels whose colour is farther from the fit
// than 2.5 times the median distance (at least 1.5 ΔE) and fits again, so
// that parts in the sample do not bend the surface. ok is false when the
// sample is too small to fit.
func fitBackground(im *labImage, sample []int) (bgModel, bool) {
	m := bgModel{w: im.w, h: im.h}
	for round := 0; round < 4; round++ {
		if len(sample) < 12 {
			return m, false
		}
		var ata [6][6]float64
		var atb [3][6]float64
		for _, p := range sample {
			b := m.basis(p%im.w, p/im.w)
			val := [3]float64{float64(im.l[p]), float64(im.a[p]), float64(im.b[p])}
			for i := range b {
				for j := range b {
					ata[i][j] += b[i] * b[j]
				}
				for c := range val {
					atb[c][i] += b[i] * val[c]
				}
			}
		}
		for c := range atb {
			coef, ok := solve6(ata, atb[c])
			if !ok {
				return m, false
			}
			m.coef[c] = coef
		}
		if round == 3 {
			break
		}
		d := make([]float64, len(sample))
		for i, p := range sample {
			d[i] = dist3(m.at(p%im.w, p/im.w), [3]float64{float64(im.l[p]), float64(im.a[p]), float64(im.b[p])})
		}
		med := slices.Clone(d)
		slices.Sort(med)
		lim := math.Max(1.5, 2.5*med[len(med)/2])
		kept := sample[:0:0]
		for i, p := range sample {
			if d[i] <= lim {
				kept = append(kept, p)
			}
		}
		sample = kept
	}
	return m, true
}

// solve6 solves a·x = b by Gaussian elimination with partial pivoting; a
// tiny ridge keeps a degenerate sample (all pixels on one line) solvable.
func solve6(a [6][6]float64, b [6]float64) ([6]float64, bool) {
	scale := 0.0
	for i := range a {
		scale = math.Max(scale, a[i][i])
	}
	for i := range a {
		a[i][i] += 1e-9 * scale
	}
	for col := 0; col < 6; col++ {
		piv := col
		for r := col + 1; r < 6; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		if a[piv][col] == 0 {
			return b, false
		}
		a[col], a[piv] = a[piv], a[col]
		b[col], b[piv] = b[piv], b[col]
		for r := col + 1; r < 6; r++ {
			f := a[r][col] / a[col][col]
			for k := col; k < 6; k++ {
				a[r][k] -= f * a[col][k]
			}
			b[r] -= f * b[col]
		}
	}
	var x [6]float64
	for r := 5; r >= 0; r-- {
		s := b[r]
		for k := r + 1; k < 6; k++ {
			s -= a[r][k] * x[k]
		}
		x[r] = s / a[r][r]
	}
	return x, true
}

// background marks the background regions: the regions covering the
// corner patches, and every region reachable from them through adjacent
// regions whose mean colour is within o.BackgroundDist of the background
// model averaged over the region (lightness differences of darker regions
// scaled by o.ShadowWeight, so cast shadows join). The model is first fitted
// to a band along the image border, then refitted once to the background
// found with it. It runs on the unmerged graph segmentation.
func (rg *regions) background(im *labImage, o SegmentOptions) (bgModel, bool) {
	c := max(1, int(math.Round(o.CornerFrac*float64(min(im.w, im.h)))))
	var sample []int
	for y := 0; y < im.h; y++ {
		for x := 0; x < im.w; x++ {
			if x < c || y < c || x >= im.w-c || y >= im.h-c {
				sample = append(sample, y*im.w+x)
			}
		}
	}
	var seeds []int32
	for _, cy := range []int{0, im.h - c} {
		for _, cx := range []int{0, im.w - c} {
			// The region holding most of the patch.
			count := map[int32]int{}
			for y := cy; y < cy+c; y++ {
				for x := cx; x < cx+c; x++ {
					count[rg.ids[y*im.w+x]]++
				}
			}
			best, bn := int32(-1), 0
			for r, k := range count {
				if k > bn || (k == bn && r < best) {
					best, bn = r, k
				}
			}
			if !slices.Contains(seeds, best) {
				seeds = append(seeds, best)
			}
		}
	}
	n := len(rg.n)
	var isBG []bool
	var m bgModel
	var ok bool
	for round := 0; round < 2; round++ {
		m, ok = fitBackground(im, sample)
		like := make([]bool, n)
		if ok {
			model := make([][3]float64, n)
			for p, id := range rg.ids {
				v := m.at(p%im.w, p/im.w)
				for k := range v {
					model[id][k] += v[k]
				}
			}
			for r := range like {
				mm := rg.mean(int32(r))
				ref := model[r]
				for k := range ref {
					ref[k] /= rg.n[r]
				}
				like[r] = bgLike(mm, ref, o)
			}
		}
		isBG = make([]bool, n)
		queue := slices.Clone(seeds)
		for _, s := range seeds {
			isBG[s] = true
		}
		for len(queue) > 0 {
			r := queue[0]
			queue = queue[1:]
			for _, nb := range rg.sortedNeighbours(r) {
				if !isBG[nb] && like[nb] {
					isBG[nb] = true
					queue = append(queue, nb)
				}
			}
		}
		sample = sample[:0]
		for p, id := range rg.ids {
			if isBG[id] {
				sample = append(sample, p)
			}
		}
	}
	copy(rg.bg, isBG)
	return m, ok
}

// bgLike reports whether a colour matches the background model colour ref
// (the test of background, for one pixel or one region).
func bgLike(c, ref [3]float64, o SegmentOptions) bool {
	dl := c[0] - ref[0]
	if dl < 0 {
		dl *= o.ShadowWeight
	}
	return dl*dl+(c[1]-ref[1])*(c[1]-ref[1])+(c[2]-ref[2])*(c[2]-ref[2]) < o.BackgroundDist*o.BackgroundDist
}

// floodFrac scales BackgroundDist for the pixel test of floodBackground.
const floodFrac = 0.4

// floodBackground moves pixels of foreground regions that match the model
// and touch the background (through such pixels) into the background, and
// returns the graph-segmentation ids renumbered with the background as one
// region, bgID. A region of the graph segmentation can hold both surface
// and the blurred rim of a part (the rim's gradual steps let it grow into
// the surface); region-level decisions then leave surface in the
// foreground or cut a piece of surface off from the rest.
func (rg *regions) floodBackground(im *labImage, m bgModel, o SegmentOptions) (ids []int32, n int, bgID int32) {
	w, h := im.w, im.h
	bg := make([]bool, w*h)
	var queue []int
	for p, id := range rg.ids {
		if rg.bg[id] {
			bg[p] = true
			queue = append(queue, p)
		}
	}
	// One pixel is noisier than a region's mean: a tighter threshold keeps
	// the flood out of parts barely different from the surface.
	po := o
	po.BackgroundDist *= floodFrac
	like := func(p int) bool {
		return bgLike([3]float64{float64(im.l[p]), float64(im.a[p]), float64(im.b[p])}, m.at(p%w, p/w), po)
	}
	for len(queue) > 0 {
		p := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		x, y := p%w, p/w
		for _, q := range [4]int{p - 1, p + 1, p - w, p + w} {
			if (q == p-1 && x == 0) || (q == p+1 && x == w-1) || (q == p-w && y == 0) || (q == p+w && y == h-1) {
				continue
			}
			if !bg[q] && like(q) {
				bg[q] = true
				queue = append(queue, q)
			}
		}
	}
	remap := make(map[int32]int32)
	ids = make([]int32, w*h)
	bgID = -1
	for p, id := range rg.ids {
		key := id
		if bg[p] {
			key = -1
		}
		v, ok := remap[key]
		if !ok {
			v = int32(len(remap))
			remap[key] = v
		}
		ids[p] = v
		if bg[p] {
			bgID = v
		}
	}
	return ids, len(remap), bgID
}
