package cluster

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The golden files are written by testdata/gen_cluster_golden.py (NumPy
// 1.24, scikit-learn 1.2, and testdata/hdbscan_ref.py for HDBSCAN).
func loadGolden(t *testing.T, name string, v any) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "golden", name)
	b, err := os.ReadFile(path)
	require.NoError(t, err, "regenerate with: /usr/bin/python3 testdata/gen_cluster_golden.py")
	require.NoError(t, json.Unmarshal(b, v), path)
}

// maxAbs is the largest |entry| of a matrix, the scale of its tolerance.
func maxAbs(m [][]float64) float64 {
	s := 0.0
	for _, r := range m {
		for _, v := range r {
			s = math.Max(s, math.Abs(v))
		}
	}
	return s
}

// maxDiff is the largest entrywise |a−b|; the shapes must agree.
func maxDiff(t *testing.T, a, b [][]float64) float64 {
	t.Helper()
	require.Len(t, a, len(b))
	s := 0.0
	for i := range a {
		require.Len(t, a[i], len(b[i]), "row %d", i)
		for j := range a[i] {
			s = math.Max(s, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return s
}

// TestMeanShiftGolden: labels identical to scikit-learn's MeanShift, centres
// within 1e-12 (absolute; coordinates are O(1)–O(10)); the float32 case within
// 1e-5, since float32 sums taken in scikit-learn's KD-tree order differ from
// ours in the last float32 bits (2^-24 ≈ 6e-8 relative).
func TestMeanShiftGolden(t *testing.T) {
	var g struct {
		Cases []struct {
			Name       string      `json:"name"`
			X          [][]float64 `json:"x"`
			Bandwidth  float64     `json:"bandwidth"`
			ClusterAll bool        `json:"cluster_all"`
			Float32    bool        `json:"float32"`
			Labels     []int       `json:"labels"`
			Centers    [][]float64 `json:"centers"`
		} `json:"cases"`
	}
	loadGolden(t, "cluster_meanshift.json", &g)
	require.GreaterOrEqual(t, len(g.Cases), 4)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			labels, centers, err := MeanShift(c.X, MeanShiftOptions{Bandwidth: c.Bandwidth, ClusterAll: c.ClusterAll, Float32: c.Float32})
			require.NoError(t, err)
			assert.Equal(t, c.Labels, labels)
			tol := 1e-12
			if c.Float32 {
				tol = 1e-5
			}
			diff := maxDiff(t, c.Centers, centers)
			t.Logf("%d centres, max |Δcentre| = %.3g", len(centers), diff)
			assert.LessOrEqual(t, diff, tol)
		})
	}
}

func TestLinalgGolden(t *testing.T) {
	var g struct {
		Matrices []struct {
			Name    string      `json:"name"`
			X       [][]float64 `json:"x"`
			Cov     [][]float64 `json:"cov"`
			PinvCov [][]float64 `json:"pinv_cov"`
			PinvX   [][]float64 `json:"pinv_x"`
			Rank    int         `json:"rank_cov"`
		} `json:"matrices"`
		Stats []struct {
			Name        string    `json:"name"`
			V           []float64 `json:"v"`
			Q           []float64 `json:"q"`
			Quantile    []float64 `json:"quantile"`
			TrimmedMean *float64  `json:"trimmed_mean"`
			TrimmedStd  *float64  `json:"trimmed_std"`
		} `json:"stats"`
		Argsort []struct {
			V        []float64 `json:"v"`
			Argsort  []int     `json:"argsort"`
			Heapsort []int     `json:"heapsort"`
		} `json:"argsort"`
	}
	loadGolden(t, "cluster_linalg.json", &g)

	// Covariance and Pinv vs numpy.cov / numpy.linalg.pinv: 1e-12 relative
	// to the largest entry of NumPy's result (both are float64; they differ
	// in BLAS summation order and in the SVD routine).
	t.Run("matrices", func(t *testing.T) {
		require.NotEmpty(t, g.Matrices)
		for _, m := range g.Matrices {
			cov := Covariance(m.X)
			require.NotNil(t, cov, m.Name)
			dc := maxDiff(t, m.Cov, cov) / maxAbs(m.Cov)
			assert.LessOrEqual(t, dc, 1e-12, "%s: cov", m.Name)
			// Pinv of NumPy's covariance, so the two SVDs see the same matrix.
			pc, err := Pinv(m.Cov)
			require.NoError(t, err, m.Name)
			dp := maxDiff(t, m.PinvCov, pc) / maxAbs(m.PinvCov)
			assert.LessOrEqual(t, dp, 1e-12, "%s: pinv(cov) (rank %d)", m.Name, m.Rank)
			px, err := Pinv(m.X)
			require.NoError(t, err, m.Name)
			dx := maxDiff(t, m.PinvX, px) / maxAbs(m.PinvX)
			assert.LessOrEqual(t, dx, 1e-12, "%s: pinv(x)", m.Name)
			t.Logf("%s: relative max error cov %.2g, pinv(cov) %.2g, pinv(x) %.2g", m.Name, dc, dp, dx)
		}
	})

	// Quantile and TrimmedStats vs NumPy: bitwise.
	t.Run("stats", func(t *testing.T) {
		require.NotEmpty(t, g.Stats)
		for _, s := range g.Stats {
			for i, q := range s.Q {
				assert.Equal(t, s.Quantile[i], Quantile(s.V, q), "%s: quantile(%v)", s.Name, q)
			}
			if s.TrimmedMean == nil {
				continue
			}
			m, sd, err := TrimmedStats(s.V)
			require.NoError(t, err, s.Name)
			assert.Equal(t, *s.TrimmedMean, m, "%s: mean", s.Name)
			assert.Equal(t, *s.TrimmedStd, sd, "%s: std", s.Name)
		}
	})

	// numpyArgsort vs np.argsort on arrays full of ties, and its heapsort
	// fallback vs np.argsort(kind="heapsort"): identical permutations.
	t.Run("argsort", func(t *testing.T) {
		require.NotEmpty(t, g.Argsort)
		for _, a := range g.Argsort {
			assert.Equal(t, a.Argsort, numpyArgsort(a.V), "n=%d", len(a.V))
			h := make([]int, len(a.V))
			for i := range h {
				h[i] = i
			}
			numpyAHeapsort(a.V, h)
			assert.Equal(t, a.Heapsort, h, "heapsort n=%d", len(a.V))
		}
	})
}

// TestHDBSCANGolden: labels identical to testdata/hdbscan_ref.py.
func TestHDBSCANGolden(t *testing.T) {
	var g struct {
		Cases []struct {
			Name   string      `json:"name"`
			X      [][]float64 `json:"x"`
			MCS    int         `json:"min_cluster_size"`
			MS     int         `json:"min_samples"`
			Single bool        `json:"allow_single_cluster"`
			Labels []int       `json:"labels"`
		} `json:"cases"`
	}
	loadGolden(t, "cluster_hdbscan.json", &g)
	require.GreaterOrEqual(t, len(g.Cases), 3)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			labels, err := HDBSCAN(c.X, HDBSCANOptions{MinClusterSize: c.MCS, MinSamples: c.MS, AllowSingleCluster: c.Single})
			require.NoError(t, err)
			assert.Equal(t, c.Labels, labels)
		})
	}
}

// TestFilterHistogramsGolden: every field identical to the Python
// re-statement of §5.6 in gen_cluster_golden.py.
func TestFilterHistogramsGolden(t *testing.T) {
	var g struct {
		Cases []struct {
			Name       string      `json:"name"`
			Hist       [][]float64 `json:"hist"`
			FilterHist bool        `json:"filter_hist"`
			KeepDup    bool        `json:"keep_duplicates"`
			Good       []int       `json:"good"`
			Kept       []int       `json:"kept"`
			Largest    []int       `json:"largest"`
			MCS        int         `json:"min_cluster_size"`
			Labels     []int       `json:"hdbscan_labels"`
		} `json:"cases"`
	}
	loadGolden(t, "cluster_filter.json", &g)
	require.NotEmpty(t, g.Cases)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r, err := FilterHistograms(c.Hist, c.FilterHist, FilterOptions{KeepDuplicates: c.KeepDup})
			require.NoError(t, err)
			assert.Equal(t, c.MCS, r.MinClusterSize)
			assert.Equal(t, c.Labels, r.HDBSCANLabels)
			assert.Equal(t, c.Largest, r.LargestCluster)
			assert.Equal(t, c.Good, r.GoodIndices)
			assert.Equal(t, c.Kept, r.KeptClasses)
		})
	}
}
