package pseudolabel

import (
	"cmp"
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/csad-go/csad/csad/imageproc"
)

// SegmentOptions configures Segment. The zero value of every field selects its
// default; DefaultSegmentOptions returns them.
type SegmentOptions struct {
	// MaxSide bounds the long side of the working image: a larger image is
	// reduced by the smallest integer factor that fits (area average) and
	// the labels are mapped back with nearest-neighbour lookup. Default 400,
	// which keeps the 320×256 synthetic images at full resolution and
	// reduces MVTec LOCO's 1600×1100 images 4×.
	MaxSide int
	// Sigma is the Gaussian blur, in working pixels, applied to the Lab
	// image before the graph is built. Default 0.8 (Felzenszwalb and
	// Huttenlocher's value); negative disables it.
	Sigma float64
	// K is the scale of the graph segmentation in Lab units: larger values
	// give larger regions. Default 35.
	K float64
	// MinSize is the smallest region of the graph segmentation, in working
	// pixels. Default 20.
	MinSize int
	// MergeDist: adjacent foreground regions whose mean colours are closer
	// than this are merged, closest pair first, when their boundary is weak
	// as well (EdgeDist, EdgeGain). The distance is a shading-tolerant one:
	// 100 × the CIE xy chromaticity distance combined with 2 × the log ratio
	// of luminance, so a part's shaded rim (same chromaticity, darker)
	// stays close to it while different materials do not. Default 9.
	MergeDist float64
	// EdgeDist and EdgeGain bound the boundary contrast (mean ΔE step
	// between neighbouring pixels across the boundary) of regions that
	// merge: at most EdgeDist + EdgeGain × the larger inner contrast of the
	// two (the mean step between neighbouring pixels inside the regions of
	// the graph segmentation that make them up). Object outlines are steps
	// several times the texture of the parts they separate; boundaries
	// between patches of one texture are not. Defaults 2 and 2. A region
	// lying inside another (90 % of its boundary on it, at most a tenth of
	// its size) merges on colour alone; regions whose lightness differs by
	// more than 8 L* need a quarter of the smaller one's boundary in common.
	EdgeDist, EdgeGain float64
	// AbsorbFrac and AbsorbDist: after merging, every region smaller than
	// AbsorbFrac of the image, or thin (no pixel 3 or more steps inside it),
	// joins its neighbour of the closest mean colour (MergeDist's distance)
	// if that is closer than AbsorbDist. Defaults 0.002 (twice the §5.1
	// area filter) and 30.
	AbsorbFrac, AbsorbDist float64
	// CornerFrac is the side of the square corner patches whose regions
	// seed the background, as a fraction of the short side. Default 0.03.
	CornerFrac float64
	// BackgroundDist: a region joins the background when it touches it and
	// its mean colour is closer than this (ΔE) to the fitted surface colour
	// over the region; single pixels of mixed regions join when closer
	// than 0.4 × BackgroundDist. Default 6.
	BackgroundDist float64
	// ShadowWeight scales the lightness difference of colours darker than
	// the surface, so that shadows cast on the background join it.
	// Default 0.25; 1 treats darker and lighter alike.
	ShadowWeight float64
	// MaxBBoxFrac drops components whose bounding box covers this fraction
	// of the image or more (§5.2). Default 0.95.
	MaxBBoxFrac float64
}

// DefaultSegmentOptions returns the defaults documented on SegmentOptions.
func DefaultSegmentOptions() SegmentOptions {
	return SegmentOptions{MaxSide: 400, Sigma: 0.8, K: 35, MinSize: 20, MergeDist: 9, EdgeDist: 2, EdgeGain: 2, AbsorbFrac: 0.002, AbsorbDist: 30, CornerFrac: 0.03,
		BackgroundDist: 6, ShadowWeight: 0.25, MaxBBoxFrac: 0.95}
}

func (o SegmentOptions) withDefaults() (SegmentOptions, error) {
	d := DefaultSegmentOptions()
	set := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	if o.MaxSide == 0 {
		o.MaxSide = d.MaxSide
	}
	if o.MinSize == 0 {
		o.MinSize = d.MinSize
	}
	set(&o.Sigma, d.Sigma)
	set(&o.K, d.K)
	set(&o.MergeDist, d.MergeDist)
	set(&o.EdgeDist, d.EdgeDist)
	set(&o.EdgeGain, d.EdgeGain)
	set(&o.AbsorbFrac, d.AbsorbFrac)
	set(&o.AbsorbDist, d.AbsorbDist)
	set(&o.CornerFrac, d.CornerFrac)
	set(&o.BackgroundDist, d.BackgroundDist)
	set(&o.ShadowWeight, d.ShadowWeight)
	set(&o.MaxBBoxFrac, d.MaxBBoxFrac)
	for _, v := range []float64{o.Sigma, o.K, o.MergeDist, o.EdgeDist, o.EdgeGain, o.AbsorbFrac, o.AbsorbDist, o.CornerFrac, o.BackgroundDist, o.ShadowWeight, o.MaxBBoxFrac} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return o, fmt.Errorf("pseudolabel: SegmentOptions hold a NaN or infinite value (%+v); use finite values or 0 for the defaults", o)
		}
	}
	switch {
	case o.MaxSide < 16:
		return o, fmt.Errorf("pseudolabel: SegmentOptions.MaxSide %d is below 16; use 0 for the default %d", o.MaxSide, d.MaxSide)
	case o.K < 0 || o.MinSize < 0 || o.MergeDist < 0 || o.EdgeDist < 0 || o.EdgeGain < 0 || o.AbsorbFrac < 0 || o.AbsorbDist < 0 || o.BackgroundDist < 0 || o.ShadowWeight < 0:
		return o, fmt.Errorf("pseudolabel: SegmentOptions K, MinSize, MergeDist, EdgeDist, EdgeGain, AbsorbFrac, AbsorbDist, BackgroundDist and ShadowWeight must not be negative (got %+v); use 0 for the defaults", o)
	case o.CornerFrac < 0 || o.CornerFrac > 0.5:
		return o, fmt.Errorf("pseudolabel: SegmentOptions.CornerFrac %g outside (0, 0.5]", o.CornerFrac)
	case o.MaxBBoxFrac < 0 || o.MaxBBoxFrac > 1:
		return o, fmt.Errorf("pseudolabel: SegmentOptions.MaxBBoxFrac %g outside (0, 1]", o.MaxBBoxFrac)
	}
	return o, nil
}

// Segmentation is the result of Segment, at the resolution of the input.
type Segmentation struct {
	// Labels is the merged component map of §5.1: components sorted by
	// area, largest first, painted 1..K; 0 is background or too small.
	Labels LabelMap
	// Background is the region connected to the image corners.
	Background Mask
}

// minSide is the smallest image Segment accepts; maxPixels the largest
// (the bound of imageproc's decoder).
const (
	minSide   = 8
	maxPixels = 2 * 89478485
)

// Segment splits an image into background and foreground components
// without a learned model (spec §5.2, replacement contract): Lab colour,
// Felzenszwalb–Huttenlocher graph segmentation, a background grown from the
// corners through regions that match a fitted surface colour, merging of
// adjacent foreground regions of similar colour across weak boundaries, then
// 4-connected components with the §5.1/§5.2 filters (area > 0.1 % of the
// image, bounding box < MaxBBoxFrac of the image, at most 255 components,
// the largest kept).
func Segment(img image.Image, o SegmentOptions) (Segmentation, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Segmentation{}, err
	}
	if img == nil {
		return Segmentation{}, fmt.Errorf("pseudolabel: nil image")
	}
	b := img.Bounds()
	if b.Dx() < minSide || b.Dy() < minSide {
		return Segmentation{}, fmt.Errorf("pseudolabel: image %d×%d is too small to segment (at least %d×%d)", b.Dx(), b.Dy(), minSide, minSide)
	}
	if b.Dx() > maxPixels/b.Dy() {
		return Segmentation{}, fmt.Errorf("pseudolabel: image %d×%d has more than %d pixels; reduce it first", b.Dx(), b.Dy(), maxPixels)
	}
	rgb := imageproc.FromImage(img)
	W, H := rgb.W, rgb.H
	st := segmentStages(rgb, o)
	lab, ids, rg := st.lab, st.ids, st.rg

	// Back to full resolution: each pixel takes the region of the working
	// pixel Pillow's NEAREST would read.
	full := make([]int32, W*H)
	xs, ys := nearest(lab.w, W), nearest(lab.h, H)
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			r := rg.root(ids[ys[y]*lab.w+xs[x]])
			if rg.bg[r] {
				full[y*W+x] = -1
			} else {
				full[y*W+x] = r
			}
		}
	}
	seg := Segmentation{Labels: NewLabelMap(W, H), Background: NewMask(W, H)}
	for p, r := range full {
		seg.Background.Pix[p] = r < 0
	}
	comps := components4(full, W, H)
	var keep []component
	for _, c := range comps.list {
		bb := (c.x1 - c.x0) * (c.y1 - c.y0)
		if bigEnough(c.area, W, H) && float64(bb) < o.MaxBBoxFrac*float64(W*H) {
			keep = append(keep, c)
		}
	}
	slices.SortStableFunc(keep, func(a, b component) int { return cmp.Compare(b.area, a.area) })
	if len(keep) > MaxLabels {
		keep = keep[:MaxLabels]
	}
	lut := make(map[int32]uint8, len(keep))
	for k, c := range keep {
		lut[c.id] = uint8(k + 1)
	}
	for p, id := range comps.pixelIDs {
		if v, ok := lut[id]; ok {
			seg.Labels.Pix[p] = v
		}
	}
	return seg, nil
}

// stages holds the intermediate results of Segment at working resolution.
type stages struct {
	lab *labImage
	ids []int32 // graph segmentation with the background as one region, before merging
	rg  *regions
}

func segmentStages(rgb *imageproc.RGB, o SegmentOptions) stages {
	f := (max(rgb.W, rgb.H) + o.MaxSide - 1) / o.MaxSide
	lab := toLab(rgb, f)
	lab.blur(o.Sigma)
	ids, n := felzenszwalb(lab.w*lab.h, gridEdges(lab), o.K, o.MinSize)
	rg := newRegions(lab, ids, n)
	if m, ok := rg.background(lab, o); ok {
		var bgID int32
		ids, n, bgID = rg.floodBackground(lab, m, o)
		rg = newRegions(lab, ids, n)
		if bgID >= 0 {
			rg.bg[bgID] = true
		}
	}
	rg.mergeSimilar(mergeRule{maxDist: o.MergeDist, edge: o.EdgeDist, edgeGain: o.EdgeGain})
	rg.absorbSmall(lab.w, lab.h, o.AbsorbFrac*float64(lab.w*lab.h), o.AbsorbDist)
	return stages{lab: lab, ids: ids, rg: rg}
}

// nearest is Pillow's NEAREST source index for each of outSize outputs
// (floor((i+0.5)·in/out)), clamped to the input.
func nearest(inSize, outSize int) []int {
	idx := make([]int, outSize)
	for i := range idx {
		idx[i] = min(int((float64(i)+0.5)*float64(inSize)/float64(outSize)), inSize-1)
	}
	return idx
}

// toLab converts to Lab, reducing by the integer factor f with an area
// average of the sRGB values (partial blocks at the right and bottom edges
// average the pixels they have).
func toLab(img *imageproc.RGB, f int) *labImage {
	w, h := (img.W+f-1)/f, (img.H+f-1)/f
	im := &labImage{w: w, h: h, l: make([]float32, w*h), a: make([]float32, w*h), b: make([]float32, w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s [3]int
			n := 0
			for yy := y * f; yy < min((y+1)*f, img.H); yy++ {
				for xx := x * f; xx < min((x+1)*f, img.W); xx++ {
					q := 3 * (yy*img.W + xx)
					s[0] += int(img.Pix[q])
					s[1] += int(img.Pix[q+1])
					s[2] += int(img.Pix[q+2])
					n++
				}
			}
			l, a, b := Lab(uint8((s[0]+n/2)/n), uint8((s[1]+n/2)/n), uint8((s[2]+n/2)/n))
			p := y*w + x
			im.l[p], im.a[p], im.b[p] = float32(l), float32(a), float32(b)
		}
	}
	return im
}
