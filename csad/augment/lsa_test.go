package augment

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scene is a hand-made LSA input: a tray (background 0 inside, 255
// outside) with parts, each part one component value with one label.
type scene struct {
	w, h              int
	img, gt, comp, bg []uint8
	label             map[uint8]uint8 // component value → its label
}

func newScene(w, h, x0, y0, x1, y1 int) *scene {
	s := &scene{w: w, h: h, img: make([]uint8, 3*w*h), gt: make([]uint8, w*h),
		comp: make([]uint8, w*h), bg: make([]uint8, w*h), label: map[uint8]uint8{}}
	for y := range h {
		for x := range w {
			i := y*w + x
			if x >= x0 && x < x1 && y >= y0 && y < y1 {
				s.gt[i] = 1
			} else {
				s.bg[i] = 255
			}
		}
	}
	s.paint()
	return s
}

// add marks the pixels where in(x, y) holds as component value v with
// label lab (0 leaves the label map alone).
func (s *scene) add(v, lab uint8, in func(x, y int) bool) {
	for y := range s.h {
		for x := range s.w {
			if in(x, y) {
				i := y*s.w + x
				s.comp[i] = v
				if lab != 0 {
					s.gt[i] = lab
				}
			}
		}
	}
	s.label[v] = lab
	s.paint()
}

// paint colours every pixel from its label plus a texture, so that moved
// pixels are recognisable.
func (s *scene) paint() {
	for y := range s.h {
		for x := range s.w {
			i := y*s.w + x
			l := int(s.gt[i])
			s.img[3*i] = uint8(40*l + (x%7)*3)
			s.img[3*i+1] = uint8(200 - 20*l + (y%5)*4)
			s.img[3*i+2] = uint8((x*y)%50 + 10*l)
		}
	}
}

func disc(cx, cy, r int) func(x, y int) bool {
	return func(x, y int) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }
}

func box(x0, y0, x1, y1 int) func(x, y int) bool {
	return func(x, y int) bool { return x >= x0 && x < x1 && y >= y0 && y < y1 }
}

// trayScene: a 256×256 tray with four placeable parts (labels 2–5), a part
// too small to count (< 0.1 % of the image) and a blob on the background
// (unlabelled), which LSA must never move.
func trayScene() *scene {
	s := newScene(256, 256, 20, 20, 236, 236)
	s.add(1, 2, disc(70, 70, 14))
	s.add(2, 3, disc(180, 80, 12))
	s.add(3, 4, box(60, 160, 88, 188))
	s.add(4, 5, box(150, 170, 200, 182))
	s.add(5, 2, disc(128, 128, 3))
	s.add(6, 0, box(2, 100, 16, 120))
	return s
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x15a)) }

func (s *scene) run(t *testing.T, seed uint64, o LSAOptions) *lsaState {
	t.Helper()
	img, gt, comp, bg := clone(s.img), clone(s.gt), clone(s.comp), clone(s.bg)
	st, err := runLSA(rng(seed), img, gt, comp, bg, s.w, s.h, o)
	require.NoError(t, err)
	sameBytes(t, s.img, img, "LSA modified its image input")
	sameBytes(t, s.gt, gt, "LSA modified its label input")
	return st
}

func (s *scene) maskOf(v uint8) []uint8 {
	m := make([]uint8, s.w*s.h)
	for i, c := range s.comp {
		if c == v {
			m[i] = 255
		}
	}
	return m
}

// expected returns, for paste p, the whole-image warps of the masked image
// and label map and the thresholded warped mask, computed with the public
// WarpAffine rather than LSA's cropped warps.
func (s *scene) expected(t *testing.T, p paste, labelInterp Interp) (img, gt, fp []uint8) {
	t.Helper()
	mask := s.maskOf(p.value)
	srcImg := make([]uint8, len(s.img))
	srcGT := make([]uint8, len(s.gt))
	for i, v := range mask {
		if v != 0 {
			copy(srcImg[3*i:3*i+3], s.img[3*i:3*i+3])
			srcGT[i] = s.gt[i]
		}
	}
	var err error
	img, err = WarpAffine(srcImg, s.w, s.h, 3, p.m, Bilinear)
	require.NoError(t, err)
	gt, err = WarpAffine(srcGT, s.w, s.h, 1, p.m, labelInterp)
	require.NoError(t, err)
	fp, err = WarpAffine(mask, s.w, s.h, 1, p.m, Bilinear)
	require.NoError(t, err)
	for i, v := range fp {
		if v > lsaMaskThreshold {
			fp[i] = 255
		} else {
			fp[i] = 0
		}
	}
	return img, gt, fp
}

// checkPastes verifies the invariants of one run: every output pixel is
// either unchanged or, for the last paste covering it, the warped source
// pixel and label; in the intended mode that label is the component's own.
func (s *scene) checkPastes(t *testing.T, st *lsaState, labelInterp Interp) {
	t.Helper()
	last := make([]int, s.w*s.h)
	for i := range last {
		last[i] = -1
	}
	type want struct{ img, gt []uint8 }
	wants := make([]want, len(st.pastes))
	for k, p := range st.pastes {
		img, gt, fp := s.expected(t, p, labelInterp)
		wants[k] = want{img, gt}
		sameBytes(t, fp, p.footprnt, "paste %d: cropped footprint vs whole-image warp", k)
		for i, in := range p.region {
			if in != (fp[i] != 0) {
				t.Fatalf("paste %d: pixel %d in region %v, in footprint %v; both modes write the whole footprint", k, i, in, fp[i] != 0)
			}
			if in {
				last[i] = k
			}
		}
	}
	for i := range last {
		k := last[i]
		if k < 0 {
			if !bytes.Equal(s.img[3*i:3*i+3], st.outImg[3*i:3*i+3]) || s.gt[i] != st.outGT[i] {
				t.Fatalf("pixel %d changed outside every paste", i)
			}
			continue
		}
		if !bytes.Equal(wants[k].img[3*i:3*i+3], st.outImg[3*i:3*i+3]) {
			t.Fatalf("pixel %d is %v, not the warped source pixel %v", i, st.outImg[3*i:3*i+3], wants[k].img[3*i:3*i+3])
		}
		if wants[k].gt[i] != st.outGT[i] {
			t.Fatalf("label at %d is %d, not the warped source label %d", i, st.outGT[i], wants[k].gt[i])
		}
		if labelInterp == Nearest && st.outGT[i] != s.label[st.pastes[k].value] {
			t.Fatalf("pixel %d got label %d, which component %d does not carry", i, st.outGT[i], st.pastes[k].value)
		}
	}
}

// TestLSAInvariants runs the intended LSA on the tray scene with 12 seeds:
// 1–2 pastes each, every paste accepted, non-empty and on the object
// (overlap with the background below 0.5 in phase 1, 0.9 in phase 2),
// pixels and labels moved together (checkPastes), only eligible parts
// moved, and every pasted part still in its original place.
func TestLSAInvariants(t *testing.T) {
	s := trayScene()
	o := DefaultLSAOptions()
	for seed := range uint64(12) {
		st := s.run(t, seed, o)
		n := st.count()
		require.GreaterOrEqual(t, n, 1, "seed %d", seed)
		require.LessOrEqual(t, n, 2, "seed %d", seed)
		s.checkPastes(t, st, Nearest)
		for k, p := range st.pastes {
			assert.Contains(t, []uint8{1, 2, 3, 4}, p.value, "seed %d: ineligible component %d moved", seed, p.value)
			assert.True(t, p.accepted)
			cnt, inter := 0, 0
			for i, v := range p.footprnt {
				if v != 0 {
					cnt++
					if s.bg[i] != 0 {
						inter++
					}
				}
			}
			require.Positive(t, cnt)
			limit := lsaAccept1
			if p.phase == 2 {
				limit = lsaAccept2
			}
			assert.Less(t, overlap(inter, cnt, countNonZero(s.bg)), limit, "seed %d paste %d", seed, k)
			// The original part stays where it was: its own copy lies at
			// least MinDistance away and does not cover it, and any pixel
			// of it that no paste covers is unchanged (checkPastes).
			own, total := 0, 0
			for i, v := range s.comp {
				if v == p.value {
					total++
					if p.region[i] {
						own++
					}
				}
			}
			assert.Less(t, own, total/2, "seed %d: component %d pasted over itself", seed, p.value)
		}
		outImg, outGT, n2, err := LSA(rng(seed), s.img, s.gt, s.comp, s.bg, s.w, s.h, o)
		require.NoError(t, err)
		assert.Equal(t, n, n2)
		sameBytes(t, st.outImg, outImg, "LSA vs runLSA image")
		sameBytes(t, st.outGT, outGT, "LSA vs runLSA labels")
	}
}

// sameBytes fails with a count and the first difference instead of a
// dump of two 200 kB slices.
func sameBytes(t *testing.T, want, got []uint8, msg string, args ...any) {
	t.Helper()
	require.Len(t, got, len(want))
	n, first := 0, -1
	for i := range want {
		if want[i] != got[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n > 0 {
		t.Fatalf("%s: %d bytes differ, first at %d (%d, want %d)", fmt.Sprintf(msg, args...), n, first, got[first], want[first])
	}
}

func countNonZero(b []uint8) int {
	n := 0
	for _, v := range b {
		if v != 0 {
			n++
		}
	}
	return n
}

// TestLSASeeds: the same seed gives the same output, six different seeds
// give six different outputs.
func TestLSASeeds(t *testing.T) {
	s := trayScene()
	o := DefaultLSAOptions()
	var outs [][]uint8
	for seed := range uint64(6) {
		a, ga, na, err := LSA(rng(seed), s.img, s.gt, s.comp, s.bg, s.w, s.h, o)
		require.NoError(t, err)
		b, gb, nb, err := LSA(rng(seed), s.img, s.gt, s.comp, s.bg, s.w, s.h, o)
		require.NoError(t, err)
		sameBytes(t, a, b, "seed %d image", seed)
		sameBytes(t, ga, gb, "seed %d labels", seed)
		require.Equal(t, na, nb)
		for j, prev := range outs {
			assert.False(t, bytes.Equal(prev, a), "seeds %d and %d gave the same image", j, seed)
		}
		outs = append(outs, a)
	}
}

// TestLSANoComponent: with no eligible component (none at all; only a tiny
// one and one on the background) the intended LSA returns the input and
// n = 0; the official mode reports ErrComponentsExhausted where the Python
// code crashes.
func TestLSANoComponent(t *testing.T) {
	empty := newScene(64, 48, 5, 5, 60, 44)
	junk := newScene(64, 48, 5, 5, 60, 44)
	junk.add(1, 2, disc(30, 20, 0))  // 1 px, not above 0.1 % of 3072
	junk.add(2, 0, box(0, 0, 4, 48)) // on the unlabelled background
	for name, s := range map[string]*scene{"empty": empty, "junk": junk} {
		img, gt, n, err := LSA(rng(1), s.img, s.gt, s.comp, s.bg, s.w, s.h, DefaultLSAOptions())
		require.NoError(t, err, name)
		assert.Zero(t, n, name)
		sameBytes(t, s.img, img, "%s image", name)
		sameBytes(t, s.gt, gt, "%s labels", name)

		o := DefaultLSAOptions()
		o.Official = true
		_, _, _, err = LSA(rng(1), s.img, s.gt, s.comp, s.bg, s.w, s.h, o)
		assert.True(t, errors.Is(err, ErrComponentsExhausted), "%s: %v", name, err)
	}
	// MinAug = MaxAug = 0 asks for nothing, in either mode.
	s := trayScene()
	o := LSAOptions{Boundary: 0.1, MinDistance: 0.2, Official: true}
	img, _, n, err := LSA(rng(1), s.img, s.gt, s.comp, s.bg, s.w, s.h, o)
	require.NoError(t, err)
	assert.Zero(t, n)
	sameBytes(t, s.img, img, "MinAug = MaxAug = 0")
}

// smallTrayScene: two parts on a tray so small that every target at least
// MinDistance away lands on the background.
func smallTrayScene() *scene {
	s := newScene(256, 256, 104, 104, 152, 152)
	s.add(1, 2, disc(118, 128, 8))
	s.add(2, 3, disc(138, 128, 8))
	return s
}

// TestLSANoPlacement: when no placement is acceptable the intended LSA
// pastes nothing (n = 0, input returned), while the official mode pastes
// its last, rejected phase-1 proposal (n = 1, mostly on the background).
func TestLSANoPlacement(t *testing.T) {
	s := smallTrayScene()
	img, gt, n, err := LSA(rng(3), s.img, s.gt, s.comp, s.bg, s.w, s.h, DefaultLSAOptions())
	require.NoError(t, err)
	assert.Zero(t, n)
	sameBytes(t, s.img, img, "no placement: image")
	sameBytes(t, s.gt, gt, "no placement: labels")

	o := DefaultLSAOptions()
	o.Official = true
	st := s.run(t, 3, o)
	require.Len(t, st.pastes, 1)
	p := st.pastes[0]
	assert.Equal(t, 1, p.phase)
	assert.False(t, p.accepted)
	assert.Equal(t, lsaAttempts, p.attempt, "all 500 proposals were tried")
	s.checkPastes(t, st, Bilinear)
	assert.False(t, bytes.Equal(s.gt, st.outGT), "the official rejected paste changed no label")
}

// TestLSARedraw: with one part that can never be placed in phase 1 (the
// floor of a 96×96 tray: a shift of at least 0.2·256 = 51.2 px puts more
// than half of it on the background) and one that can, the intended LSA switches component after 10
// failed proposals and pastes the placeable one first; the official mode
// keeps the floor for all 500 proposals and pastes it, rejected.
func TestLSARedraw(t *testing.T) {
	s := newScene(256, 256, 80, 80, 176, 176)
	s.add(7, 1, box(80, 80, 176, 176))
	s.add(1, 2, disc(100, 100, 8))
	floorFirst := 0
	for seed := range uint64(10) {
		st := s.run(t, seed, DefaultLSAOptions())
		require.GreaterOrEqual(t, st.count(), 1, "seed %d", seed)
		p := st.pastes[0]
		assert.Equal(t, uint8(1), p.value)
		s.checkPastes(t, st, Nearest)
		if st.drawn[0] != 7 {
			continue
		}
		floorFirst++
		assert.GreaterOrEqual(t, p.attempt, lsaRedrawEvery, "seed %d: the floor cannot be placed", seed)
		assert.Less(t, p.attempt, lsaAttempts)

		o := DefaultLSAOptions()
		o.Official = true
		off := s.run(t, seed, o)
		require.NotEmpty(t, off.pastes)
		assert.Equal(t, uint8(7), off.pastes[0].value)
		assert.False(t, off.pastes[0].accepted)
	}
	assert.Positive(t, floorFirst, "no seed drew the floor first; the test proves nothing")
}

// TestLSAOfficialLabels: the official mode warps labels bilinearly, so some
// pasted pixels get labels their component does not carry (between the
// part's label and 0); the intended mode never does (checked with 12 seeds
// in TestLSAInvariants).
func TestLSAOfficialLabels(t *testing.T) {
	s := trayScene()
	o := DefaultLSAOptions()
	o.Official = true
	spurious := 0
	for seed := range uint64(8) {
		st := s.run(t, seed, o)
		s.checkPastes(t, st, Bilinear)
		for k, p := range st.pastes {
			for i, in := range p.region {
				later := false
				for _, q := range st.pastes[k+1:] {
					later = later || q.region[i]
				}
				if in && !later && st.outGT[i] != s.label[p.value] {
					spurious++
				}
			}
		}
	}
	assert.Positive(t, spurious)
}

// TestLSAErrors: bad options and inputs are errors naming the cause.
func TestLSAErrors(t *testing.T) {
	s := trayScene()
	cases := []struct {
		name string
		r    *rand.Rand
		img  []uint8
		gt   []uint8
		o    LSAOptions
		want string
	}{
		{"nil rand", nil, s.img, s.gt, DefaultLSAOptions(), "nil *rand.Rand"},
		{"aug order", rng(1), s.img, s.gt, LSAOptions{MinAug: 2, MaxAug: 1, Boundary: 0.1, MinDistance: 0.2}, "MinAug 2, MaxAug 1"},
		{"boundary", rng(1), s.img, s.gt, LSAOptions{MinAug: 1, MaxAug: 2, Boundary: 0.5, MinDistance: 0.2}, "Boundary 0.5"},
		{"distance", rng(1), s.img, s.gt, LSAOptions{MinAug: 1, MaxAug: 2, Boundary: 0.1, MinDistance: 0.6}, "MinDistance 0.6"},
		{"image size", rng(1), s.img[:30], s.gt, DefaultLSAOptions(), "lsa image has 30 bytes"},
		{"label size", rng(1), s.img, s.gt[:30], DefaultLSAOptions(), "lsa label map has 30 bytes"},
	}
	for _, c := range cases {
		_, _, _, err := LSA(c.r, c.img, c.gt, s.comp, s.bg, s.w, s.h, c.o)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
	}
}

// TestLSAEmptyFootprint: a part of two isolated pixels on a 32×32 image
// (2 > 0.1 % of 1024) mostly vanishes when warped bilinearly and
// thresholded at 200. The official mode accepts such an empty footprint
// (overlap 0) and counts a paste that writes nothing; the intended mode
// only accepts footprints with pixels.
func TestLSAEmptyFootprint(t *testing.T) {
	s := newScene(32, 32, 0, 0, 32, 32) // no background at all
	s.add(1, 2, func(x, y int) bool { return (x == 10 && y == 10) || (x == 13 && y == 13) })
	official := DefaultLSAOptions()
	official.Official = true
	emptyCounted := 0
	for seed := range uint64(10) {
		st := s.run(t, seed, DefaultLSAOptions())
		require.Len(t, st.pastes, 1, "seed %d", seed)
		assert.Positive(t, countNonZero(st.pastes[0].footprnt), "seed %d: empty footprint accepted", seed)
		s.checkPastes(t, st, Nearest)

		_, err := runLSA(rng(seed), s.img, s.gt, s.comp, s.bg, s.w, s.h, official)
		require.ErrorIs(t, err, ErrComponentsExhausted, "one part: official phase 2 finds the pool empty")
		o := official
		o.MaxAug = 1 // phase 1 only, so the official run completes
		st = s.run(t, seed, o)
		require.Len(t, st.pastes, 1)
		if countNonZero(st.pastes[0].footprnt) == 0 {
			emptyCounted++
			assert.Equal(t, 1, st.count())
			sameBytes(t, s.img, st.outImg, "an empty paste changed the image")
		}
	}
	assert.Positive(t, emptyCounted, "no official run accepted an empty footprint; the test proves nothing")
}
