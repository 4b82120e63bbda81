package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Connector defects.
const (
	DefectWrongCableColour = "wrong_cable_colour"
	DefectMismatchedPins   = "mismatched_connectors"
	DefectWrongPin         = "wrong_pin"
)

// CableColours maps the pin count of the connectors to the cable colour the
// rule requires.
var CableColours = map[int]string{2: "yellow", 3: "blue", 5: "red"}

var cableRGB = map[string]rgb{"yellow": hex(0xe9c91c), "blue": hex(0x2d5fc4), "red": hex(0xcc2a26)}

var pinCounts = []int{2, 3, 5}

const (
	connLX, connRX = 68.0, 252.0
	connCY         = 128.0
	connHW         = 27.0
	connPitch      = 21.0
)

// ConnectorScene is a pair of splicing connectors joined by a cable. Rule:
// both connectors have the same number of pins k, the cable has the colour
// CableColours[k], and it ends in the same pin (counted from the top) on
// both sides.
type ConnectorScene struct {
	LeftPins, RightPins int
	Colour              string
	LeftPin, RightPin   int
	// Sag is the vertical droop of the cable; the shift and angles place the
	// connectors (nominal units and radians).
	Sag, LeftDY, RightDY, LeftAngle, RightAngle float64
}

// Violations implements Scene.
func (s *ConnectorScene) Violations() []string {
	var v []string
	if s.LeftPins != s.RightPins {
		v = append(v, fmt.Sprintf("connectors have %d and %d pins", s.LeftPins, s.RightPins))
	}
	if want := CableColours[s.LeftPins]; s.Colour != want {
		v = append(v, fmt.Sprintf("cable is %s, %d-pin connectors need %s", s.Colour, s.LeftPins, want))
	}
	if s.LeftPin != s.RightPin {
		v = append(v, fmt.Sprintf("cable joins pin %d to pin %d", s.LeftPin, s.RightPin))
	}
	return v
}

func connectorsCategory() *category {
	return &category{
		name: "connectors",
		rule: "two splicing connectors with the same pin count k joined at the same pin by a cable whose colour depends on k (2 yellow, 3 blue, 5 red)",
		defects: append([]DefectSpec{
			{Name: DefectWrongCableColour, Logical: true, Saturation: 1, Relative: true},
			{Name: DefectMismatchedPins, Logical: true, Saturation: 0.5, Relative: true},
			{Name: DefectWrongPin, Logical: true, Saturation: 0.5, Relative: true},
		}, structuralSpecs()...),
		sample:     sampleConnectors,
		render:     renderConnectors,
		background: func(r *rand.Rand) (rgb, float64) { return jitterColour(r, hex(0xcfd3d6), 0.03), 0.12 },
	}
}

func sampleConnectors(r *rand.Rand, defect string) Scene {
	k := pinCounts[r.IntN(len(pinCounts))]
	s := &ConnectorScene{
		LeftPins: k, RightPins: k, Colour: CableColours[k],
		Sag:    uniform(r, -45, 45),
		LeftDY: uniform(r, -8, 8), RightDY: uniform(r, -8, 8),
		LeftAngle:  uniform(r, -5, 5) * math.Pi / 180,
		RightAngle: uniform(r, -5, 5) * math.Pi / 180,
	}
	s.LeftPin = r.IntN(k)
	s.RightPin = s.LeftPin
	switch defect {
	case DefectWrongCableColour:
		others := slices.DeleteFunc(slices.Clone(pinCounts), func(n int) bool { return n == k })
		s.Colour = CableColours[others[r.IntN(len(others))]]
	case DefectMismatchedPins:
		others := slices.DeleteFunc(slices.Clone(pinCounts), func(n int) bool { return n == k })
		s.RightPins = others[r.IntN(len(others))]
		// Keep the cable on the same pin where both connectors have it.
		s.LeftPin = r.IntN(min(s.LeftPins, s.RightPins))
		s.RightPin = s.LeftPin
	case DefectWrongPin:
		if k == 2 {
			// Two pins leave one wrong choice; give the pair more room.
			s.LeftPins, s.RightPins, s.Colour = 3, 3, CableColours[3]
			k = 3
			s.LeftPin = r.IntN(k)
		}
		s.RightPin = (s.LeftPin + 1 + r.IntN(k-1)) % k
	}
	return s
}

// pinY returns the nominal y of pin i of an n-pin connector.
func pinY(n, i int, dy float64) float64 {
	return connCY + dy + (float64(i)-float64(n-1)/2)*connPitch
}

func renderConnectors(rc *renderCtx, sc Scene, defect string) {
	s := sc.(*ConnectorScene)
	body := jitterColour(rc.r, hex(0xf1f2ee), 0.02)
	lever := jitterColour(rc.r, hex(0xe5731b), 0.05)
	type side struct {
		x, dy, a float64
		n, pin   int
		dir      float64 // +1: the cable leaves to the right
	}
	sides := []side{
		{connLX, s.LeftDY, s.LeftAngle, s.LeftPins, s.LeftPin, 1},
		{connRX, s.RightDY, s.RightAngle, s.RightPins, s.RightPin, -1},
	}
	var ends [2][2]float64
	var bodies [2]shape
	for si, sd := range sides {
		hh := float64(sd.n)*connPitch/2 + 6
		// Rotate each connector about its own centre.
		at := func(x, y float64) (float64, float64) {
			u, v := rot(x-sd.x, y-(connCY+sd.dy), sd.a)
			return sd.x + u, connCY + sd.dy + v
		}
		cx, cy := at(sd.x, connCY+sd.dy)
		b := rc.rrect(cx, cy, connHW, hh, 5, sd.a)
		bodies[si] = b
		rc.shadow(b, 3, 6, 0.4)
		rc.begin(b, body)
		rc.paint(b, bevel(body, rc.f.l(4), rc.seed, 0.04))
		for i := 0; i < sd.n; i++ {
			y := pinY(sd.n, i, sd.dy)
			lx, ly := at(sd.x-sd.dir*7, y)
			l := rc.rrect(lx, ly, 17, 7, 3, sd.a)
			rc.paint(l, bevel(lever, rc.f.l(2), rc.seed^11, 0.05))
			hx, hy := at(sd.x+sd.dir*17, y)
			h := rc.circle(hx, hy, 4.2)
			rc.paint(h, func(x, y, d float64) rgb { return hex(0x2a2a2a).scale(0.7 + 0.3*math.Min(1, -d/2)) })
			if i == sd.pin {
				ends[si] = [2]float64{hx, hy}
			}
		}
		rc.end()
	}
	// The cable: a cubic Bézier between the two pin holes, sagging by Sag.
	a, d := ends[0], ends[1]
	span := d[0] - a[0]
	b := [2]float64{a[0] + span*0.35, a[1] + s.Sag}
	c := [2]float64{d[0] - span*0.35, d[1] + s.Sag}
	pts := make([][2]float64, 33)
	for i := range pts {
		t := float64(i) / 32
		u := 1 - t
		pts[i] = [2]float64{
			u*u*u*a[0] + 3*u*u*t*b[0] + 3*u*t*t*c[0] + t*t*t*d[0],
			u*u*u*a[1] + 3*u*u*t*b[1] + 3*u*t*t*c[1] + t*t*t*d[1],
		}
	}
	cable := rc.polyline(pts, 8)
	col := jitterColour(rc.r, cableRGB[s.Colour], 0.05)
	rc.shadow(cable, 3, 5, 0.45)
	rc.begin(cable, col)
	half := cable.w / 2
	rc.paint(cable, func(x, y, dd float64) rgb {
		// Round insulation: bright along the middle, darker at the sides.
		e := math.Min(1, -dd/half)
		k := col.scale(0.55 + 0.5*math.Sqrt(math.Max(e, 0)))
		if e > 0.7 {
			k = mix(k, rgb{1, 1, 1}, 0.25*(e-0.7)/0.3)
		}
		return k
	})
	rc.end()
	switch defect {
	case DefectWrongCableColour, DefectWrongPin:
		rc.gtShape(defect, cable)
	case DefectMismatchedPins:
		rc.gtShape(defect, bodies[1])
	}
}
