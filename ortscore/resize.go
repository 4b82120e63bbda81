package ortscore

import (
	"fmt"
	"math"
)

// maxResizeValues caps Resize's output (and its input) at 1<<30 values (4 GiB of float32), far
// beyond any image imageproc decodes, so that a caller's size arithmetic gone wrong is an error,
// not an allocation that takes the machine down.
const maxResizeValues = 1 << 30

// Resize resizes a row-major srcW×srcH float32 map to dstW×dstH with the bilinear interpolation
// of LibTorch 1.13's F.interpolate(mode="bilinear", align_corners=False) on a (1, 1, H, W)
// tensor, bit for bit (testdata/gen_ortscore_golden.py). That is how csad.Model's backends
// resize Local+Global to the image, so Result.AnomalyMap equals theirs.
//
// A (1, 1, H, W) tensor is also channels-last contiguous, so LibTorch runs its channels-last
// kernel, cpu_upsample_linear_channels_last, and three of its roundings decide the last bits:
//   - the scale is in/out in float32 (area_pixel_compute_scale);
//   - the source coordinate scale·(dst+0.5)−0.5 (clamped at 0) and its distance from the tap
//     below are computed in float64, acc_type<float> on the CPU, and the distance is then
//     rounded to a float32 weight (compute_source_index_and_lambda in 1.13's
//     ATen/native/UpSample.h, which Debian's libtorch-dev installs);
//   - the four corner weights are float32 products hλ·wλ, and the four weighted values are
//     summed in float64 and rounded once. This last one was found by experiment: of the
//     orderings and precisions tried (float32 left to right, with FMAs, separable rows then
//     columns), only this one matches every value.
//
// The straightforward version (float64 scale and coordinates, float32 two-tap blends) is up to
// 8.8e-6 off on the golden's standard-normal maps; this one has no difference at all on its
// twelve cases, built for GOAMD64 v1 or v3 (where Go may fuse multiply-adds).
func Resize(src []float32, srcW, srcH, dstW, dstH int) ([]float32, error) {
	switch {
	case srcW <= 0 || srcH <= 0 || dstW <= 0 || dstH <= 0:
		return nil, fmt.Errorf("ortscore: resize %d×%d to %d×%d: every side must be positive", srcW, srcH, dstW, dstH)
	case srcW > maxResizeValues/srcH || dstW > maxResizeValues/dstH:
		return nil, fmt.Errorf("ortscore: resize %d×%d to %d×%d: more than %d values", srcW, srcH, dstW, dstH, maxResizeValues)
	case len(src) != srcW*srcH:
		return nil, fmt.Errorf("ortscore: resize: %d values for a %d×%d map", len(src), srcW, srcH)
	}
	ys := taps(srcH, dstH)
	xs := taps(srcW, dstW)
	out := make([]float32, dstW*dstH)
	for y, ty := range ys {
		r0, r1 := src[ty.i0*srcW:(ty.i0+1)*srcW], src[ty.i1*srcW:(ty.i1+1)*srcW]
		row := out[y*dstW : (y+1)*dstW]
		for x, tx := range xs {
			// float32() around each weight and float64() around each product keep the compiler
			// from fusing them into FMAs that would round differently (Go spec, "Floating-point
			// operators"); a float32×float32 product is exact in float64 anyway.
			w00 := float64(float32(ty.l0 * tx.l0))
			w01 := float64(float32(ty.l0 * tx.l1))
			w10 := float64(float32(ty.l1 * tx.l0))
			w11 := float64(float32(ty.l1 * tx.l1))
			v := float64(float64(r0[tx.i0])*w00) + float64(float64(r0[tx.i1])*w01)
			v = float64(v + float64(float64(r1[tx.i0])*w10))
			row[x] = float32(v + float64(float64(r1[tx.i1])*w11))
		}
	}
	return out, nil
}

// tap is one output coordinate's two source indices and their weights.
type tap struct {
	i0, i1 int
	l0, l1 float32
}

// taps computes the source taps along one axis as LibTorch does (see Resize).
func taps(in, out int) []tap {
	ts := make([]tap, out)
	if in == out {
		// LibTorch copies when the sizes agree; its formula would give the same indices, but
		// the special case is what it runs.
		for i := range ts {
			ts[i] = tap{i0: i, i1: i, l0: 1}
		}
		return ts
	}
	scale := float32(in) / float32(out)
	for i := range ts {
		src := float64(float64(scale)*(float64(i)+0.5)) - 0.5
		if src < 0 {
			src = 0
		}
		// src ≥ 0, so truncation is floor, as static_cast<int64_t>; src < in−½ always, and the
		// clamp only guards the slice bounds.
		i0 := min(int(src), in-1)
		i1 := i0
		if i0 < in-1 {
			i1++
		}
		l1 := float32(src - float64(i0))
		ts[i] = tap{i0: i0, i1: i1, l0: 1 - l1, l1: l1}
	}
	return ts
}

// finite reports whether v is neither NaN nor ±Inf.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
