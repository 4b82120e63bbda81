package cluster

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blobs returns n points per centre, uniform in a square of half-width r
// around it, from a seeded PCG source.
func blobs(seed uint64, r float64, n int, centres ...[]float64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var x [][]float64
	for _, c := range centres {
		for range n {
			p := make([]float64, len(c))
			for k, v := range c {
				p[k] = v + r*(2*rng.Float64()-1)
			}
			x = append(x, p)
		}
	}
	return x
}

// TestMeanShiftHand: in 1-D with bandwidth 1, {0, 0.1, 0.2} and {10, 10.1}
// are two modes; the three-point mode comes first (larger count), and the
// centres are the plain means.
func TestMeanShiftHand(t *testing.T) {
	x := [][]float64{{10}, {0}, {0.1}, {10.1}, {0.2}}
	labels, centers, err := MeanShift(x, MeanShiftOptions{Bandwidth: 1, ClusterAll: true})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 0, 0, 1, 0}, labels)
	require.Len(t, centers, 2)
	assert.InDelta(t, 0.1, centers[0][0], 1e-15)
	assert.InDelta(t, 10.05, centers[1][0], 1e-15)
}

// TestMeanShiftTieOrder: two modes of equal count are ordered by their
// coordinates, descending (scikit-learn sorts (count, centre) in reverse).
func TestMeanShiftTieOrder(t *testing.T) {
	x := [][]float64{{-5, 0}, {-5, 0.5}, {5, 0}, {5, 0.5}}
	labels, centers, err := MeanShift(x, MeanShiftOptions{Bandwidth: 1, ClusterAll: true})
	require.NoError(t, err)
	assert.Equal(t, [][]float64{{5, 0.25}, {-5, 0.25}}, centers)
	assert.Equal(t, []int{1, 1, 0, 0}, labels)
}

// TestMeanShiftNotClusterAll: a point whose climb joins a mode farther than
// the bandwidth away is labelled -1 only without ClusterAll.
func TestMeanShiftNotClusterAll(t *testing.T) {
	// The lone point at 1.6 sees 0.7..1.0 within bandwidth 1, climbs to
	// the mode near 0.45 and ends 1.15 away from it.
	x := [][]float64{{0}, {0.1}, {0.2}, {0.3}, {0.4}, {0.5}, {0.6}, {0.7}, {0.8}, {0.9}, {1.0}, {1.6}}
	l, c, err := MeanShift(x, MeanShiftOptions{Bandwidth: 1})
	require.NoError(t, err)
	require.Len(t, c, 1)
	assert.Equal(t, -1, l[11])
	assert.NotContains(t, l[:11], -1)
	l, _, err = MeanShift(x, MeanShiftOptions{Bandwidth: 1, ClusterAll: true})
	require.NoError(t, err)
	assert.Equal(t, 0, l[11])
}

// TestMeanShiftWorkers: the result does not depend on GOMAXPROCS.
func TestMeanShiftWorkers(t *testing.T) {
	x := blobs(3, 1, 40, []float64{0, 0, 0}, []float64{4, 0, 1}, []float64{0, 5, 2})
	l1, c1, err := MeanShift(x, MeanShiftOptions{Bandwidth: 1.5, ClusterAll: true})
	require.NoError(t, err)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	l2, c2, err := MeanShift(x, MeanShiftOptions{Bandwidth: 1.5, ClusterAll: true})
	require.NoError(t, err)
	assert.Equal(t, l1, l2)
	assert.Equal(t, c1, c2)
	assert.Len(t, c1, 3)
}

// TestHDBSCANHand: two tight well-separated blobs plus outliers farther from
// both than the blobs are from each other give two clusters, the blob that
// contains sample 0 first (its cluster id is lower), and -1 for outliers.
func TestHDBSCANHand(t *testing.T) {
	x := blobs(5, 0.2, 15, []float64{0, 0}, []float64{5, 0})
	x = append(x, []float64{2.5, 30}, []float64{-30, 1}, []float64{35, -2})
	labels, err := HDBSCAN(x, HDBSCANOptions{MinClusterSize: 5})
	require.NoError(t, err)
	want := make([]int, 33)
	for i := 15; i < 30; i++ {
		want[i] = 1
	}
	want[30], want[31], want[32] = -1, -1, -1
	// Which blob gets 0 depends on the tree's left/right order; the
	// partition must be exact either way.
	if labels[0] == 1 {
		for i := range 30 {
			want[i] = 1 - want[i]
		}
	}
	assert.Equal(t, want, labels)
}

// TestHDBSCANSingleBlob: one uniform blob has no two clusters of 10, so all
// noise; AllowSingleCluster makes the root the cluster.
func TestHDBSCANSingleBlob(t *testing.T) {
	x := blobs(9, 1, 40, []float64{0, 0, 0})
	labels, err := HDBSCAN(x, HDBSCANOptions{MinClusterSize: 20})
	require.NoError(t, err)
	for _, l := range labels {
		require.Equal(t, -1, l)
	}
	labels, err = HDBSCAN(x, HDBSCANOptions{MinClusterSize: 20, AllowSingleCluster: true})
	require.NoError(t, err)
	n0 := 0
	for _, l := range labels {
		require.Contains(t, []int{-1, 0}, l)
		if l == 0 {
			n0++
		}
	}
	assert.Positive(t, n0)
}

// TestHDBSCANDuplicates: identical points (zero distances, infinite lambda)
// still cluster.
func TestHDBSCANDuplicates(t *testing.T) {
	var x [][]float64
	for range 6 {
		x = append(x, []float64{0, 0})
	}
	for range 6 {
		x = append(x, []float64{9, 9})
	}
	labels, err := HDBSCAN(x, HDBSCANOptions{MinClusterSize: 3})
	require.NoError(t, err)
	assert.Equal(t, []int{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}, labels)
}

// TestPinvHand: the pseudo-inverse of diag(2, 0) is diag(0.5, 0); of an
// all-zero matrix, zero (NumPy's cutoff 1e-15·max(s) is then 0).
func TestPinvHand(t *testing.T) {
	p, err := Pinv([][]float64{{2, 0}, {0, 0}})
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float64{0.5, 0}, p[0], 1e-15)
	assert.InDeltaSlice(t, []float64{0, 0}, p[1], 1e-15)
	p, err = Pinv([][]float64{{0, 0, 0}, {0, 0, 0}})
	require.NoError(t, err)
	assert.Equal(t, [][]float64{{0, 0}, {0, 0}, {0, 0}}, p)
}

// TestCovarianceHand: two samples (0,0) and (2,4): variances 2 and 8,
// covariance 4 (ddof 1).
func TestCovarianceHand(t *testing.T) {
	assert.Equal(t, [][]float64{{2, 4}, {4, 8}}, Covariance([][]float64{{0, 0}, {2, 4}}))
}

// TestQuantileHand: NumPy's linear rule on 1..5.
func TestQuantileHand(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	assert.Equal(t, 1.8, Quantile(v, 0.2))
	assert.Equal(t, 3.0, Quantile(v, 0.5))
	assert.Equal(t, 5.0, Quantile(v, 1))
	assert.True(t, math.IsNaN(Quantile(nil, 0.5)))
	assert.True(t, math.IsNaN(Quantile(v, 1.5)))
	assert.True(t, math.IsNaN(Quantile([]float64{1, math.NaN()}, 0.5)))
	m, s, err := TrimmedStats(v) // keeps 2, 3, 4 (strictly inside 1.8..4.2)
	require.NoError(t, err)
	assert.Equal(t, 3.0, m)
	assert.InDelta(t, math.Sqrt(2.0/3), s, 1e-15)
}

func TestFilterHistogramsErrors(t *testing.T) {
	// 19 images: int(0.1·19) = 1 < 2.
	h := make([][]float64, 19)
	for i := range h {
		h[i] = []float64{0, 0.1 * float64(i%3)}
	}
	_, err := FilterHistograms(h, true, FilterOptions{})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "at least 20 images")
	// 20 identical images: one blob, no two clusters of 2 (the duplicates
	// all leave together at lambda = inf), so all noise down to 2.
	h = make([][]float64, 20)
	for i := range h {
		h[i] = []float64{0, 0.5, 0.25}
	}
	_, err = FilterHistograms(h, true, FilterOptions{})
	require.ErrorIs(t, err, ErrNoCluster)
	assert.Contains(t, err.Error(), "noise")
}

func TestBadInput(t *testing.T) {
	ok := [][]float64{{0, 1}, {1, 0}, {1, 1}}
	nan := [][]float64{{0, 1}, {math.NaN(), 0}}
	inf := [][]float64{{0, 1}, {math.Inf(1), 0}}
	ragged := [][]float64{{0, 1}, {1}}
	empty := [][]float64{}
	emptyRow := [][]float64{{}, {}}
	ms := func(x [][]float64, bw float64) error {
		_, _, err := MeanShift(x, MeanShiftOptions{Bandwidth: bw})
		return err
	}
	hd := func(x [][]float64, mcs, minS int) error {
		_, err := HDBSCAN(x, HDBSCANOptions{MinClusterSize: mcs, MinSamples: minS})
		return err
	}
	pinv := func(x [][]float64) error { _, err := Pinv(x); return err }
	cov := func(x [][]float64) error { _, err := Cov(x); return err }
	cases := []struct {
		name, want string
		err        error
	}{
		{"meanshift empty", "no rows", ms(empty, 1)},
		{"meanshift empty row", "row 0 is empty", ms(emptyRow, 1)},
		{"meanshift ragged", "row 1 has 1 values", ms(ragged, 1)},
		{"meanshift nan", "x[1][0] is NaN", ms(nan, 1)},
		{"meanshift inf", "x[1][0] is +Inf", ms(inf, 1)},
		{"meanshift bandwidth 0", "bandwidth 0 must be positive", ms(ok, 0)},
		{"meanshift bandwidth <0", "bandwidth -1 must be positive", ms(ok, -1)},
		{"meanshift bandwidth NaN", "bandwidth NaN", ms(ok, math.NaN())},
		{"meanshift maxiter", "negative", func() error {
			_, _, err := MeanShift(ok, MeanShiftOptions{Bandwidth: 1, MaxIter: -1})
			return err
		}()},
		{"hdbscan empty", "no rows", hd(empty, 2, 0)},
		{"hdbscan ragged", "row 1 has 1 values", hd(ragged, 2, 0)},
		{"hdbscan nan", "is NaN", hd(nan, 2, 0)},
		{"hdbscan mcs", "at least 2", hd(ok, 1, 0)},
		{"hdbscan min samples", "at most the number of samples 3", hd(ok, 2, 4)},
		{"hdbscan negative min samples", "negative", hd(ok, 2, -1)},
		{"hdbscan one sample", "at least 2", hd([][]float64{{1}}, 2, 1)},
		{"pinv empty", "no rows", pinv(empty)},
		{"pinv nan", "is NaN", pinv(nan)},
		{"cov ragged", "row 1 has 1 values", cov(ragged)},
		{"cov one sample", "at least 2", cov([][]float64{{1, 2}})},
		{"trimmed empty", "no values", func() error { _, _, err := TrimmedStats(nil); return err }()},
		{"trimmed nan", "v[1] is NaN", func() error { _, _, err := TrimmedStats([]float64{1, math.NaN(), 2}); return err }()},
		{"trimmed too few", "strictly between", func() error { _, _, err := TrimmedStats([]float64{1, 1, 1, 1}); return err }()},
		{"filter ragged", "row 1 has 1 values", func() error { _, err := FilterHistograms(ragged, true, FilterOptions{}); return err }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Error(t, c.err)
			assert.ErrorIs(t, c.err, ErrInvalidInput)
			assert.Contains(t, c.err.Error(), c.want)
			assert.True(t, strings.HasPrefix(c.err.Error(), "cluster: "), c.err.Error())
		})
	}
	assert.Nil(t, Covariance(ragged))
}

// decodeMatrix turns fuzz bytes into a small matrix: the first byte picks the
// width (1–4), every following byte one coordinate in [-8, 8) with repeats
// likely (ties, duplicates).
func decodeMatrix(b []byte) [][]float64 {
	if len(b) < 2 {
		return nil
	}
	d := int(b[0]%4) + 1
	var x [][]float64
	for i := 1; i+d <= len(b) && len(x) < 40; i += d {
		row := make([]float64, d)
		for k := range row {
			row[k] = float64(int(b[i+k])-128) / 16
		}
		x = append(x, row)
	}
	return x
}

func FuzzMeanShift(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 1, 200, 200, 201, 199}, 1.0, true)
	f.Add([]byte{0, 5, 5, 5, 5, 5}, 0.5, false)
	f.Add([]byte{3, 1, 2, 3, 4, 5, 6, 7, 8}, 10.0, true)
	f.Fuzz(func(t *testing.T, b []byte, bw float64, all bool) {
		x := decodeMatrix(b)
		labels, centers, err := MeanShift(x, MeanShiftOptions{Bandwidth: bw, ClusterAll: all, MaxIter: 50})
		if err != nil {
			return
		}
		if len(labels) != len(x) || len(centers) == 0 {
			t.Fatalf("%d labels for %d samples, %d centres", len(labels), len(x), len(centers))
		}
		for _, l := range labels {
			if l < -1 || l >= len(centers) || (all && l < 0) {
				t.Fatalf("label %d with %d centres (cluster_all %v)", l, len(centers), all)
			}
		}
	})
}

func FuzzHDBSCAN(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 1, 0, 1, 200, 200, 201, 199, 200, 201}, uint8(2), uint8(0), false)
	f.Add([]byte{0, 5, 5, 5, 5, 5, 5, 5}, uint8(3), uint8(1), true)
	f.Fuzz(func(t *testing.T, b []byte, mcs, ms uint8, single bool) {
		x := decodeMatrix(b)
		labels, err := HDBSCAN(x, HDBSCANOptions{MinClusterSize: int(mcs % 8), MinSamples: int(ms % 8), AllowSingleCluster: single})
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(labels) != len(x) {
			t.Fatalf("%d labels for %d samples", len(labels), len(x))
		}
		seen := map[int]bool{}
		for _, l := range labels {
			if l < -1 {
				t.Fatalf("label %d", l)
			}
			seen[l] = true
		}
		for l := range seen {
			if l > 0 && !seen[l-1] {
				t.Fatalf("labels %v skip %d", labels, l-1)
			}
		}
	})
}

// BenchmarkMeanShift2000x64 is the size of a CSAD category's component set
// with 64-d features (the brief's bound): 2,000 points in 8 blobs.
func BenchmarkMeanShift2000x64(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var centres [][]float64
	for range 8 {
		c := make([]float64, 64)
		for k := range c {
			c[k] = 3 * rng.NormFloat64()
		}
		centres = append(centres, c)
	}
	x := blobs(4, 0.5, 250, centres...)
	for b.Loop() {
		_, c, err := MeanShift(x, MeanShiftOptions{Bandwidth: 3.5, ClusterAll: true})
		if err != nil || len(c) == 0 {
			b.Fatal(err, len(c))
		}
	}
}
