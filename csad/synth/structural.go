package synth

import (
	"errors"
	"math"
	"math/rand/v2"
)

// Structural defect names, shared by every category.
const (
	DefectScratch       = "scratch"
	DefectHole          = "hole"
	DefectContamination = "contamination"
	DefectBrokenPart    = "broken_part"
)

func structuralSpecs() []DefectSpec {
	return []DefectSpec{
		{Name: DefectScratch, Saturation: 1, Relative: true},
		{Name: DefectHole, Saturation: 1, Relative: true},
		{Name: DefectContamination, Saturation: 1, Relative: true},
		{Name: DefectBrokenPart, Saturation: 1, Relative: true},
	}
}

type cutSpec struct {
	part int
	cut  shape
}

// structuralDefect damages one registered part of the rendered scene. For a
// broken part it returns the cut to render again with.
func structuralDefect(rc *renderCtx, r *rand.Rand, defect string) (Channel, *cutSpec, error) {
	if len(rc.parts) == 0 {
		return Channel{}, nil, errors.New("scene has no parts to damage")
	}
	// Below about 160×128 defects get tiny; accept smaller ones rather than
	// fail, and anything visible after many tries.
	minArea := int(math.Max(10, 14*rc.f.s*rc.f.s))
	for try := 0; try < 80; try++ {
		if try == 50 {
			minArea = 1
		}
		pi := r.IntN(len(rc.parts))
		p := rc.parts[pi]
		x0, y0, x1, y1 := p.s.bounds()
		ext := math.Min(x1-x0, y1-y0)
		m := newMask(rc.c.w, rc.c.h)
		switch defect {
		case DefectScratch:
			sx, sy, ok := insidePoint(r, p.s, 2)
			if !ok {
				continue
			}
			th := r.Float64() * 2 * math.Pi
			L := uniform(r, 0.45, 0.85) * ext
			wob := uniform(r, -0.1, 0.1) * L
			pts := make([][2]float64, 6)
			for i := range pts {
				t := float64(i)/5 - 0.5
				off := wob * (1 - 4*t*t)
				pts[i] = [2]float64{sx + t*L*math.Cos(th) - off*math.Sin(th), sy + t*L*math.Sin(th) + off*math.Cos(th)}
			}
			sc := inter{polyline{pts, math.Max(1.2, rc.f.l(uniform(r, 1.4, 2.2)))}, p.s}
			col := p.col.scale(0.42)
			if r.IntN(2) == 0 {
				col = mix(p.col, rgb{1, 1, 1}, 0.6)
			}
			m.add(sc)
			if m.area() < minArea {
				continue
			}
			rc.c.paint(sc, 1, 0.9, func(float64, float64, float64) rgb { return col })
		case DefectHole:
			rad := math.Max(1.5, rc.f.l(uniform(r, 3, 6)))
			hx, hy, ok := insidePoint(r, p.s, rad*1.4)
			if !ok {
				continue
			}
			a := r.Float64() * math.Pi
			ry := rad * uniform(r, 0.7, 1)
			rim := ellipse{hx, hy, rad * 1.4, ry * 1.4, a}
			hole := ellipse{hx, hy, rad, ry, a}
			dark := p.col.scale(0.12).add(rgb{0.03, 0.03, 0.03})
			rc.c.paint(rim, 1.5, 0.7, func(x, y, d float64) rgb {
				// Lit lower-right lip, shaded upper-left lip: a dent.
				s := ((x-hx)+(y-hy))/(rad*1.4)*0.25 + 0.8
				return p.col.scale(s)
			})
			rc.c.paint(hole, 1, 1, func(x, y, d float64) rgb {
				return dark.scale(0.6 + 0.4*math.Min(1, math.Hypot(x-hx, y-hy)/rad))
			})
			m.add(ellipse{hx, hy, rad * 1.2, ry * 1.2, a})
		case DefectContamination:
			cx, cy, ok := insidePoint(r, p.s, 1)
			if !ok {
				continue
			}
			palette := []rgb{hex(0x3b2a1e), hex(0x5d6b4a), hex(0x222222), hex(0x3050a0), hex(0x8a6d3b)}
			col := palette[r.IntN(len(palette))]
			var s shape
			if r.IntN(3) == 0 {
				// A fibre or hair.
				L := rc.f.l(uniform(r, 22, 40))
				th := r.Float64() * 2 * math.Pi
				pts := make([][2]float64, 8)
				bend := uniform(r, -0.3, 0.3)
				for i := range pts {
					t := float64(i) / 7
					a := th + bend*t*3
					if i == 0 {
						pts[i] = [2]float64{cx, cy}
						continue
					}
					pts[i] = [2]float64{pts[i-1][0] + L/7*math.Cos(a), pts[i-1][1] + L/7*math.Sin(a)}
				}
				s = polyline{pts, rc.f.l(uniform(r, 1.3, 1.8))}
			} else {
				s = blob(r, cx, cy, math.Max(2, rc.f.l(uniform(r, 4, 9))), 0.35)
			}
			seed := r.Uint64()
			rc.c.paint(s, 1, 0.92, func(x, y, d float64) rgb {
				return col.scale(0.8 + 0.4*fbm(x*0.4, y*0.4, seed))
			})
			m.add(s)
		case DefectBrokenPart:
			bx, by, ok := edgePoint(r, p.s)
			if !ok {
				continue
			}
			cut := blob(r, bx, by, math.Max(rc.f.l(5), uniform(r, 0.2, 0.32)*ext), 0.3)
			m.add(inter{p.s, cut})
			full := newMask(rc.c.w, rc.c.h)
			full.add(p.s)
			if a := m.area(); a < minArea || a > full.area()/2 {
				continue
			}
			return Channel{Defect: defect, Mask: m.pix}, &cutSpec{pi, cut}, nil
		default:
			return Channel{}, nil, errors.New("unknown structural defect " + defect)
		}
		if m.area() < minArea {
			continue
		}
		return Channel{Defect: defect, Mask: m.pix}, nil, nil
	}
	return Channel{}, nil, errors.New("could not place the defect")
}

// insidePoint samples a point at least margin pixels inside s.
func insidePoint(r *rand.Rand, s shape, margin float64) (float64, float64, bool) {
	x0, y0, x1, y1 := s.bounds()
	for i := 0; i < 300; i++ {
		x, y := uniform(r, x0, x1), uniform(r, y0, y1)
		if s.sdf(x, y) < -margin {
			return x, y, true
		}
	}
	return 0, 0, false
}

// edgePoint samples a point on the outline of s.
func edgePoint(r *rand.Rand, s shape) (float64, float64, bool) {
	x0, y0, x1, y1 := s.bounds()
	for i := 0; i < 2000; i++ {
		x, y := uniform(r, x0, x1), uniform(r, y0, y1)
		if math.Abs(s.sdf(x, y)) < 1 {
			return x, y, true
		}
	}
	return 0, 0, false
}

// blob is an irregular closed shape around (cx, cy) of mean radius rad.
func blob(r *rand.Rand, cx, cy, rad, rough float64) polygon {
	const n = 16
	raw := make([]float64, n)
	for i := range raw {
		raw[i] = 2*r.Float64() - 1
	}
	pts := make([][2]float64, n)
	for i := range pts {
		// Smooth the radius noise over neighbours so the outline is organic.
		v := 0.5*raw[i] + 0.25*raw[(i+1)%n] + 0.25*raw[(i+n-1)%n]
		rr := rad * (1 + rough*v)
		a := 2 * math.Pi * float64(i) / n
		pts[i] = [2]float64{cx + rr*math.Cos(a), cy + rr*math.Sin(a)}
	}
	return polygon{pts}
}
