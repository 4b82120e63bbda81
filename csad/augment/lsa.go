package augment

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// LSAOptions configure [LSA]; the field names follow the official
// LSA_config keys (min_aug_num, max_aug_num, boundary, weight_power,
// min_distance).
type LSAOptions struct {
	// MinAug pastes are made in phase 1, MaxAug−MinAug more are tried in
	// phase 2.
	MinAug, MaxAug int
	// Boundary keeps target centres in [Boundary, 1−Boundary)² of the image.
	Boundary float64
	// WeightPower: a component is drawn with probability ∝ area^WeightPower.
	WeightPower float64
	// MinDistance is the least distance, as a fraction of the image side,
	// between a component's centre and its target centre.
	MinDistance float64
	// Official reproduces the official code's quirks (see the package
	// documentation) instead of the intended behaviour.
	Official bool
}

// DefaultLSAOptions returns the official configuration of every category
// but screw_bag (which uses MinDistance 0.1), with the intended behaviour.
func DefaultLSAOptions() LSAOptions {
	return LSAOptions{MinAug: 1, MaxAug: 2, Boundary: 0.1, WeightPower: 0, MinDistance: 0.2}
}

// ErrComponentsExhausted is returned, in Official mode only, when LSA needs
// a component and none is left: the official code crashes there.
var ErrComponentsExhausted = errors.New("augment: lsa ran out of candidate components (the official code crashes here)")

// Fixed constants of the official lsa.py.
const (
	lsaMinAreaFrac   = 0.001 // a component must cover more than this share of the image
	lsaLabelOverlap  = 0.9   // ... and overlap the labelled area by more than this
	lsaMaxUnlabelled = 100   // at most this many of its pixels may have label 0
	lsaAttempts      = 500   // placement proposals per component
	lsaRedrawEvery   = 10    // intended: change component after this many failures
	lsaPoints        = 10000 // candidate target centres per proposal
	lsaMaskThreshold = 200   // warped mask values above this are inside
	lsaAccept1       = 0.5   // phase 1: overlap with the background must be below this
	lsaAccept2       = 0.9   // phase 2: likewise
)

func (o LSAOptions) validate() error {
	if o.MinAug < 0 || o.MaxAug < o.MinAug {
		return fmt.Errorf("augment: lsa MinAug %d, MaxAug %d; want 0 ≤ MinAug ≤ MaxAug", o.MinAug, o.MaxAug)
	}
	for _, v := range []float64{o.Boundary, o.WeightPower, o.MinDistance} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("augment: lsa options %+v are not finite", o)
		}
	}
	if o.Boundary < 0 || o.Boundary >= 0.5 {
		return fmt.Errorf("augment: lsa Boundary %g outside [0, 0.5)", o.Boundary)
	}
	// The official sample_point asserts the same bound: beyond it almost
	// no point of the square is far enough from the source.
	if lim := math.Sqrt(2 * (0.5 - o.Boundary) * (0.5 - o.Boundary)); o.MinDistance < 0 || o.MinDistance >= lim {
		return fmt.Errorf("augment: lsa MinDistance %g outside [0, %.4g) for Boundary %g", o.MinDistance, lim, o.Boundary)
	}
	return nil
}

// component is one candidate part: the pixels where comp == value.
type component struct {
	value          uint8
	area           int
	x0, y0, x1, y1 int // bounding box, inclusive
}

// paste records one placement, for the tests' invariants.
type paste struct {
	value    uint8
	m        Affine
	region   []bool  // pixels written
	footprnt []uint8 // the thresholded warped mask (0/255), as accepted or rejected
	accepted bool
	phase    int
	attempt  int // index of the proposal used
}

// lsaState is one LSA call: the input maps, the candidate pool and the
// output being built.
type lsaState struct {
	r          *rand.Rand
	o          LSAOptions
	w, h       int
	img, gt    []uint8
	comp, bg   []uint8
	bgNonZero  int
	pool       []component
	outImg     []uint8
	outGT      []uint8
	pastes     []paste
	drawn      []uint8           // values in the order drawn, re-draws included
	masks      map[uint8][]uint8 // component masks built so far
	scratch    []uint8           // warped mask of the current proposal
	scratchBox [4]int            // the rectangle of scratch written last
	px, py     []float64
	pw         []float64
}

// LSA is the labelled logical synthetic anomaly of spec §4.5: it copies one
// or two parts of an image to other places on the object (the image is its
// own source), moving their labels with them, so that the segmentor sees
// images with a wrong number or arrangement of parts.
//
// img is w×h RGB (HWC), gt the label map, comp the component map
// (refined_masks: one value per part), bg the background map (non-zero =
// background); all maps are w×h bytes. n is the number of pastes made. The
// outputs are new slices; with n = 0 they equal the inputs. The random
// draws come from r only.
func LSA(r *rand.Rand, img []uint8, gt, comp, bg []uint8, w, h int, o LSAOptions) (outImg, outGT []uint8, n int, err error) {
	s, err := runLSA(r, img, gt, comp, bg, w, h, o)
	if err != nil {
		return nil, nil, 0, err
	}
	return s.outImg, s.outGT, s.count(), nil
}

// count is the number of pastes made; an official paste of an empty
// footprint counts, as aug_num does.
func (s *lsaState) count() int { return len(s.pastes) }

func runLSA(r *rand.Rand, img []uint8, gt, comp, bg []uint8, w, h int, o LSAOptions) (*lsaState, error) {
	if r == nil {
		return nil, errNilRand
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := checkImage("lsa image", img, w, h, 3); err != nil {
		return nil, err
	}
	for _, m := range []struct {
		name string
		b    []uint8
	}{{"lsa label map", gt}, {"lsa component map", comp}, {"lsa background map", bg}} {
		if err := checkImage(m.name, m.b, w, h, 1); err != nil {
			return nil, err
		}
	}
	s := &lsaState{
		r: r, o: o, w: w, h: h, img: img, gt: gt, comp: comp, bg: bg,
		outImg: clone(img), outGT: clone(gt),
		scratch: make([]uint8, w*h), masks: map[uint8][]uint8{},
		px: make([]float64, lsaPoints), py: make([]float64, lsaPoints), pw: make([]float64, lsaPoints),
	}
	for _, v := range bg {
		if v != 0 {
			s.bgNonZero++
		}
	}
	s.pool = candidates(gt, comp, w, h)
	if err := s.phase(1, o.MinAug); err != nil {
		return nil, err
	}
	if err := s.phase(2, o.MaxAug-o.MinAug); err != nil {
		return nil, err
	}
	return s, nil
}

// candidates lists, in ascending value order, the components that cover
// more than 0.1 % of the image and lie on labelled ground: overlap with
// gt ≠ 0 above 0.9 (step 1 of §4.5).
func candidates(gt, comp []uint8, w, h int) []component {
	var area, onLabel [256]int
	var box [256][4]int
	for v := range box {
		box[v] = [4]int{w, h, -1, -1}
	}
	labelled := 0
	for y := range h {
		for x := range w {
			i := y*w + x
			if gt[i] != 0 {
				labelled++
			}
			v := comp[i]
			if v == 0 {
				continue
			}
			area[v]++
			if gt[i] != 0 {
				onLabel[v]++
			}
			b := &box[v]
			b[0], b[1], b[2], b[3] = min(b[0], x), min(b[1], y), max(b[2], x), max(b[3], y)
		}
	}
	var out []component
	for v := 1; v < 256; v++ {
		if float64(area[v])/float64(w*h) <= lsaMinAreaFrac {
			continue
		}
		if overlap(onLabel[v], area[v], labelled) <= lsaLabelOverlap {
			continue
		}
		b := box[v]
		out = append(out, component{value: uint8(v), area: area[v], x0: b[0], y0: b[1], x1: b[2], y1: b[3]})
	}
	return out
}

// overlap is the official intersect_ratio: |A∧B| / min(|A|, |B|), and 0
// when the intersection is empty.
func overlap(inter, a, b int) float64 {
	if inter == 0 {
		return 0
	}
	return float64(inter) / float64(min(a, b))
}

func (s *lsaState) unlabelled(c component) int {
	n := 0
	for y := c.y0; y <= c.y1; y++ {
		for x := c.x0; x <= c.x1; x++ {
			i := y*s.w + x
			if s.comp[i] == c.value && s.gt[i] == 0 {
				n++
			}
		}
	}
	return n
}

// draw removes a component from the pool with probability ∝
// area^WeightPower, as the official sample_mask followed by pop; false when
// the pool is empty.
func (s *lsaState) draw() (component, bool) {
	if len(s.pool) == 0 {
		return component{}, false
	}
	total := 0.0
	cum := make([]float64, len(s.pool))
	for i, c := range s.pool {
		total += math.Pow(float64(c.area), s.o.WeightPower)
		cum[i] = total
	}
	u := s.r.Float64() * total
	idx := len(s.pool) - 1
	for i, c := range cum {
		if c > u {
			idx = i
			break
		}
	}
	c := s.pool[idx]
	s.pool = append(s.pool[:idx], s.pool[idx+1:]...)
	s.drawn = append(s.drawn, c.value)
	return c, true
}

// drawUsable draws until a component with at most 100 unlabelled pixels
// turns up (the intended re-draw); false when the pool runs out first.
func (s *lsaState) drawUsable() (component, bool) {
	for {
		c, ok := s.draw()
		if !ok {
			return component{}, false
		}
		if s.unlabelled(c) <= lsaMaxUnlabelled {
			return c, true
		}
	}
}

// phase runs phase 1 (tries = MinAug pastes required) or phase 2 (tries =
// MaxAug−MinAug single tries) of §4.5.
func (s *lsaState) phase(ph, tries int) error {
	accept := lsaAccept1
	if ph == 2 {
		accept = lsaAccept2
	}
	done := 0
	for done < tries {
		c, ok := s.draw()
		if !ok {
			if s.o.Official {
				return ErrComponentsExhausted
			}
			return nil
		}
		if ph == 2 {
			done++ // a phase-2 try is spent even when the component is discarded
		}
		if s.unlabelled(c) > lsaMaxUnlabelled {
			continue
		}
		attempts := lsaAttempts
		if s.o.Official && ph == 2 {
			attempts = lsaAttempts + 1 // range(500+1)
		}
		var m Affine
		found := false
		a := 0
		for ; a < attempts; a++ {
			if !s.o.Official && a > 0 && a%lsaRedrawEvery == 0 {
				// Intended: after every 10 failures switch to another usable
				// component. The one set aside goes back to the pool (10
				// failures do not prove it unplaceable), so a hard-to-place
				// part cannot push out an easier one for good.
				if nc, ok := s.drawUsable(); ok {
					s.pool = append(s.pool, c)
					c = nc
				}
			}
			var okPt bool
			m, okPt = s.propose(c)
			if !okPt {
				if s.o.Official {
					return fmt.Errorf("augment: lsa found no target point at distance ≥ %g from component %d (the official code fails here too); lower MinDistance or Boundary", s.o.MinDistance, c.value)
				}
				continue
			}
			cnt, inter := s.footprint(c, m)
			r := overlap(inter, cnt, s.bgNonZero)
			// An empty footprint has overlap 0; the official code accepts it
			// and pastes nothing, the intended version looks further.
			if r < accept && (s.o.Official || cnt > 0) {
				found = true
				break
			}
		}
		switch {
		case s.o.Official && ph == 1:
			// Official phase 1 pastes the last proposal even if rejected.
			s.paste(c, m, clone(s.scratch), found, ph, a)
			done++
		case s.o.Official && ph == 2:
			if found && a < lsaAttempts {
				s.paste(c, m, clone(s.scratch), found, ph, a)
			}
		case found:
			s.paste(c, m, clone(s.scratch), found, ph, a)
			if ph == 1 {
				done++
			}
		}
	}
	return nil
}

// propose draws a placement for c (step 3 of §4.5): a target centre far
// enough from the component's centre and an integer angle, composed as
// T·R. false when no candidate point is far enough.
func (s *lsaState) propose(c component) (Affine, bool) {
	sx := c.x0 + (c.x1-c.x0+1)/2
	sy := c.y0 + (c.y1-c.y0+1)/2
	inX, inY := float64(sx)/float64(s.w), float64(sy)/float64(s.h)
	b := s.o.Boundary
	total := 0.0
	for i := range lsaPoints {
		x := s.r.Float64()*(1-b*2) + b
		y := s.r.Float64()*(1-b*2) + b
		d := math.Sqrt(float64((x-inX)*(x-inX)) + float64((y-inY)*(y-inY)))
		wgt := 0.0
		if d >= s.o.MinDistance {
			wgt = d * d
		}
		s.px[i], s.py[i] = x, y
		total += wgt
		s.pw[i] = total
	}
	if total == 0 {
		return Affine{}, false
	}
	u := s.r.Float64() * total
	idx := lsaPoints - 1
	for i, cw := range s.pw {
		if cw > u {
			idx = i
			break
		}
	}
	tx, ty := s.px[idx]*float64(s.w), s.py[idx]*float64(s.h)
	angle := s.r.IntN(360)
	rot := RotationMatrix2D(float64(sx), float64(sy), float64(angle), 1)
	return Translation(tx-float64(sx), ty-float64(sy)).Mul(rot), true
}

// footprint warps c's mask (0/255) bilinearly with m into s.scratch,
// thresholds it at 200 and counts its pixels and those on the background.
// Only the destination box that can be non-zero is computed.
func (s *lsaState) footprint(c component, m Affine) (cnt, inter int) {
	b := s.scratchBox
	for y := b[1]; y < b[3]; y++ {
		clear(s.scratch[y*s.w+b[0] : y*s.w+b[2]])
	}
	inv, err := inverse(m)
	if err != nil {
		s.scratchBox = [4]int{}
		return 0, 0 // a rotation matrix is never singular
	}
	x0, y0, x1, y1 := s.destBox(c, m)
	s.scratchBox = [4]int{x0, y0, x1, y1}
	mask := s.maskOf(c)
	warpRect(s.scratch, mask, s.w, s.h, 1, inv, Bilinear, x0, y0, x1, y1)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			i := y*s.w + x
			if s.scratch[i] > lsaMaskThreshold {
				s.scratch[i] = 255
				cnt++
				if s.bg[i] != 0 {
					inter++
				}
			} else {
				s.scratch[i] = 0
			}
		}
	}
	return cnt, inter
}

// destBox bounds the destination pixels whose bilinear taps can reach c's
// bounding box under m: the forward image of the box grown by one pixel,
// plus a two-pixel margin for the fixed-point rounding.
func (s *lsaState) destBox(c component, m Affine) (x0, y0, x1, y1 int) {
	fx0, fy0 := math.Inf(1), math.Inf(1)
	fx1, fy1 := math.Inf(-1), math.Inf(-1)
	for _, p := range [4][2]float64{
		{float64(c.x0 - 1), float64(c.y0 - 1)}, {float64(c.x1 + 1), float64(c.y0 - 1)},
		{float64(c.x0 - 1), float64(c.y1 + 1)}, {float64(c.x1 + 1), float64(c.y1 + 1)},
	} {
		x, y := m.Apply(p[0], p[1])
		fx0, fy0, fx1, fy1 = math.Min(fx0, x), math.Min(fy0, y), math.Max(fx1, x), math.Max(fy1, y)
	}
	clamp := func(v float64, hi int) int { return int(math.Max(0, math.Min(v, float64(hi)))) }
	return clamp(math.Floor(fx0)-2, s.w), clamp(math.Floor(fy0)-2, s.h), clamp(math.Ceil(fx1)+3, s.w), clamp(math.Ceil(fy1)+3, s.h)
}

// maskOf returns c's binary mask, 255 inside, as the official
// split_masks_from_one_mask does.
func (s *lsaState) maskOf(c component) []uint8 {
	if m, ok := s.masks[c.value]; ok {
		return m
	}
	m := make([]uint8, s.w*s.h)
	for i, v := range s.comp {
		if v == c.value {
			m[i] = 255
		}
	}
	s.masks[c.value] = m
	return m
}

// paste copies c, moved by m, onto the output (step 4 of §4.5). The
// official code warps the masked image and the masked label map
// bilinearly and writes both where the thresholded warped mask fp is set.
// The intended version warps the labels with nearest and writes only where
// the nearest source pixel lies inside the component, so every written
// label is one the component carries.
func (s *lsaState) paste(c component, m Affine, fp []uint8, accepted bool, ph, attempt int) {
	inv, err := inverse(m)
	if err != nil {
		return
	}
	x0, y0, x1, y1 := s.destBox(c, m)
	mask := s.maskOf(c)
	srcImg := make([]uint8, len(s.img))
	srcGT := make([]uint8, len(s.gt))
	for i, v := range mask {
		if v != 0 {
			copy(srcImg[3*i:3*i+3], s.img[3*i:3*i+3])
			srcGT[i] = s.gt[i]
		}
	}
	wImg := make([]uint8, len(s.img))
	wGT := make([]uint8, len(s.gt))
	warpRect(wImg, srcImg, s.w, s.h, 3, inv, Bilinear, x0, y0, x1, y1)
	var inside []uint8
	if s.o.Official {
		warpRect(wGT, srcGT, s.w, s.h, 1, inv, Bilinear, x0, y0, x1, y1)
	} else {
		warpRect(wGT, srcGT, s.w, s.h, 1, inv, Nearest, x0, y0, x1, y1)
		inside = make([]uint8, len(mask))
		warpRect(inside, mask, s.w, s.h, 1, inv, Nearest, x0, y0, x1, y1)
	}
	// With the 200 threshold the inside test never removes a pixel: the
	// nearest tap carries at least 1/4 of the bilinear weight, so a warped
	// mask value above 200 (> 78 %) needs it inside the part. It keeps the
	// label guarantee should the threshold change.
	region := make([]bool, len(fp))
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			i := y*s.w + x
			if fp[i] == 0 || (inside != nil && inside[i] == 0) {
				continue
			}
			region[i] = true
			copy(s.outImg[3*i:3*i+3], wImg[3*i:3*i+3])
			s.outGT[i] = wGT[i]
		}
	}
	s.pastes = append(s.pastes, paste{value: c.value, m: m, region: region, footprnt: fp, accepted: accepted, phase: ph, attempt: attempt})
}
