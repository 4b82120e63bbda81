package pseudolabel

import (
	"cmp"
	"fmt"
	"slices"
)

// MaxLabels is the largest number of masks a merged label map holds: its
// pixels are uint8 and 0 is "no component".
const MaxLabels = 255

// MinAreaFrac is the §5.1 area filter: masks whose area is at most this
// fraction of the image are dropped by Merge, Split and FilterByCombine.
const MinAreaFrac = 0.001

// Mask is a binary mask of W×H pixels, row-major: pixel (x, y) is
// Pix[y*W+x].
type Mask struct {
	W, H int
	Pix  []bool
}

// NewMask returns an empty w×h mask.
func NewMask(w, h int) Mask { return Mask{W: w, H: h, Pix: make([]bool, w*h)} }

// Area is the number of set pixels.
func (m Mask) Area() int {
	n := 0
	for _, b := range m.Pix {
		if b {
			n++
		}
	}
	return n
}

// BBox returns the half-open bounding box [x0,x1)×[y0,y1) of the set
// pixels; ok is false for an empty mask.
func (m Mask) BBox() (x0, y0, x1, y1 int, ok bool) {
	x0, y0, x1, y1 = m.W, m.H, 0, 0
	for y := 0; y < m.H; y++ {
		row := m.Pix[y*m.W : (y+1)*m.W]
		for x, b := range row {
			if b {
				x0, x1 = min(x0, x), max(x1, x+1)
				y0, y1 = min(y0, y), max(y1, y+1)
			}
		}
	}
	return x0, y0, x1, y1, x1 > x0
}

func (m Mask) check() error {
	if m.W <= 0 || m.H <= 0 || len(m.Pix) != m.W*m.H {
		return fmt.Errorf("pseudolabel: mask of %d pixels does not match its size %d×%d", len(m.Pix), m.W, m.H)
	}
	return nil
}

// LabelMap is a merged label map (§5.1): 0 is no component, 1..K are the
// components.
type LabelMap struct {
	W, H int
	Pix  []uint8
}

// NewLabelMap returns an all-zero w×h label map.
func NewLabelMap(w, h int) LabelMap { return LabelMap{W: w, H: h, Pix: make([]uint8, w*h)} }

// Max is the largest label.
func (l LabelMap) Max() uint8 {
	var v uint8
	for _, p := range l.Pix {
		v = max(v, p)
	}
	return v
}

// Label4 labels the 4-connected components of the set pixels of m with
// 1..n in the raster order of their first pixel (the order of
// scipy.ndimage.label and OpenCV); unset pixels get 0.
func Label4(m Mask) (labels []int32, n int) {
	labels = make([]int32, len(m.Pix))
	stack := make([]int32, 0, 64)
	for start, on := range m.Pix {
		if !on || labels[start] != 0 {
			continue
		}
		n++
		id := int32(n)
		labels[start] = id
		stack = append(stack[:0], int32(start))
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			x, y := p%m.W, p/m.W
			visit := func(q int) {
				if m.Pix[q] && labels[q] == 0 {
					labels[q] = id
					stack = append(stack, int32(q))
				}
			}
			if x > 0 {
				visit(p - 1)
			}
			if x+1 < m.W {
				visit(p + 1)
			}
			if y > 0 {
				visit(p - m.W)
			}
			if y+1 < m.H {
				visit(p + m.W)
			}
		}
	}
	return labels, n
}

// SplitOptions configures SplitConnected, the connected-component step of
// §5.2 item 1.
type SplitOptions struct {
	// MinArea: a component is kept when its pixel count is more than
	// MinArea. Zero means 50, the official value; use a negative value to
	// keep every component.
	MinArea int
	// MaxBBoxFrac: a component is kept when its bounding-box area is less
	// than this fraction of the image. Zero means 0.95.
	MaxBBoxFrac float64
	// KeepZeroRegion reproduces spec §8.2 item 13: OpenCV's label 0, the
	// unset pixels of the mask, is tested like a component and kept when it
	// passes. Off by default because it adds the complement of a mask as a
	// "component".
	KeepZeroRegion bool
}

func (o SplitOptions) withDefaults() SplitOptions {
	if o.MinArea == 0 {
		o.MinArea = 50
	}
	if o.MaxBBoxFrac == 0 {
		o.MaxBBoxFrac = 0.95
	}
	return o
}

// SplitConnected splits every mask into its 4-connected components and
// keeps those that pass the area and bounding-box tests, mask by mask in
// input order and each mask's components in raster order.
func SplitConnected(masks []Mask, o SplitOptions) ([]Mask, error) {
	o = o.withDefaults()
	var out []Mask
	for i, m := range masks {
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("%w (mask %d)", err, i)
		}
		labels, n := Label4(m)
		type stat struct{ area, x0, y0, x1, y1 int }
		st := make([]stat, n+1)
		for k := range st {
			st[k] = stat{0, m.W, m.H, 0, 0}
		}
		for p, l := range labels {
			s := &st[l]
			x, y := p%m.W, p/m.W
			s.area++
			s.x0, s.x1 = min(s.x0, x), max(s.x1, x+1)
			s.y0, s.y1 = min(s.y0, y), max(s.y1, y+1)
		}
		first := 1
		if o.KeepZeroRegion {
			first = 0
		}
		limit := o.MaxBBoxFrac * float64(m.W*m.H)
		for k := first; k <= n; k++ {
			s := st[k]
			if s.area == 0 || float64((s.x1-s.x0)*(s.y1-s.y0)) >= limit || s.area <= o.MinArea {
				continue
			}
			c := NewMask(m.W, m.H)
			for p, l := range labels {
				c.Pix[p] = l == int32(k)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// sameSize checks that every mask is w×h and well formed.
func sameSize(w, h int, masks []Mask) error {
	for i, m := range masks {
		if err := m.check(); err != nil {
			return fmt.Errorf("%w (mask %d)", err, i)
		}
		if m.W != w || m.H != h {
			return fmt.Errorf("pseudolabel: mask %d is %d×%d, want %d×%d like the others", i, m.W, m.H, w, h)
		}
	}
	return nil
}

// bigEnough reports whether a mask passes the §5.1 area filter.
func bigEnough(area, w, h int) bool { return float64(area)/float64(w*h) > MinAreaFrac }

// Merge builds the §5.1 label map of w×h masks: masks of at most 0.1 % of
// the image are dropped, the others sorted by area, largest first (ties
// keep their input order), and painted with 1, 2, ... so that smaller masks
// overwrite larger ones. More than MaxLabels remaining masks is an error.
func Merge(w, h int, masks []Mask) (LabelMap, error) {
	if w <= 0 || h <= 0 {
		return LabelMap{}, fmt.Errorf("pseudolabel: label map size %d×%d is not positive", w, h)
	}
	if err := sameSize(w, h, masks); err != nil {
		return LabelMap{}, err
	}
	type am struct {
		area int
		m    Mask
	}
	var keep []am
	for _, m := range masks {
		if a := m.Area(); bigEnough(a, w, h) {
			keep = append(keep, am{a, m})
		}
	}
	if len(keep) > MaxLabels {
		return LabelMap{}, fmt.Errorf("pseudolabel: %d masks above the 0.1 %% area filter, a label map holds at most %d; keep the %d largest (as the official pipeline does) or segment more coarsely", len(keep), MaxLabels, MaxLabels)
	}
	slices.SortStableFunc(keep, func(a, b am) int { return cmp.Compare(b.area, a.area) })
	out := NewLabelMap(w, h)
	for k, e := range keep {
		for p, on := range e.m.Pix {
			if on {
				out.Pix[p] = uint8(k + 1)
			}
		}
	}
	return out, nil
}

// Split reads a label map back (§5.1): for v = 1..max the mask of the
// pixels equal to v, kept when its area is more than 0.1 % of the image.
// values[i] is the label of masks[i]; both are in increasing label order.
func Split(l LabelMap) (masks []Mask, values []uint8) {
	return split(l, func(area int) bool { return bigEnough(area, l.W, l.H) })
}

// SplitMinPixels is Split with the segmentor dataloader's rule (§1.5): a
// mask is kept when it has more than n pixels.
func SplitMinPixels(l LabelMap, n int) (masks []Mask, values []uint8) {
	return split(l, func(area int) bool { return area > n })
}

func split(l LabelMap, keep func(int) bool) ([]Mask, []uint8) {
	var area [256]int
	for _, v := range l.Pix {
		area[v]++
	}
	var masks []Mask
	var values []uint8
	for v := 1; v < 256; v++ {
		if area[v] == 0 || !keep(area[v]) {
			continue
		}
		m := NewMask(l.W, l.H)
		for p, x := range l.Pix {
			m.Pix[p] = x == uint8(v)
		}
		masks = append(masks, m)
		values = append(values, uint8(v))
	}
	return masks, values
}

// overlapRatio is the official intersect_ratio: |a∧b| / min(|a|, |b|), 0
// when they do not intersect.
func overlapRatio(a, b []bool) float64 {
	inter, na, nb := 0, 0, 0
	for i := range a {
		if a[i] {
			na++
		}
		if b[i] {
			nb++
			if a[i] {
				inter++
			}
		}
	}
	if inter == 0 {
		return 0
	}
	return float64(inter) / float64(min(na, nb))
}

// FilterByCombine removes masks that mostly repeat smaller ones (§5.2 item
// 6): masks of at most 0.1 % of the image are dropped, the rest visited from
// the smallest up (ties in input order) while a running union U grows; a
// mask is accepted when it is the first or overlap(U, mask) < 0.9, where
// overlap is |U∧mask| / min(|U|, |mask|). Rejected masks are then checked
// again, in the same order, against the union of everything accepted so far
// and accepted when |U∧mask| / |mask| < 0.9. The result lists the masks in
// acceptance order, as the official code returns them.
func FilterByCombine(masks []Mask) ([]Mask, error) {
	if len(masks) == 0 {
		return nil, nil
	}
	w, h := masks[0].W, masks[0].H
	if err := sameSize(w, h, masks); err != nil {
		return nil, err
	}
	type am struct {
		area int
		m    Mask
	}
	var list []am
	for _, m := range masks {
		if a := m.Area(); bigEnough(a, w, h) {
			list = append(list, am{a, m})
		}
	}
	slices.SortStableFunc(list, func(a, b am) int { return cmp.Compare(a.area, b.area) })
	union := make([]bool, w*h)
	add := func(m Mask) {
		for p, on := range m.Pix {
			union[p] = union[p] || on
		}
	}
	var out, wait []Mask
	for i, e := range list {
		if i == 0 || overlapRatio(union, e.m.Pix) < 0.9 {
			add(e.m)
			out = append(out, e.m)
		} else {
			wait = append(wait, e.m)
		}
	}
	for _, m := range wait {
		inter, n := 0, 0
		for p, on := range m.Pix {
			if on {
				n++
				if union[p] {
					inter++
				}
			}
		}
		if float64(inter)/float64(n) < 0.9 {
			add(m)
			out = append(out, m)
		}
	}
	return out, nil
}

// FillHoles fills the holes of a mask like scipy.ndimage.binary_fill_holes
// with its default structure: every unset pixel not 4-connected to the
// image border through unset pixels becomes set.
func FillHoles(m Mask) Mask {
	w, h := m.W, m.H
	outside := make([]bool, w*h)
	stack := make([]int, 0, 2*(w+h))
	push := func(p int) {
		if !m.Pix[p] && !outside[p] {
			outside[p] = true
			stack = append(stack, p)
		}
	}
	for x := 0; x < w; x++ {
		push(x)
		push((h-1)*w + x)
	}
	for y := 0; y < h; y++ {
		push(y * w)
		push(y*w + w - 1)
	}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := p%w, p/w
		if x > 0 {
			push(p - 1)
		}
		if x+1 < w {
			push(p + 1)
		}
		if y > 0 {
			push(p - w)
		}
		if y+1 < h {
			push(p + w)
		}
	}
	out := NewMask(w, h)
	for p := range out.Pix {
		out.Pix[p] = !outside[p]
	}
	return out
}

// FillHolesOptions configures FillHolesLabels.
type FillHolesOptions struct {
	// MinPixels: labels with at most this many pixels are dropped before
	// filling. Zero means 100, the dataloader's value.
	MinPixels int
	// OfficialMerge reproduces the dataloader's merge_masks (spec §1.5 and
	// §8.2 item 6): the filled masks, numbered 1..n in label order (not by
	// their label values), are painted largest first with their area rank
	// and then relabelled through the area ordering, which permutes the
	// classes of an image with three or more labels. Off by default: every
	// filled mask keeps its own label value.
	OfficialMerge bool
}

// FillHolesLabels is the segmentor dataloader's fill_holes step (§1.5): the
// label map is split into one mask per label (more than MinPixels pixels),
// the holes of each mask are filled, and the masks are painted back largest
// first so that the components inside a filled hole overwrite it again.
func FillHolesLabels(l LabelMap, o FillHolesOptions) (LabelMap, error) {
	if l.W <= 0 || l.H <= 0 || len(l.Pix) != l.W*l.H {
		return LabelMap{}, fmt.Errorf("pseudolabel: label map of %d pixels does not match its size %d×%d", len(l.Pix), l.W, l.H)
	}
	if o.MinPixels == 0 {
		o.MinPixels = 100
	}
	masks, values := SplitMinPixels(l, o.MinPixels)
	filled := make([]Mask, len(masks))
	areas := make([]int, len(masks))
	for i, m := range masks {
		filled[i] = FillHoles(m)
		areas[i] = filled[i].Area()
	}
	out := NewLabelMap(l.W, l.H)
	if len(filled) == 0 {
		return out, nil
	}
	// Largest first; Python's sorted(reverse=True) is stable, so equal
	// areas keep label order.
	byArea := make([]int, len(filled))
	for i := range byArea {
		byArea[i] = i
	}
	slices.SortStableFunc(byArea, func(a, b int) int { return cmp.Compare(areas[b], areas[a]) })
	if !o.OfficialMerge {
		for _, i := range byArea {
			for p, on := range filled[i].Pix {
				if on {
					out.Pix[p] = values[i]
				}
			}
		}
		return out, nil
	}
	painted := NewLabelMap(l.W, l.H)
	for r, i := range byArea {
		for p, on := range filled[i].Pix {
			if on {
				painted.Pix[p] = uint8(r + 1)
			}
		}
	}
	// mask_order = np.argsort(areas)[::-1]: NumPy's default sort of these
	// short arrays keeps equal areas in index order, so after the reversal
	// equal areas come in decreasing index order.
	asc := make([]int, len(filled))
	for i := range asc {
		asc[i] = i
	}
	slices.SortStableFunc(asc, func(a, b int) int { return cmp.Compare(areas[a], areas[b]) })
	var remap [256]uint8
	for i := range asc {
		order := asc[len(asc)-1-i]
		remap[order+1] = uint8(i + 1)
	}
	for p, v := range painted.Pix {
		out.Pix[p] = remap[v]
	}
	return out, nil
}
