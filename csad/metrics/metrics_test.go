package metrics

import (
	"errors"
	"math"
	"testing"
)

func TestAUROCEdgeCases(t *testing.T) {
	if _, err := AUROC([]float64{1, 2}, []int{0, 0}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: err %v, want ErrOneClass", err)
	}
	if _, err := AUROC([]float64{1, 2}, []int{0, 2}); err == nil {
		t.Error("label 2 accepted")
	}
	if _, err := AUROC([]float64{1}, []int{0, 1}); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := AUROCSplit([]float64{math.NaN()}, []float64{1}); err == nil {
		t.Error("NaN accepted")
	}
	// Two ties of the four pairs: (2 + 2×0.5)/4.
	got, err := AUROCSplit([]float64{1, 2}, []float64{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got != 0.875 {
		t.Errorf("tie case: %v, want 0.875", got)
	}
}

func TestROCCurve(t *testing.T) {
	fpr, tpr := ROCCurve([]float64{0, 1}, []float64{1, 2})
	wantF := []float64{0, 0, 0.5, 1}
	wantT := []float64{0, 0.5, 1, 1}
	for i := range wantF {
		if fpr[i] != wantF[i] || tpr[i] != wantT[i] {
			t.Fatalf("ROC %v %v, want %v %v", fpr, tpr, wantF, wantT)
		}
	}
}

// square returns a w×h mask with the rectangle [x0,x1)×[y0,y1) set.
func square(w, h, x0, y0, x1, y1 int) []bool {
	m := make([]bool, w*h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m[y*w+x] = true
		}
	}
	return m
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func checkAUsPRO(t *testing.T, name string, ims []Image, want []float64) {
	t.Helper()
	got, err := AUsPRO(ims, nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for i, l := range DefaultLimits {
		if !near(got[i], want[i]) {
			t.Errorf("%s: AU-sPRO@%v = %.15g, want %.15g", name, l, got[i], want[i])
		}
	}
}

func all(v float64) []float64 { return []float64{v, v, v, v, v} }

func TestAUsPROPerfect(t *testing.T) {
	// A map that is 1 exactly on the defect and 0 elsewhere: the curve jumps
	// to sPRO 1 at FPR 0, so every normalised area is 1.
	const w, h = 10, 10
	m := square(w, h, 2, 2, 6, 5)
	mp := make([]float32, w*h)
	for i, b := range m {
		if b {
			mp[i] = 1
		}
	}
	good := Image{Width: w, Height: h, Map: make([]float32, w*h)}
	bad := Image{Width: w, Height: h, Map: mp, Channels: []Channel{{Mask: m, SaturationThreshold: 1, RelativeSaturation: true}}}
	checkAUsPRO(t, "perfect", []Image{bad, good}, all(1))
}

func TestAUsPROConstant(t *testing.T) {
	// A constant map has one threshold step: the curve goes straight from
	// (0,0) to (1,1), sPRO = FPR. The area up to limit l is l²/2, divided by
	// l gives l/2 (the official linear interpolation at l is exact on a
	// straight line).
	const w, h = 8, 6
	bad := Image{Width: w, Height: h, Map: make([]float32, w*h),
		Channels: []Channel{{Mask: square(w, h, 1, 1, 4, 4), SaturationThreshold: 5}}}
	want := make([]float64, len(DefaultLimits))
	for i, l := range DefaultLimits {
		want[i] = l / 2
	}
	checkAUsPRO(t, "constant", []Image{bad}, want)
}

// topDefect builds a 20×20 image with a 10×10 defect whose first k pixels
// (row-major) score 2, the rest of the defect 0, and all other pixels 1.
func topDefect(k int, thr float64, rel bool) Image {
	const w, h = 20, 20
	m := square(w, h, 0, 0, 10, 10)
	mp := make([]float32, w*h)
	n := 0
	for i, b := range m {
		switch {
		case !b:
			mp[i] = 1
		case n < k:
			mp[i] = 2
			n++
		}
	}
	return Image{Width: w, Height: h, Map: mp, Channels: []Channel{{Mask: m, SaturationThreshold: thr, RelativeSaturation: rel}}}
}

func TestAUsPROSaturation(t *testing.T) {
	// 25 of the 100 defect pixels score above every defect-free pixel.
	// Saturated at 25 pixels, they already give sPRO 1 at FPR 0: area 1.
	checkAUsPRO(t, "absolute 25", []Image{topDefect(25, 25, false)}, all(1))
	// A threshold above the defect area is capped at the area (100): sPRO
	// is 0.25 from FPR 0 to FPR 1, then jumps to 1 at FPR 1, which adds no
	// area: 0.25 for every limit.
	checkAUsPRO(t, "absolute capped", []Image{topDefect(25, 500, false)}, all(0.25))
	// Relative 0.5 of 100 pixels saturates at 50: sPRO 25/50 = 0.5.
	checkAUsPRO(t, "relative 0.5", []Image{topDefect(25, 0.5, true)}, all(0.5))
	// Relative 0.3: 0.3×100 is 30.000000000000004 in float64, truncated by
	// the official int() to 30: sPRO 25/30.
	checkAUsPRO(t, "relative 0.3", []Image{topDefect(25, 0.3, true)}, all(25.0/30))
}

func TestAUsPROGoodImageFalsePositives(t *testing.T) {
	// Anomalous 10×10 image: 20 defect pixels at 2, 80 free pixels at 0.
	// Good 10×10 image: 10 pixels at 3, 90 at 0. Negatives: 180.
	// Curve: (0,0) → (10/180, 0) → (10/180, 1) → (1,1). Area up to l ≥
	// 1/18 is (l − 1/18); below it 0.
	const w, h = 10, 10
	m := square(w, h, 0, 0, 10, 2)
	mp := make([]float32, w*h)
	for i, b := range m {
		if b {
			mp[i] = 2
		}
	}
	gm := make([]float32, w*h)
	for i := 0; i < 10; i++ {
		gm[i] = 3
	}
	ims := []Image{
		{Width: w, Height: h, Map: mp, Channels: []Channel{{Mask: m, SaturationThreshold: 1, RelativeSaturation: true}}},
		{Width: w, Height: h, Map: gm},
	}
	want := make([]float64, len(DefaultLimits))
	for i, l := range DefaultLimits {
		want[i] = math.Max(0, l-1.0/18) / l
	}
	checkAUsPRO(t, "good image", ims, want)
}

func TestAUsPROTwoChannelsMean(t *testing.T) {
	// Two defects in one image, one found perfectly (score 2), one missed
	// (score 0 like the background): the mean sPRO is 0.5 at FPR 0; the
	// missed defect enters together with every background pixel, so the
	// curve then runs straight to (1,1): y = 0.5 + 0.5x. Area up to l is
	// 0.5l + 0.25l², normalised 0.5 + 0.25l.
	const w, h = 10, 10
	a := square(w, h, 0, 0, 3, 3)
	b := square(w, h, 6, 6, 9, 9)
	mp := make([]float32, w*h)
	for i, v := range a {
		if v {
			mp[i] = 2
		}
	}
	want := make([]float64, len(DefaultLimits))
	for i, l := range DefaultLimits {
		want[i] = 0.5 + 0.25*l
	}
	ch := func(m []bool) Channel { return Channel{Mask: m, SaturationThreshold: 1, RelativeSaturation: true} }
	checkAUsPRO(t, "two channels", []Image{{Width: w, Height: h, Map: mp, Channels: []Channel{ch(a), ch(b)}}}, want)
}

func TestAUsPROErrors(t *testing.T) {
	if _, err := AUsPRO([]Image{{Width: 2, Height: 2, Map: make([]float32, 4)}}, nil); !errors.Is(err, ErrNoDefects) {
		t.Errorf("no defects: %v", err)
	}
	full := []bool{true, true, true, true}
	im := Image{Width: 2, Height: 2, Map: make([]float32, 4), Channels: []Channel{{Mask: full, SaturationThreshold: 1, RelativeSaturation: true}}}
	if _, err := AUsPRO([]Image{im}, nil); !errors.Is(err, ErrNoNegatives) {
		t.Errorf("no negatives: %v", err)
	}
	if _, err := AUsPRO([]Image{{Width: 2, Height: 2, Map: make([]float32, 3)}}, nil); err == nil {
		t.Error("size mismatch accepted")
	}
}

func TestTrapzInterpolation(t *testing.T) {
	// y = x on [0,1] sampled at 0, 0.5, 1: the area up to 0.2 is
	// interpolated to 0.02 exactly as the official trapz does.
	x := []float64{0, 0.5, 1}
	if got := trapzUpTo(x, x, 0.2); !near(got, 0.02) {
		t.Errorf("trapz to 0.2: %v", got)
	}
	if got := trapzUpTo(x, x, 0.5); !near(got, 0.125) {
		t.Errorf("trapz to 0.5: %v", got)
	}
}

func TestLimitKey(t *testing.T) {
	for l, want := range map[float64]string{0.01: "0.01", 0.05: "0.05", 0.1: "0.1", 0.3: "0.3", 1: "1.0"} {
		if got := LimitKey(l); got != want {
			t.Errorf("LimitKey(%v) = %q, want %q", l, got, want)
		}
	}
}
