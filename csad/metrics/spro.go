package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// DefaultLimits are the FPR integration limits of the official evaluation
// script (MAX_FPRS).
var DefaultLimits = []float64{0.01, 0.05, 0.1, 0.3, 1.0}

var (
	// ErrNoDefects: the images hold no defect channel, so no sPRO exists.
	ErrNoDefects = errors.New("metrics: au-spro needs at least one image with a ground-truth defect")
	// ErrNoNegatives: every pixel lies in a defect, so no FPR exists (the
	// official script writes null then).
	ErrNoNegatives = errors.New("metrics: au-spro needs at least one defect-free pixel")
)

// Channel is one defect of a ground-truth map: one PNG of a
// ground_truth/<type>/<NNN>/ folder together with its entry of
// defects_config.json.
type Channel struct {
	// Mask is row-major, the size of the image; true marks a defect pixel.
	Mask []bool
	// Name is the defect_name of the channel's config entry.
	Name string
	// SaturationThreshold is a pixel count when RelativeSaturation is false,
	// else a fraction of the defect area in (0,1].
	SaturationThreshold float64
	RelativeSaturation  bool
}

// Area returns the number of defect pixels.
func (c Channel) Area() int {
	n := 0
	for _, m := range c.Mask {
		if m {
			n++
		}
	}
	return n
}

// SaturationArea returns the true-positive area at which the channel's sPRO
// reaches 1, as the official GroundTruthChannel.get_saturation_area: the
// threshold capped at the defect area, or int(threshold × area) for relative
// thresholds. A result of 0 (a threshold below one pixel) would make the
// official code divide by zero; it is raised to 1 here so that any hit
// saturates the channel.
func (c Channel) SaturationArea() int {
	area := c.Area()
	var s int
	if c.RelativeSaturation {
		s = int(c.SaturationThreshold * float64(area))
	} else {
		s = min(int(c.SaturationThreshold), area)
	}
	return max(s, 1)
}

// Image is an anomaly map with its ground truth. Channels is empty for good
// images.
type Image struct {
	Width, Height int
	// Map holds Width×Height anomaly scores, row-major.
	Map      []float32
	Channels []Channel
}

// Curve is the FPR–mean-sPRO curve, one point per distinct anomaly score and
// the origin, FPR ascending.
type Curve struct {
	FPR  []float64
	SPRO []float64
	// Thresholds[i] is the lowest score counted as positive at point i
	// (+Inf for the origin).
	Thresholds []float64
}

// SPROCurve computes the exact sPRO curve of a set of images: for each
// distinct score t, descending, the pixels with a score ≥ t are positive.
func SPROCurve(images []Image) (Curve, error) {
	type px struct {
		s   float32
		img int32
		i   int32
	}
	total := 0
	nch := 0
	for k, im := range images {
		n := im.Width * im.Height
		if len(im.Map) != n {
			return Curve{}, fmt.Errorf("metrics: image %d: anomaly map has %d values, want %d×%d", k, len(im.Map), im.Width, im.Height)
		}
		for c, ch := range im.Channels {
			if len(ch.Mask) != n {
				return Curve{}, fmt.Errorf("metrics: image %d: ground-truth channel %d has %d pixels, want %d×%d", k, c, len(ch.Mask), im.Width, im.Height)
			}
		}
		for _, s := range im.Map {
			if math.IsNaN(float64(s)) {
				return Curve{}, fmt.Errorf("metrics: image %d: anomaly map contains NaN", k)
			}
		}
		total += n
		nch += len(im.Channels)
	}
	if nch == 0 {
		return Curve{}, ErrNoDefects
	}
	pix := make([]px, 0, total)
	chBase := make([]int, len(images)) // index of each image's first channel
	sat := make([]float64, 0, nch)
	negatives := 0
	for k, im := range images {
		chBase[k] = len(sat)
		for _, ch := range im.Channels {
			sat = append(sat, float64(ch.SaturationArea()))
		}
		for i, s := range im.Map {
			pix = append(pix, px{s, int32(k), int32(i)})
			if !inAnyChannel(im.Channels, i) {
				negatives++
			}
		}
	}
	if negatives == 0 {
		return Curve{}, ErrNoNegatives
	}
	slices.SortFunc(pix, func(a, b px) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return 0
	})
	tp := make([]int, nch)
	// Millions of small sPRO increments: a compensated sum keeps a perfect
	// map at exactly 1 instead of drifting by 1e-13.
	var sproSum neumaier
	fp := 0
	c := Curve{FPR: []float64{0}, SPRO: []float64{0}, Thresholds: []float64{math.Inf(1)}}
	for j, p := range pix {
		im := &images[p.img]
		hit := false
		for ci, ch := range im.Channels {
			if !ch.Mask[p.i] {
				continue
			}
			hit = true
			g := chBase[p.img] + ci
			before := math.Min(float64(tp[g])/sat[g], 1)
			tp[g]++
			sproSum.add(math.Min(float64(tp[g])/sat[g], 1) - before)
		}
		if !hit {
			fp++
		}
		if j == len(pix)-1 || pix[j+1].s != p.s {
			c.FPR = append(c.FPR, float64(fp)/float64(negatives))
			c.SPRO = append(c.SPRO, sproSum.value()/float64(nch))
			c.Thresholds = append(c.Thresholds, float64(p.s))
		}
	}
	// The running sum drifts by rounding; the last point is exactly (1,1) by
	// construction (every pixel positive saturates every channel).
	c.SPRO[len(c.SPRO)-1] = 1
	return c, nil
}

// neumaier is a compensated running sum.
type neumaier struct{ sum, comp float64 }

func (n *neumaier) add(x float64) {
	t := n.sum + x
	if math.Abs(n.sum) >= math.Abs(x) {
		n.comp += (n.sum - t) + x
	} else {
		n.comp += (x - t) + n.sum
	}
	n.sum = t
}

func (n *neumaier) value() float64 { return n.sum + n.comp }

func inAnyChannel(chs []Channel, i int) bool {
	for _, ch := range chs {
		if ch.Mask[i] {
			return true
		}
	}
	return false
}

// AUsPRO returns the normalised area under the sPRO curve up to each FPR
// limit in limits (DefaultLimits when nil), each in [0,1].
func AUsPRO(images []Image, limits []float64) ([]float64, error) {
	c, err := SPROCurve(images)
	if err != nil {
		return nil, err
	}
	return c.AUC(limits)
}

// AUC integrates the curve up to each limit in (0,1] and divides by the
// limit, like the official get_auc_for_max_fpr(scale_to_one=True).
func (c Curve) AUC(limits []float64) ([]float64, error) {
	if limits == nil {
		limits = DefaultLimits
	}
	out := make([]float64, len(limits))
	for i, l := range limits {
		if !(l > 0 && l <= 1) {
			return nil, fmt.Errorf("metrics: fpr limit %v outside (0,1]", l)
		}
		out[i] = trapzUpTo(c.FPR, c.SPRO, l) / l
	}
	return out, nil
}

// trapzUpTo is the trapezoidal integral of y over x (ascending, duplicates
// allowed) from x[0] to xmax. As in the official util.trapz, when xmax is not
// one of the x values the last piece is closed with the value interpolated
// between its neighbours.
func trapzUpTo(x, y []float64, xmax float64) float64 {
	var corr float64
	if !slices.Contains(x, xmax) {
		ins := len(x)
		for i, v := range x {
			if v > xmax {
				ins = i
				break
			}
		}
		if ins == 0 || ins == len(x) {
			// Outside the curve; the official code asserts. Clamp instead.
			return trapzUpTo(x, y, math.Min(math.Max(xmax, x[0]), x[len(x)-1]))
		}
		yi := y[ins-1] + (y[ins]-y[ins-1])*(xmax-x[ins-1])/(x[ins]-x[ins-1])
		corr = 0.5 * (yi + y[ins-1]) * (xmax - x[ins-1])
	}
	var s float64
	for i := 1; i < len(x) && x[i] <= xmax; i++ {
		s += 0.5 * (y[i] + y[i-1]) * (x[i] - x[i-1])
	}
	return s + corr
}

// LimitKey formats an FPR limit as Python's repr does, the key the official
// script writes into metrics.json ("0.01", "0.3", "1.0").
func LimitKey(l float64) string {
	s := strconv.FormatFloat(l, 'g', -1, 64)
	if l == math.Trunc(l) && !math.IsInf(l, 0) && len(s) < 16 {
		s += ".0"
	}
	return s
}
