package synth

import (
	"fmt"
	"hash/fnv"
	"image"
	"math"
	"math/rand/v2"
)

// Kind is the kind of a generated image.
type Kind int

const (
	// Normal images obey the category's rule and have no structural defect.
	Normal Kind = iota
	// Logical anomalies violate the rule with intact parts.
	Logical
	// Structural anomalies obey the rule but show a damaged part.
	Structural
)

func (k Kind) String() string {
	switch k {
	case Normal:
		return "good"
	case Logical:
		return "logical_anomalies"
	case Structural:
		return "structural_anomalies"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Scene describes what an image shows at the level of its category's rule.
// The concrete types are TrayScene, BoxScene and ConnectorScene.
type Scene interface {
	// Violations lists, in words, every way the scene breaks the rule; it is
	// empty for normal and structural images.
	Violations() []string
}

// DefectSpec is one defect type of a category, as written to
// defects_config.json.
type DefectSpec struct {
	Name    string
	Logical bool
	// Saturation is a fraction of the defect area when Relative, else a
	// pixel count at the nominal 320×256 size, scaled with the image area.
	Saturation float64
	Relative   bool
}

// Channel is one ground-truth mask of an anomalous image.
type Channel struct {
	Defect string
	// Mask is row-major, true inside the defect.
	Mask []bool
}

// Image is one generated image with its ground truth.
type Image struct {
	RGB   *image.RGBA
	Scene Scene
	Kind  Kind
	// Defect is the defect type drawn ("" for normal images).
	Defect string
	// Channels holds one mask per defect, in file order (000.png, ...).
	Channels []Channel
}

// category is the generator of one scene type.
type category struct {
	name, rule string
	// defects lists the logical defects first, then the structural ones.
	defects []DefectSpec
	// sample draws a scene; defect is "" for normal and structural images.
	sample func(r *rand.Rand, defect string) Scene
	// render draws the scene and registers parts and logical ground truth.
	render func(rc *renderCtx, sc Scene, defect string)
	// background returns the surface colour and texture strength.
	background func(r *rand.Rand) (rgb, float64)
}

// nominal size of the scene coordinates: every scene is laid out in a
// 320×256 frame and mapped onto the requested image size.
const nomW, nomH = 320.0, 256.0

// frame maps nominal coordinates to image pixels: uniform scale to fit,
// centred, plus the per-image jitter (shift and small rotation).
type frame struct {
	s, cx, cy, ox, oy, a float64
}

func (f frame) pt(x, y float64) (float64, float64) {
	u, v := rot((x-nomW/2)*f.s, (y-nomH/2)*f.s, f.a)
	return f.cx + f.ox + u, f.cy + f.oy + v
}
func (f frame) l(v float64) float64   { return v * f.s }
func (f frame) ang(a float64) float64 { return a + f.a }

// part is a component that structural defects may hit.
type part struct {
	s   shape
	col rgb
}

// renderCtx is handed to a category's render function.
type renderCtx struct {
	c    *canvas
	f    frame
	r    *rand.Rand // for texture details; reseeded identically per render
	seed uint64

	parts   []part
	inPart  int // index of the part being drawn, -1 outside
	cutPart int
	cut     shape
	gt      []Channel
}

// begin starts drawing a breakable part whose outline is s and surface
// colour col; every shape drawn until end is cut if this part is broken.
func (rc *renderCtx) begin(s shape, col rgb) {
	rc.parts = append(rc.parts, part{s, col})
	rc.inPart = len(rc.parts) - 1
}
func (rc *renderCtx) end() { rc.inPart = -1 }

func (rc *renderCtx) clip(s shape) shape {
	if rc.cut != nil && rc.inPart >= 0 && rc.inPart == rc.cutPart {
		return diff{s, rc.cut}
	}
	return s
}

func (rc *renderCtx) paint(s shape, col func(x, y, d float64) rgb) {
	rc.c.paint(rc.clip(s), 1, 1, col)
}
func (rc *renderCtx) fill(s shape, col rgb) { rc.c.fill(rc.clip(s), col) }

// shadow casts a soft shadow of s towards the lower right.
func (rc *renderCtx) shadow(s shape, dist, soft, strength float64) {
	d := rc.f.l(dist)
	rc.c.shadow(offset{s, d, d * 1.2}, rc.f.l(soft), strength)
}

// gtShape adds a logical ground-truth channel covering s.
func (rc *renderCtx) gtShape(defect string, s shape) {
	m := newMask(rc.c.w, rc.c.h)
	m.add(s)
	rc.gt = append(rc.gt, Channel{Defect: defect, Mask: m.pix})
}

// Nominal-coordinate shape helpers.
func (rc *renderCtx) circle(x, y, r float64) circle {
	px, py := rc.f.pt(x, y)
	return circle{px, py, rc.f.l(r)}
}
func (rc *renderCtx) ellipse(x, y, rx, ry, a float64) ellipse {
	px, py := rc.f.pt(x, y)
	return ellipse{px, py, rc.f.l(rx), rc.f.l(ry), rc.f.ang(a)}
}
func (rc *renderCtx) rrect(x, y, hw, hh, r, a float64) rrect {
	px, py := rc.f.pt(x, y)
	return rrect{px, py, rc.f.l(hw), rc.f.l(hh), rc.f.l(r), rc.f.ang(a)}
}
func (rc *renderCtx) polyline(pts [][2]float64, w float64) polyline {
	out := make([][2]float64, len(pts))
	for i, p := range pts {
		out[i][0], out[i][1] = rc.f.pt(p[0], p[1])
	}
	return polyline{out, rc.f.l(w)}
}

// offset is a shape moved by (dx, dy) pixels.
type offset struct {
	s      shape
	dx, dy float64
}

func (o offset) sdf(x, y float64) float64 { return o.s.sdf(x-o.dx, y-o.dy) }
func (o offset) bounds() (float64, float64, float64, float64) {
	a, b, c, d := o.s.bounds()
	return a + o.dx, b + o.dy, c + o.dx, d + o.dy
}

// sphere returns a paint function shading a round item lit from the upper
// left, with a texture that breaks the flat look.
func sphere(cx, cy, r float64, base rgb, tex float64, seed uint64) func(x, y, d float64) rgb {
	lx, ly := cx-0.35*r, cy-0.4*r
	return func(x, y, d float64) rgb {
		dl := math.Hypot(x-lx, y-ly) / (1.4 * r)
		shade := 1.12 - 0.55*dl*dl
		t := 1 + tex*(fbm(x*0.5, y*0.5, seed)-0.5)
		k := base.scale(shade * t)
		// Specular spot.
		if sp := math.Hypot(x-(cx-0.3*r), y-(cy-0.35*r)) / (0.22 * r); sp < 1 {
			k = mix(k, rgb{1, 1, 1}, 0.35*(1-sp*sp))
		}
		return k
	}
}

// bevel shades a flat part darker near its rim, like a moulded edge.
func bevel(base rgb, width float64, seed uint64, tex float64) func(x, y, d float64) rgb {
	return func(x, y, d float64) rgb {
		e := math.Min(1, -d/width)
		t := 1 + tex*(fbm(x*0.08, y*0.08, seed)-0.5)
		return base.scale((0.78 + 0.22*e) * t)
	}
}

// jitterColour shifts a colour slightly, per item.
func jitterColour(r *rand.Rand, c rgb, amount float64) rgb {
	f := 1 + amount*(2*r.Float64()-1)
	return rgb{c[0] * f * (1 + 0.3*amount*(2*r.Float64()-1)), c[1] * f, c[2] * f * (1 + 0.3*amount*(2*r.Float64()-1))}
}

// uniform returns a uniform sample in [a,b).
func uniform(r *rand.Rand, a, b float64) float64 { return a + (b-a)*r.Float64() }

// imageRand returns the generator of one image: PCG seeded with the user
// seed and a hash of (category, split, defect type, index), so images are
// independent of each other and of the generation order.
func imageRand(seed uint64, cat, split string, kind Kind, index int) (*rand.Rand, uint64) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%s/%d", cat, split, kind, index)
	s2 := h.Sum64()
	return rand.New(rand.NewPCG(seed, s2)), seed ^ s2
}

// generate draws one image.
func generate(cat *category, seed uint64, split string, kind Kind, index, w, h int) (*Image, error) {
	r, sub := imageRand(seed, cat.name, split, kind, index)
	var defect string
	var logical, structural []DefectSpec
	for _, d := range cat.defects {
		if d.Logical {
			logical = append(logical, d)
		} else {
			structural = append(structural, d)
		}
	}
	switch kind {
	case Logical:
		defect = logical[index%len(logical)].Name
	case Structural:
		defect = structural[index%len(structural)].Name
	}
	sampleDefect := ""
	if kind == Logical {
		sampleDefect = defect
	}
	sc := cat.sample(r, sampleDefect)

	f := frame{
		s:  math.Min(float64(w)/nomW, float64(h)/nomH),
		cx: float64(w) / 2, cy: float64(h) / 2,
		ox: uniform(r, -6, 6) * float64(w) / nomW,
		oy: uniform(r, -5, 5) * float64(h) / nomH,
		a:  uniform(r, -2.5, 2.5) * math.Pi / 180,
	}
	bg, bgTex := cat.background(r)
	look := finish{
		gainX: uniform(r, -0.08, 0.08), gainY: uniform(r, -0.08, 0.08),
		level:    uniform(r, 0.93, 1.05),
		vignette: uniform(r, 0.05, 0.15),
		tint:     rgb{uniform(r, 0.97, 1.03), uniform(r, 0.98, 1.02), uniform(r, 0.97, 1.03)},
		blur:     uniform(r, 0.35, 0.75),
		noise:    uniform(r, 0.006, 0.014),
	}
	texSeed := r.Uint64()
	noiseSeed := r.Uint64()

	draw := func(cutPart int, cut shape) *renderCtx {
		rc := &renderCtx{
			c: newCanvas(w, h), f: f, seed: texSeed,
			r:      rand.New(rand.NewPCG(texSeed, 7)),
			inPart: -1, cutPart: cutPart, cut: cut,
		}
		background(rc, bg, bgTex)
		cat.render(rc, sc, sampleDefect)
		return rc
	}
	rc := draw(-1, nil)
	var chans []Channel
	if kind == Logical {
		chans = rc.gt
	}
	if kind == Structural {
		ch, redo, err := structuralDefect(rc, r, defect)
		if err != nil {
			return nil, fmt.Errorf("synth: %s %s %d: %w", cat.name, defect, index, err)
		}
		if redo != nil {
			// A broken part: render again with the piece cut out, then keep
			// the mask computed from the intact outline.
			rc = draw(redo.part, redo.cut)
		}
		chans = []Channel{ch}
	}
	look.apply(rc.c, noiseSeed, sub)
	return &Image{RGB: rc.c.rgba(), Scene: sc, Kind: kind, Defect: defect, Channels: chans}, nil
}

// background fills the canvas with a textured surface.
func background(rc *renderCtx, base rgb, tex float64) {
	c := rc.c
	sc := 1 / rc.f.l(18)
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			n := fbm(float64(x)*sc, float64(y)*sc, rc.seed^0xA5)
			fine := lattice(int64(x), int64(y), rc.seed^0x5A) - 0.5
			k := base.scale(1 + tex*(n-0.5) + 0.25*tex*fine)
			copy(c.pix[3*(y*c.w+x):], k[:])
		}
	}
}

// finish is the camera: uneven lighting, colour cast, optics blur and sensor
// noise.
type finish struct {
	gainX, gainY, level, vignette float64
	tint                          rgb
	blur, noise                   float64
}

func (l finish) apply(c *canvas, seed, sub uint64) {
	c.blur(l.blur * c.scaleHint())
	r := rand.New(rand.NewPCG(seed, sub))
	for y := 0; y < c.h; y++ {
		ny := float64(y)/float64(c.h) - 0.5
		for x := 0; x < c.w; x++ {
			nx := float64(x)/float64(c.w) - 0.5
			g := l.level * (1 + l.gainX*nx*2 + l.gainY*ny*2) * (1 - l.vignette*(nx*nx+ny*ny)*2)
			i := 3 * (y*c.w + x)
			for k := 0; k < 3; k++ {
				c.pix[i+k] = c.pix[i+k]*g*l.tint[k] + l.noise*r.NormFloat64()
			}
		}
	}
}

// scaleHint is the image scale relative to the nominal frame, so blur looks
// the same at every size.
func (c *canvas) scaleHint() float64 {
	return math.Min(float64(c.w)/nomW, float64(c.h)/nomH)
}
