package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Tray defects.
const (
	DefectMissingItem   = "missing_item"
	DefectExtraItem     = "extra_item"
	DefectMisplacedItem = "misplaced_item"
)

// Tray layout in nominal coordinates.
const (
	trayCols, trayRows = 3, 2
	trayCX, trayCY     = 160.0, 128.0
	trayHW, trayHH     = 132.0, 96.0
	trayGap            = 9.0
	pinR               = 12.5
)

// TrayCompartment is one recess of the tray, in nominal coordinates.
type TrayCompartment struct{ CX, CY, HW, HH float64 }

// Contains reports whether a pin head of radius pinR centred at (x, y) lies
// wholly inside the compartment.
func (c TrayCompartment) Contains(x, y float64) bool {
	return math.Abs(x-c.CX) <= c.HW-pinR && math.Abs(y-c.CY) <= c.HH-pinR
}

// TrayItem is one pushpin: head centre and needle direction.
type TrayItem struct{ X, Y, Angle float64 }

// TrayScene is a tray with a grid of compartments. Rule: every compartment
// holds exactly one pushpin, wholly inside it, and there is no pushpin
// elsewhere.
type TrayScene struct {
	Compartments []TrayCompartment
	Items        []TrayItem
	// MissingFrom is the compartment emptied by a missing_item anomaly, -1
	// otherwise (for the ground truth only; Violations does not read it).
	MissingFrom int
	// Extra is the index in Items of the added or misplaced pushpin, -1
	// otherwise (for the ground truth only).
	Extra int
}

func trayCompartments() []TrayCompartment {
	w := (2*trayHW - float64(trayCols+1)*trayGap) / trayCols
	h := (2*trayHH - float64(trayRows+1)*trayGap) / trayRows
	var out []TrayCompartment
	for j := 0; j < trayRows; j++ {
		for i := 0; i < trayCols; i++ {
			out = append(out, TrayCompartment{
				CX: trayCX - trayHW + trayGap + w/2 + float64(i)*(w+trayGap),
				CY: trayCY - trayHH + trayGap + h/2 + float64(j)*(h+trayGap),
				HW: w / 2, HH: h / 2,
			})
		}
	}
	return out
}

// Violations implements Scene.
func (s *TrayScene) Violations() []string {
	var v []string
	count := make([]int, len(s.Compartments))
	for k, it := range s.Items {
		in := -1
		for c, comp := range s.Compartments {
			if comp.Contains(it.X, it.Y) {
				in = c
			}
		}
		if in < 0 {
			v = append(v, fmt.Sprintf("pushpin %d lies outside every compartment", k))
			continue
		}
		count[in]++
	}
	for c, n := range count {
		if n != 1 {
			v = append(v, fmt.Sprintf("compartment %d holds %d pushpins, want 1", c, n))
		}
	}
	return v
}

func trayCategory() *category {
	return &category{
		name: "tray",
		rule: "a tray with 3×2 compartments, exactly one pushpin in each compartment",
		defects: append([]DefectSpec{
			// A missing pin is found once an area the size of a pin head is
			// flagged anywhere in its empty compartment.
			{Name: DefectMissingItem, Logical: true, Saturation: math.Floor(math.Pi * pinR * pinR)},
			{Name: DefectExtraItem, Logical: true, Saturation: 1, Relative: true},
			{Name: DefectMisplacedItem, Logical: true, Saturation: 1, Relative: true},
		}, structuralSpecs()...),
		sample:     sampleTray,
		render:     renderTray,
		background: func(r *rand.Rand) (rgb, float64) { return jitterColour(r, hex(0x4a4f57), 0.05), 0.25 },
	}
}

func pinIn(r *rand.Rand, c TrayCompartment, xlo, xhi float64) TrayItem {
	m := pinR + 2
	x := uniform(r, c.CX-c.HW+m, c.CX+c.HW-m)
	if xhi > xlo {
		x = uniform(r, xlo, xhi)
	}
	return TrayItem{X: x, Y: uniform(r, c.CY-c.HH+m, c.CY+c.HH-m), Angle: r.Float64() * 2 * math.Pi}
}

func sampleTray(r *rand.Rand, defect string) Scene {
	s := &TrayScene{Compartments: trayCompartments(), MissingFrom: -1, Extra: -1}
	for _, c := range s.Compartments {
		s.Items = append(s.Items, pinIn(r, c, 0, 0))
	}
	k := r.IntN(len(s.Compartments))
	c := s.Compartments[k]
	switch defect {
	case DefectMissingItem:
		s.Items = append(s.Items[:k], s.Items[k+1:]...)
		s.MissingFrom = k
	case DefectExtraItem:
		// Two pins side by side in one compartment.
		m := pinR + 2
		s.Items[k] = pinIn(r, c, c.CX-c.HW+m, c.CX-pinR-1)
		s.Items = append(s.Items, pinIn(r, c, c.CX+pinR+1, c.CX+c.HW-m))
		s.Extra = len(s.Items) - 1
	case DefectMisplacedItem:
		// The pin sits on the wall between its compartment and the next one
		// (or on the rim), so that compartment is empty.
		it := &s.Items[k]
		if k%trayCols < trayCols-1 {
			it.X = c.CX + c.HW + trayGap/2 + uniform(r, -3, 3)
		} else {
			it.X = c.CX - c.HW - trayGap/2 + uniform(r, -3, 3)
		}
		it.Y = c.CY + uniform(r, -c.HH/2, c.HH/2)
		s.Extra = k
	}
	return s
}

func renderTray(rc *renderCtx, sc Scene, defect string) {
	s := sc.(*TrayScene)
	plastic := jitterColour(rc.r, hex(0xa9b7c2), 0.04)
	tray := rc.rrect(trayCX, trayCY, trayHW, trayHH, 12, 0)
	rc.shadow(tray, 4, 6, 0.45)
	rc.begin(tray, plastic)
	rc.paint(tray, bevel(plastic.scale(1.05), rc.f.l(5), rc.seed, 0.06))
	comps := make([]shape, len(s.Compartments))
	for i, c := range s.Compartments {
		comps[i] = rc.rrect(c.CX, c.CY, c.HW, c.HH, 7, 0)
		floor := plastic.scale(0.86)
		rc.paint(comps[i], func(x, y, d float64) rgb {
			// Recess: the wall casts a dark band along the top-left edges.
			e := math.Min(1, -d/rc.f.l(6))
			return floor.scale(0.7 + 0.3*e)
		})
	}
	rc.end()
	for k, it := range s.Items {
		drawPin(rc, it)
		if k == s.Extra {
			rc.gtShape(defect, rc.circle(it.X, it.Y, pinR+1))
		}
	}
	if s.MissingFrom >= 0 {
		rc.gtShape(defect, comps[s.MissingFrom])
	}
}

func drawPin(rc *renderCtx, it TrayItem) {
	head := jitterColour(rc.r, hex(0xe3b51e), 0.06)
	tip := [2]float64{it.X + 20*math.Cos(it.Angle), it.Y + 20*math.Sin(it.Angle)}
	needle := rc.polyline([][2]float64{{it.X, it.Y}, tip}, 2.2)
	h := rc.circle(it.X, it.Y, pinR)
	rc.shadow(union{needle, h}, 2.5, 4, 0.5)
	rc.begin(union{needle, h}, head)
	rc.paint(needle, func(x, y, d float64) rgb { return hex(0xb8bcc0).scale(0.75 + 0.25*math.Min(1, -d*2)) })
	rc.paint(h, sphere(h.cx, h.cy, h.r, head, 0.08, rc.seed))
	// The collar of the pin head.
	rc.paint(circle{h.cx, h.cy, h.r * 0.55}, func(x, y, d float64) rgb {
		return head.scale(0.82 + 0.2*math.Min(1, -d/(h.r*0.2)))
	})
	rc.end()
}
