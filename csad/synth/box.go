package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Box defects.
const (
	DefectMissingFruit     = "missing_fruit"
	DefectExtraFruit       = "extra_fruit"
	DefectWrongMixture     = "wrong_mixture"
	DefectSwappedHalves    = "swapped_halves"
	fruitOrange            = "orange"
	fruitNectarine         = "nectarine"
	boxDarkMin, boxDarkMax = 0.2, 0.4
)

// Box layout in nominal coordinates.
const (
	boxCX, boxCY   = 160.0, 128.0
	boxHW, boxHH   = 142.0, 104.0
	halfHW, halfHH = 64.0, 92.0
	orangeR        = 23.0
	nectarineR     = 21.0
)

var boxHalves = [2][2]float64{{boxCX - halfHW - 6, boxCY}, {boxCX + halfHW + 6, boxCY}}

// BoxFruit is one fruit: kind ("orange" or "nectarine") and centre.
type BoxFruit struct {
	Kind string
	X, Y float64
}

// BoxScene is a breakfast box with two halves. Rule: the fruit half (left)
// holds exactly two oranges and one nectarine; the granola half (right) is
// filled with oat flakes and almonds with an almond share between 0.2 and
// 0.4.
type BoxScene struct {
	Fruits []BoxFruit
	// Oats and Almonds count the granola pieces.
	Oats, Almonds int
	// FruitHalf is 0 when the fruit lies in the left half (the rule), 1 when
	// the halves are swapped.
	FruitHalf int
	// Missing is the place of a removed fruit (missing_fruit only), Extra
	// the index of an added one, -1 otherwise: ground truth only.
	Missing *BoxFruit
	Extra   int
}

// AlmondShare is the fraction of almonds in the granola.
func (s *BoxScene) AlmondShare() float64 {
	return float64(s.Almonds) / float64(s.Oats+s.Almonds)
}

// Violations implements Scene.
func (s *BoxScene) Violations() []string {
	var v []string
	n := map[string]int{}
	for _, f := range s.Fruits {
		n[f.Kind]++
	}
	if n[fruitOrange] != 2 {
		v = append(v, fmt.Sprintf("%d oranges, want 2", n[fruitOrange]))
	}
	if n[fruitNectarine] != 1 {
		v = append(v, fmt.Sprintf("%d nectarines, want 1", n[fruitNectarine]))
	}
	if a := s.AlmondShare(); a < boxDarkMin || a > boxDarkMax {
		v = append(v, fmt.Sprintf("almond share %.2f outside [%.1f, %.1f]", a, boxDarkMin, boxDarkMax))
	}
	if s.FruitHalf != 0 {
		v = append(v, "fruit and granola halves swapped")
	}
	return v
}

func boxCategory() *category {
	return &category{
		name: "box",
		rule: "a breakfast box: left half two oranges and one nectarine, right half granola with 20–40 % almonds",
		defects: append([]DefectSpec{
			{Name: DefectMissingFruit, Logical: true, Saturation: math.Floor(math.Pi * nectarineR * nectarineR)},
			{Name: DefectExtraFruit, Logical: true, Saturation: 1, Relative: true},
			// Flagging a third of the granola half is enough to find a wrong
			// mixture.
			{Name: DefectWrongMixture, Logical: true, Saturation: math.Floor(4 * halfHW * halfHH / 3)},
			{Name: DefectSwappedHalves, Logical: true, Saturation: 0.5, Relative: true},
		}, structuralSpecs()...),
		sample:     sampleBox,
		render:     renderBox,
		background: func(r *rand.Rand) (rgb, float64) { return jitterColour(r, hex(0x2f3a45), 0.05), 0.3 },
	}
}

// placeFruit finds a spot in the fruit half for a fruit of radius rad that
// does not overlap the others.
func placeFruit(r *rand.Rand, kind string, others []BoxFruit) (BoxFruit, bool) {
	rad := fruitRadius(kind)
	for try := 0; try < 500; try++ {
		f := BoxFruit{Kind: kind,
			X: uniform(r, boxHalves[0][0]-halfHW+rad+3, boxHalves[0][0]+halfHW-rad-3),
			Y: uniform(r, boxHalves[0][1]-halfHH+rad+3, boxHalves[0][1]+halfHH-rad-3)}
		ok := true
		for _, o := range others {
			if math.Hypot(f.X-o.X, f.Y-o.Y) < rad+fruitRadius(o.Kind)+2 {
				ok = false
				break
			}
		}
		if ok {
			return f, true
		}
	}
	return BoxFruit{}, false
}

func fruitRadius(kind string) float64 {
	if kind == fruitOrange {
		return orangeR
	}
	return nectarineR
}

func sampleBox(r *rand.Rand, defect string) Scene {
	for {
		s := &BoxScene{Extra: -1}
		ok := true
		for _, k := range []string{fruitOrange, fruitOrange, fruitNectarine} {
			f, placed := placeFruit(r, k, s.Fruits)
			ok = ok && placed
			s.Fruits = append(s.Fruits, f)
		}
		total := 300 + r.IntN(40)
		share := uniform(r, 0.25, 0.35)
		switch defect {
		case DefectMissingFruit:
			i := r.IntN(len(s.Fruits))
			m := s.Fruits[i]
			s.Missing = &m
			s.Fruits = append(s.Fruits[:i], s.Fruits[i+1:]...)
		case DefectExtraFruit:
			k := fruitOrange
			if r.IntN(2) == 0 {
				k = fruitNectarine
			}
			f, placed := placeFruit(r, k, s.Fruits)
			ok = ok && placed
			s.Fruits = append(s.Fruits, f)
			s.Extra = len(s.Fruits) - 1
		case DefectWrongMixture:
			if r.IntN(2) == 0 {
				share = uniform(r, 0, 0.06)
			} else {
				share = uniform(r, 0.65, 0.85)
			}
		case DefectSwappedHalves:
			s.FruitHalf = 1
		}
		s.Almonds = int(math.Round(share * float64(total)))
		s.Oats = total - s.Almonds
		if ok {
			return s
		}
	}
}

func renderBox(rc *renderCtx, sc Scene, defect string) {
	s := sc.(*BoxScene)
	card := jitterColour(rc.r, hex(0xe6dfd0), 0.03)
	box := rc.rrect(boxCX, boxCY, boxHW, boxHH, 8, 0)
	rc.shadow(box, 4, 7, 0.5)
	rc.begin(box, card)
	rc.paint(box, bevel(card, rc.f.l(4), rc.seed, 0.05))
	halves := [2]shape{}
	for i, h := range boxHalves {
		halves[i] = rc.rrect(h[0], h[1], halfHW, halfHH, 6, 0)
		rc.paint(halves[i], func(x, y, d float64) rgb {
			return card.scale(0.8 + 0.15*math.Min(1, -d/rc.f.l(5)))
		})
	}
	rc.end()
	fruitSide, granSide := s.FruitHalf, 1-s.FruitHalf
	// Granola: a base of crumbs, then flakes and almonds in random order.
	gx, gy := boxHalves[granSide][0], boxHalves[granSide][1]
	base := hex(0xb98a4e)
	rc.paint(halves[granSide], func(x, y, d float64) rgb {
		return base.scale(0.75 + 0.5*fbm(x*0.35, y*0.35, rc.seed^3))
	})
	kinds := make([]bool, s.Oats+s.Almonds)
	for i := 0; i < s.Almonds; i++ {
		kinds[i] = true
	}
	rc.r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for _, almond := range kinds {
		x := uniform(rc.r, gx-halfHW+5, gx+halfHW-5)
		y := uniform(rc.r, gy-halfHH+5, gy+halfHH-5)
		a := rc.r.Float64() * math.Pi
		if almond {
			e := rc.ellipse(x, y, uniform(rc.r, 5, 6.2), uniform(rc.r, 3, 3.6), a)
			col := jitterColour(rc.r, hex(0x7b4a27), 0.08)
			rc.c.shadow(offset{e, 1, 1.2}, 1.5, 0.4)
			rc.paint(e, sphere(e.cx, e.cy, e.rx, col, 0.1, rc.seed))
		} else {
			e := rc.ellipse(x, y, uniform(rc.r, 3.5, 5), uniform(rc.r, 2.5, 3.5), a)
			col := jitterColour(rc.r, hex(0xdcc48c), 0.07)
			rc.paint(e, bevel(col, rc.f.l(1.5), rc.seed^9, 0.1))
		}
	}
	dx := boxHalves[fruitSide][0] - boxHalves[0][0]
	for i, f := range s.Fruits {
		c := rc.circle(f.X+dx, f.Y, fruitRadius(f.Kind))
		col := jitterColour(rc.r, hex(0xf0841a), 0.05)
		tex := 0.22
		if f.Kind == fruitNectarine {
			col = jitterColour(rc.r, hex(0xc8432c), 0.06)
			tex = 0.35
		}
		rc.shadow(c, 3, 5, 0.5)
		rc.begin(c, col)
		rc.paint(c, sphere(c.cx, c.cy, c.r, col, tex, rc.seed+uint64(i)))
		// Stem spot.
		sx, sy := rc.f.pt(f.X+dx+rc.r.Float64()*6-3, f.Y+rc.r.Float64()*6-3)
		rc.fill(circle{sx, sy, rc.f.l(1.8)}, hex(0x4a5a20))
		rc.end()
		if i == s.Extra {
			rc.gtShape(defect, circle{c.cx, c.cy, c.r + rc.f.l(1)})
		}
	}
	if s.Missing != nil {
		rc.gtShape(defect, rc.circle(s.Missing.X, s.Missing.Y, fruitRadius(s.Missing.Kind)+1))
	}
	switch defect {
	case DefectWrongMixture:
		rc.gtShape(defect, halves[granSide])
	case DefectSwappedHalves:
		rc.gtShape(defect, union{halves[0], halves[1]})
	}
}
