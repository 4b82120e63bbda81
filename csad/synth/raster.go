package synth

import (
	"image"
	"math"
)

// rgb is a linear-ish colour with components in [0,1].
type rgb [3]float64

func (c rgb) scale(f float64) rgb { return rgb{c[0] * f, c[1] * f, c[2] * f} }
func (c rgb) add(d rgb) rgb       { return rgb{c[0] + d[0], c[1] + d[1], c[2] + d[2]} }
func mix(a, b rgb, t float64) rgb {
	return rgb{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

func hex(v uint32) rgb {
	return rgb{float64(v>>16&255) / 255, float64(v>>8&255) / 255, float64(v&255) / 255}
}

// shape is a region given by a signed distance in pixels (negative inside),
// evaluated in image coordinates, and a bounding box that contains it.
type shape interface {
	sdf(x, y float64) float64
	bounds() (x0, y0, x1, y1 float64)
}

type circle struct{ cx, cy, r float64 }

func (c circle) sdf(x, y float64) float64 { return math.Hypot(x-c.cx, y-c.cy) - c.r }
func (c circle) bounds() (float64, float64, float64, float64) {
	return c.cx - c.r, c.cy - c.r, c.cx + c.r, c.cy + c.r
}

// ellipse is rotated by angle; its distance is approximate (exact on the
// axes), which is enough for anti-aliasing.
type ellipse struct{ cx, cy, rx, ry, angle float64 }

func (e ellipse) sdf(x, y float64) float64 {
	u, v := rot(x-e.cx, y-e.cy, -e.angle)
	k := math.Hypot(u/e.rx, v/e.ry)
	return (k - 1) * math.Min(e.rx, e.ry)
}
func (e ellipse) bounds() (float64, float64, float64, float64) {
	r := math.Max(e.rx, e.ry)
	return e.cx - r, e.cy - r, e.cx + r, e.cy + r
}

// rrect is a rotated rectangle with half sizes hw, hh and corner radius r.
type rrect struct{ cx, cy, hw, hh, r, angle float64 }

func (b rrect) sdf(x, y float64) float64 {
	u, v := rot(x-b.cx, y-b.cy, -b.angle)
	qx := math.Abs(u) - b.hw + b.r
	qy := math.Abs(v) - b.hh + b.r
	out := math.Hypot(math.Max(qx, 0), math.Max(qy, 0))
	return out + math.Min(math.Max(qx, qy), 0) - b.r
}
func (b rrect) bounds() (float64, float64, float64, float64) {
	r := math.Hypot(b.hw, b.hh)
	return b.cx - r, b.cy - r, b.cx + r, b.cy + r
}

// polyline is a thick open curve: points joined by segments of radius w/2.
type polyline struct {
	pts [][2]float64
	w   float64
}

func (p polyline) sdf(x, y float64) float64 {
	d := math.Inf(1)
	for i := 1; i < len(p.pts); i++ {
		d = math.Min(d, segDist(x, y, p.pts[i-1], p.pts[i]))
	}
	return d - p.w/2
}
func (p polyline) bounds() (float64, float64, float64, float64) {
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, q := range p.pts {
		x0, y0 = math.Min(x0, q[0]), math.Min(y0, q[1])
		x1, y1 = math.Max(x1, q[0]), math.Max(y1, q[1])
	}
	h := p.w / 2
	return x0 - h, y0 - h, x1 + h, y1 + h
}

func segDist(x, y float64, a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = math.Max(0, math.Min(1, ((x-a[0])*dx+(y-a[1])*dy)/l2))
	}
	return math.Hypot(x-a[0]-t*dx, y-a[1]-t*dy)
}

// polygon is a closed simple polygon.
type polygon struct{ pts [][2]float64 }

func (p polygon) sdf(x, y float64) float64 {
	d := math.Inf(1)
	inside := false
	n := len(p.pts)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := p.pts[j], p.pts[i]
		d = math.Min(d, segDist(x, y, a, b))
		if (b[1] > y) != (a[1] > y) && x < (a[0]-b[0])*(y-b[1])/(a[1]-b[1])+b[0] {
			inside = !inside
		}
	}
	if inside {
		return -d
	}
	return d
}
func (p polygon) bounds() (float64, float64, float64, float64) {
	return polyline{pts: p.pts}.bounds()
}

// diff is a minus b: used for broken parts.
type diff struct{ a, b shape }

func (s diff) sdf(x, y float64) float64                     { return math.Max(s.a.sdf(x, y), -s.b.sdf(x, y)) }
func (s diff) bounds() (float64, float64, float64, float64) { return s.a.bounds() }

// inter is a ∩ b: a scratch clipped to the part it runs over.
type inter struct{ a, b shape }

func (s inter) sdf(x, y float64) float64 { return math.Max(s.a.sdf(x, y), s.b.sdf(x, y)) }
func (s inter) bounds() (float64, float64, float64, float64) {
	ax0, ay0, ax1, ay1 := s.a.bounds()
	bx0, by0, bx1, by1 := s.b.bounds()
	return math.Max(ax0, bx0), math.Max(ay0, by0), math.Min(ax1, bx1), math.Min(ay1, by1)
}

// union of shapes.
type union []shape

func (u union) sdf(x, y float64) float64 {
	d := math.Inf(1)
	for _, s := range u {
		d = math.Min(d, s.sdf(x, y))
	}
	return d
}
func (u union) bounds() (float64, float64, float64, float64) {
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, s := range u {
		a, b, c, d := s.bounds()
		x0, y0, x1, y1 = math.Min(x0, a), math.Min(y0, b), math.Max(x1, c), math.Max(y1, d)
	}
	return x0, y0, x1, y1
}

func rot(x, y, a float64) (float64, float64) {
	s, c := math.Sincos(a)
	return c*x - s*y, s*x + c*y
}

// canvas is a float RGB image.
type canvas struct {
	w, h int
	pix  []float64
}

func newCanvas(w, h int) *canvas { return &canvas{w, h, make([]float64, 3*w*h)} }

// cover calls f for every pixel whose centre is within soft/2 of the shape
// edge or inside, with the pixel's coverage in (0,1]. soft is the width of
// the anti-aliased edge in pixels (1 for crisp edges, more for shadows).
func cover(w, h int, s shape, soft float64, f func(i int, x, y, cov, d float64)) {
	x0, y0, x1, y1 := s.bounds()
	pad := soft + 1
	ix0 := max(0, int(math.Floor(x0-pad)))
	iy0 := max(0, int(math.Floor(y0-pad)))
	ix1 := min(w-1, int(math.Ceil(x1+pad)))
	iy1 := min(h-1, int(math.Ceil(y1+pad)))
	for py := iy0; py <= iy1; py++ {
		for px := ix0; px <= ix1; px++ {
			x, y := float64(px)+0.5, float64(py)+0.5
			d := s.sdf(x, y)
			cov := 0.5 - d/soft
			if cov <= 0 {
				continue
			}
			f(py*w+px, x, y, math.Min(cov, 1), d)
		}
	}
}

// paint fills the shape with a colour that may depend on the position and
// the signed distance (for bevels and shading).
func (c *canvas) paint(s shape, soft, alpha float64, col func(x, y, d float64) rgb) {
	cover(c.w, c.h, s, soft, func(i int, x, y, cov, d float64) {
		k := col(x, y, d)
		a := cov * alpha
		p := c.pix[3*i : 3*i+3]
		p[0] += (k[0] - p[0]) * a
		p[1] += (k[1] - p[1]) * a
		p[2] += (k[2] - p[2]) * a
	})
}

func (c *canvas) fill(s shape, col rgb) {
	c.paint(s, 1, 1, func(float64, float64, float64) rgb { return col })
}

// shadow darkens a soft, offset copy of the shape.
func (c *canvas) shadow(s shape, soft, strength float64) {
	cover(c.w, c.h, s, soft, func(i int, _, _, cov, _ float64) {
		f := 1 - strength*cov
		c.pix[3*i] *= f
		c.pix[3*i+1] *= f
		c.pix[3*i+2] *= f
	})
}

// mask is one ground-truth channel being drawn.
type mask struct {
	w, h int
	pix  []bool
}

func newMask(w, h int) *mask { return &mask{w, h, make([]bool, w*h)} }

// add marks the pixels whose centre lies inside the shape.
func (m *mask) add(s shape) {
	cover(m.w, m.h, s, 1, func(i int, _, _, _, d float64) {
		if d <= 0 {
			m.pix[i] = true
		}
	})
}

func (m *mask) area() int {
	n := 0
	for _, b := range m.pix {
		if b {
			n++
		}
	}
	return n
}

func (m *mask) gray(v uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, m.w, m.h))
	for i, b := range m.pix {
		if b {
			g.Pix[i] = v
		}
	}
	return g
}

// blur applies a separable Gaussian blur in place.
func (c *canvas) blur(sigma float64) {
	if sigma < 0.1 {
		return
	}
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float64, len(c.pix))
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			var a [3]float64
			for j, kv := range k {
				xx := min(max(x+j-r, 0), c.w-1)
				q := 3 * (y*c.w + xx)
				a[0] += kv * c.pix[q]
				a[1] += kv * c.pix[q+1]
				a[2] += kv * c.pix[q+2]
			}
			copy(tmp[3*(y*c.w+x):], a[:])
		}
	}
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			var a [3]float64
			for j, kv := range k {
				yy := min(max(y+j-r, 0), c.h-1)
				q := 3 * (yy*c.w + x)
				a[0] += kv * tmp[q]
				a[1] += kv * tmp[q+1]
				a[2] += kv * tmp[q+2]
			}
			copy(c.pix[3*(y*c.w+x):], a[:])
		}
	}
}

func (c *canvas) rgba() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, c.w, c.h))
	for i := 0; i < c.w*c.h; i++ {
		for k := 0; k < 3; k++ {
			v := math.Round(c.pix[3*i+k] * 255)
			img.Pix[4*i+k] = uint8(min(max(v, 0), 255))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}

// noise2 is smooth value noise in [0,1] with unit lattice spacing, seeded by
// an integer so that each image has its own texture.
func noise2(x, y float64, seed uint64) float64 {
	xi, yi := math.Floor(x), math.Floor(y)
	fx, fy := x-xi, y-yi
	fx = fx * fx * (3 - 2*fx)
	fy = fy * fy * (3 - 2*fy)
	ix, iy := int64(xi), int64(yi)
	v00 := lattice(ix, iy, seed)
	v10 := lattice(ix+1, iy, seed)
	v01 := lattice(ix, iy+1, seed)
	v11 := lattice(ix+1, iy+1, seed)
	return (v00*(1-fx)+v10*fx)*(1-fy) + (v01*(1-fx)+v11*fx)*fy
}

func lattice(x, y int64, seed uint64) float64 {
	h := uint64(x)*0x9E3779B97F4A7C15 ^ uint64(y)*0xC2B2AE3D27D4EB4F ^ seed
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 29
	return float64(h>>11) / (1 << 53)
}

// fbm sums octaves of noise2: a cheap texture for surfaces.
func fbm(x, y float64, seed uint64) float64 {
	return 0.5*noise2(x, y, seed) + 0.3*noise2(2.1*x, 2.1*y, seed+1) + 0.2*noise2(4.3*x, 4.3*y, seed+2)
}
