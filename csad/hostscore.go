package csad

import (
	"fmt"
	"image"

	"github.com/csad-go/csad/ortscore"
)

// scoreHost runs a preprocessed batch on the model's runner and fills the Results as collect
// does for LibTorch's outputs.
func (m *Model) scoreHost(buf []float32, imgs []image.Image) ([]*Result, []error, error) {
	o, err := m.rt.run(buf, len(imgs))
	if err != nil {
		return nil, nil, err
	}
	side := int(m.header.Config.FeatureSize)
	mm := side * side
	seg := len(o.labels) / len(imgs)
	rs := make([]*Result, len(imgs))
	errs := make([]error, len(imgs))
	for i, img := range imgs {
		b := img.Bounds()
		w, h := b.Dx(), b.Dy()
		local, global := o.local[i*mm:(i+1)*mm:(i+1)*mm], o.global[i*mm:(i+1)*mm:(i+1)*mm] // capped: see collect
		combined := make([]float32, mm)
		for j := range combined {
			combined[j] = local[j] + global[j]
		}
		labels := make([]uint8, seg)
		for j, l := range o.labels[i*seg : (i+1)*seg] {
			if l < 0 || l > 255 {
				return nil, nil, fmt.Errorf("csad: %s backend returned class %d", m.opts.Backend, l)
			}
			labels[j] = uint8(l)
		}
		amap, err := resizeBilinear(combined, side, side, w, h)
		if err != nil {
			return nil, nil, fmt.Errorf("csad: anomaly map: %w", err)
		}
		r := &Result{
			Score: float64(o.score[i]), LGST: float64(o.lgst[i]), PatchHist: float64(o.patchHist[i]),
			Local: local, Global: global, MapSide: side,
			AnomalyMap: amap, Width: w, Height: h,
			Segmentation: labels,
		}
		if !finite(r.Score) || !finite(r.LGST) || !finite(r.PatchHist) {
			errs[i] = ErrNonFinite
		}
		if m.header.Threshold != nil {
			r.Anomalous = r.Score > *m.header.Threshold
		}
		rs[i] = r
	}
	return rs, errs, nil
}

// resizeBilinear resizes a w0×h0 map to w×h as LibTorch's bilinear interpolation
// (align_corners false) does, bit for bit (ortscore.Resize), the one the torch backend uses.
func resizeBilinear(src []float32, w0, h0, w, h int) ([]float32, error) {
	return ortscore.Resize(src, w0, h0, w, h)
}
