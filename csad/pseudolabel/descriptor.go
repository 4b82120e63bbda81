package pseudolabel

import (
	"fmt"
	"math"

	"github.com/csad-go/csad/csad/imageproc"
)

// Descriptor holds the model-free features of one component (spec §5.4
// for area, colour and position; Lab statistics and moments in their
// place of the CNN feature).
type Descriptor struct {
	// Area is the pixel count over the image pixel count.
	Area float64
	// MeanLab and StdLab are the mean and population standard deviation of
	// CIE L*, a*, b* (float conversion of Lab, D65) over the component.
	MeanLab, StdLab [3]float64
	// Center is the bounding-box centre normalised by W and H (§5.4
	// "position": (x + w/2)/W, (y + h/2)/H).
	Center [2]float64
	// Eta holds the normalised central moments η20, η11, η02, η30, η21,
	// η12, η03 of the binary mask (pixel centres at integer coordinates).
	Eta [7]float64
	// Hu holds the seven Hu invariants computed from Eta.
	Hu [7]float64
	// OfficialColor is the spec's colour feature: the mean over the
	// component of (b/(a+1e-7))² with a and b in OpenCV's 8-bit Lab
	// encoding (see Lab8). Stored, not used for clustering.
	OfficialColor float64
}

// Describe computes the descriptor of component m in img. The mask must
// have the image's size and at least one pixel.
func Describe(img *imageproc.RGB, m Mask) (Descriptor, error) {
	if err := m.check(); err != nil {
		return Descriptor{}, err
	}
	if img == nil || img.W != m.W || img.H != m.H || len(img.Pix) != 3*img.W*img.H {
		w, h := 0, 0
		if img != nil {
			w, h = img.W, img.H
		}
		return Descriptor{}, fmt.Errorf("pseudolabel: mask is %d×%d but the image is %d×%d; masks must come from the image they describe", m.W, m.H, w, h)
	}
	var d Descriptor
	var n, sx, sy float64
	var sum, sq [3]float64
	var official float64
	for p, on := range m.Pix {
		if !on {
			continue
		}
		n++
		x, y := float64(p%m.W), float64(p/m.W)
		sx += x
		sy += y
		r, g, b := img.Pix[3*p], img.Pix[3*p+1], img.Pix[3*p+2]
		l, aa, bb := Lab(r, g, b)
		for k, v := range [3]float64{l, aa, bb} {
			sum[k] += v
			sq[k] += v * v
		}
		_, a8, b8 := Lab8(r, g, b)
		// OpenCV's arrays are float32 in the official code; the ratio is
		// taken in float64 here, which changes it in the 7th digit.
		q := float64(b8) / (float64(a8) + 1e-7)
		official += q * q
	}
	if n == 0 {
		return Descriptor{}, fmt.Errorf("pseudolabel: empty component mask")
	}
	d.Area = n / float64(m.W*m.H)
	for k := range sum {
		d.MeanLab[k] = sum[k] / n
		d.StdLab[k] = math.Sqrt(math.Max(0, sq[k]/n-d.MeanLab[k]*d.MeanLab[k]))
	}
	d.OfficialColor = official / (n + 1e-7)
	x0, y0, x1, y1, _ := m.BBox()
	d.Center = [2]float64{float64(x0+x1) / 2 / float64(m.W), float64(y0+y1) / 2 / float64(m.H)}

	cx, cy := sx/n, sy/n
	var mu [4][4]float64 // mu[p][q] for p+q ≤ 3
	for p, on := range m.Pix {
		if !on {
			continue
		}
		dx, dy := float64(p%m.W)-cx, float64(p/m.W)-cy
		dx2, dy2 := dx*dx, dy*dy
		mu[2][0] += dx2
		mu[1][1] += dx * dy
		mu[0][2] += dy2
		mu[3][0] += dx2 * dx
		mu[2][1] += dx2 * dy
		mu[1][2] += dx * dy2
		mu[0][3] += dy2 * dy
	}
	eta := func(p, q int) float64 { return mu[p][q] / math.Pow(n, 1+float64(p+q)/2) }
	n20, n11, n02 := eta(2, 0), eta(1, 1), eta(0, 2)
	n30, n21, n12, n03 := eta(3, 0), eta(2, 1), eta(1, 2), eta(0, 3)
	d.Eta = [7]float64{n20, n11, n02, n30, n21, n12, n03}
	d.Hu = huMoments(n20, n11, n02, n30, n21, n12, n03)
	return d, nil
}

// huMoments are Hu's seven invariants (Hu 1962), as OpenCV's HuMoments.
func huMoments(n20, n11, n02, n30, n21, n12, n03 float64) [7]float64 {
	t0, t1 := n30+n12, n21+n03
	q0, q1 := n30-3*n12, 3*n21-n03
	return [7]float64{
		n20 + n02,
		(n20-n02)*(n20-n02) + 4*n11*n11,
		q0*q0 + q1*q1,
		t0*t0 + t1*t1,
		q0*t0*(t0*t0-3*t1*t1) + q1*t1*(3*t0*t0-t1*t1),
		(n20-n02)*(t0*t0-t1*t1) + 4*n11*t0*t1,
		q1*t0*(t0*t0-3*t1*t1) - q0*t1*(3*t0*t0-t1*t1),
	}
}

// Feature names accepted in FeatureSet, in the order Vector writes them.
const (
	// FeatLogArea is ln(Area): part sizes differ by factors.
	FeatLogArea = "log_area"
	// FeatLab is MeanLab (three columns).
	FeatLab = "lab"
	// FeatLabStd is StdLab (three columns): texture and shading.
	FeatLabStd = "lab_std"
	// FeatShape is Hu 1 and the elongation √Hu2 / Hu1 (two columns):
	// spread (1/2π for a disc, more for rings and bars) and elongation (0
	// for a disc, towards 1 for a line), invariant to position, scale and
	// rotation. The usual log of Hu moments is not used: Hu 2 of a round
	// part is near 0, where its log swings by units between images.
	FeatShape = "shape"
	// FeatPosition is Center (two columns); off by default because parts
	// of one kind lie anywhere in the image.
	FeatPosition = "position"
)

// DefaultFeatures is the feature set Run clusters on.
var DefaultFeatures = []string{FeatLogArea, FeatLab, FeatLabStd, FeatShape}

// Vector returns the raw feature columns of d named by features (see the
// Feat constants) and their column names.
func Vector(d Descriptor, features []string) ([]float64, []string, error) {
	var v []float64
	var names []string
	for _, f := range features {
		switch f {
		case FeatLogArea:
			v = append(v, math.Log(d.Area))
			names = append(names, "log_area")
		case FeatLab:
			v = append(v, d.MeanLab[:]...)
			names = append(names, "L", "a", "b")
		case FeatLabStd:
			v = append(v, d.StdLab[:]...)
			names = append(names, "std_L", "std_a", "std_b")
		case FeatShape:
			el := 0.0
			if d.Hu[0] > 0 {
				el = math.Sqrt(math.Max(d.Hu[1], 0)) / d.Hu[0]
			}
			v = append(v, d.Hu[0], el)
			names = append(names, "hu1", "elongation")
		case FeatPosition:
			v = append(v, d.Center[:]...)
			names = append(names, "center_x", "center_y")
		default:
			return nil, nil, fmt.Errorf("pseudolabel: unknown feature %q; use %s, %s, %s, %s or %s", f, FeatLogArea, FeatLab, FeatLabStd, FeatShape, FeatPosition)
		}
	}
	return v, names, nil
}

// Standardize z-scores every column of x in place of a copy: (v − mean) /
// std with the population std over all rows; a constant column gets std 1
// (it becomes all zeros). On standardised columns Euclidean distances
// count in "standard deviations of the whole component population", so a
// MeanShift bandwidth of about 1.5 (DefaultBandwidth) separates part kinds
// that differ clearly in one feature or moderately in several.
func Standardize(x [][]float64) (z [][]float64, mean, std []float64, err error) {
	if len(x) == 0 {
		return nil, nil, nil, fmt.Errorf("pseudolabel: no feature rows to standardise")
	}
	d := len(x[0])
	mean, std = make([]float64, d), make([]float64, d)
	for i, row := range x {
		if len(row) != d {
			return nil, nil, nil, fmt.Errorf("pseudolabel: feature row %d has %d columns, row 0 has %d", i, len(row), d)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, nil, fmt.Errorf("pseudolabel: feature row %d column %d is %v", i, j, v)
			}
			mean[j] += v
		}
	}
	n := float64(len(x))
	for j := range mean {
		mean[j] /= n
	}
	for _, row := range x {
		for j, v := range row {
			std[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / n)
		if std[j] < 1e-12 {
			std[j] = 1
		}
	}
	z = make([][]float64, len(x))
	for i, row := range x {
		z[i] = make([]float64, d)
		for j, v := range row {
			z[i][j] = (v - mean[j]) / std[j]
		}
	}
	return z, mean, std, nil
}
