#!/usr/bin/python3
"""Golden values for csad/cluster.

Run with Debian's python3-sklearn / python3-numpy / python3-scipy:

    /usr/bin/python3 testdata/gen_cluster_golden.py

Writes, under testdata/golden/:

* cluster_meanshift.json: sklearn.cluster.MeanShift(bandwidth, cluster_all)
  labels_ and cluster_centers_ on small fixtures (2-D and 16-D blobs, exact
  ties between centres, one cluster, cluster_all=False, float32 input).
* cluster_linalg.json: numpy.cov(x, rowvar=False) (ddof 1) and
  numpy.linalg.pinv(a) (rcond 1e-15) on a histogram-like matrix whose
  background column is all zero, rank-deficient and rectangular matrices;
  numpy.quantile (linear) and the trimmed statistics of spec section 6.1;
  numpy.argsort (default kind, and kind="heapsort" for the introsort's
  depth-limit fallback) on arrays with many ties.
* cluster_hdbscan.json: labels from testdata/hdbscan_ref.py (scikit-learn
  1.3's HDBSCAN restated; Debian's scikit-learn 1.2 has none).
* cluster_filter.json: spec section 5.6 steps 2-5 restated below on
  per-image histograms, with the official code's duplicates kept and removed.

Every random draw comes from numpy.random.default_rng with a fixed seed.
Floats are written with repr (shortest round trip), so Go reads them exactly.
"""

import json
import os
import sys

import numpy as np
import scipy.cluster.hierarchy as sch
import sklearn
from scipy.spatial.distance import squareform
from sklearn.cluster import MeanShift

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hdbscan_ref  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def write(name, obj):
    """Write JSON atomically: a temporary file renamed over the target."""
    path = os.path.join(OUT, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def fl(a):
    return np.asarray(a, dtype=np.float64).tolist()


# --------------------------------------------------------------- MeanShift

def meanshift_case(name, x, bandwidth, cluster_all=True, float32=False):
    x = np.asarray(x, dtype=np.float32 if float32 else np.float64)
    ms = MeanShift(bandwidth=bandwidth, cluster_all=cluster_all).fit(x)
    return {
        "name": name,
        "x": fl(x),
        "bandwidth": bandwidth,
        "cluster_all": cluster_all,
        "float32": float32,
        "labels": ms.labels_.astype(int).tolist(),
        "centers": fl(ms.cluster_centers_),
    }


def meanshift_cases():
    rng = np.random.default_rng(7)
    cases = []
    # Three 2-D blobs of different sizes (KD-tree path in scikit-learn).
    x = np.vstack([
        rng.normal((0, 0), 0.4, (25, 2)),
        rng.normal((4, 1), 0.5, (20, 2)),
        rng.normal((1, 5), 0.3, (15, 2)),
    ])
    cases.append(meanshift_case("blobs_2d", x, 1.5))
    # Four 16-D blobs (brute-force path in scikit-learn: more than 15 dims).
    centers = rng.normal(0, 3, (4, 16))
    x = np.vstack([rng.normal(c, 0.6, (15 + 5 * i, 16)) for i, c in enumerate(centers)])
    rng.shuffle(x)
    cases.append(meanshift_case("blobs_16d", x, 3.5))
    # Exact ties: two mirror-image blobs (same counts, centres differing only
    # in sign) and a third blob mirrored in y, plus duplicated points. The
    # order of centres is decided by the coordinates, descending.
    base = np.round(rng.normal((3, 2), 0.5, (12, 2)) * 8) / 8
    x = np.vstack([base, base * (-1, 1), base * (1, -1), base[:3]])
    cases.append(meanshift_case("ties_mirror", x, 1.2))
    # One cluster: everything within one bandwidth.
    x = rng.normal((1, -2, 0.5), 0.2, (30, 3))
    cases.append(meanshift_case("one_cluster", x, 2.0))
    # cluster_all=False: three lone points just outside a disk climb into it,
    # so they end farther than the bandwidth from every surviving centre.
    r = 0.6 * np.sqrt(rng.uniform(0, 1, 40))
    t = rng.uniform(0, 2 * np.pi, 40)
    blob = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    ang = np.array([0.3, 2.4, 4.5])
    lone = 1.1 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    x = np.vstack([blob, lone])
    c = meanshift_case("not_cluster_all", x, 1.0, cluster_all=False)
    assert -1 in c["labels"], c["labels"]
    cases.append(c)
    c = meanshift_case("not_cluster_all_but_all", x, 1.0, cluster_all=True)
    cases.append(c)
    # float32 input (CSAD's projected features are float32): scikit-learn
    # keeps the dtype, so means are float32 arithmetic.
    x = np.vstack([
        rng.normal((0, 0, 0), 0.5, (25, 3)),
        rng.normal((3, 3, 0), 0.5, (25, 3)),
    ])
    cases.append(meanshift_case("float32_3d", x, 1.3, float32=True))
    return cases


# ------------------------------------------------- covariance, pinv, stats

def matrix_case(name, x):
    x = np.asarray(x, dtype=np.float64)
    cov = np.cov(x, rowvar=False)
    return {
        "name": name,
        "x": fl(x),
        "cov": fl(cov),
        "pinv_cov": fl(np.linalg.pinv(cov)),
        "pinv_x": fl(np.linalg.pinv(x)),
        "rank_cov": int(np.linalg.matrix_rank(cov)),
    }


def trimmed(v):
    q = np.quantile(v, 0.2)
    p = np.quantile(v, 0.8)
    t = v[(v > q) & (v < p)]
    return float(np.mean(t)), float(np.std(t))


def linalg_cases():
    rng = np.random.default_rng(11)
    mats = []
    # Histogram-like: 40 images, 6 bins, bin 0 (background) forced to 0, so
    # the covariance has an all-zero row and column.
    h = rng.dirichlet(np.ones(6) * 4, 40) * 0.7
    h[:, 0] = 0
    mats.append(matrix_case("histogram_zero_bin", h))
    # Rank-deficient: 5 samples of 8 variables, covariance of rank 4.
    mats.append(matrix_case("rank_deficient", rng.normal(0, 1, (5, 8))))
    # Well-conditioned full rank, and a duplicated column (rank 5 of 6).
    a = rng.normal(0, 1, (30, 6))
    mats.append(matrix_case("full_rank", a))
    b = a.copy()
    b[:, 5] = b[:, 2]
    mats.append(matrix_case("duplicate_column", b))
    # Wide rectangular.
    mats.append(matrix_case("wide", rng.normal(0, 2, (3, 7))))

    stats = []
    for n in [1, 2, 3, 5, 10, 37, 200, 400]:
        v = rng.gamma(2.0, 1.5, n)
        qs = [0.0, 0.2, 0.25, 0.5, 0.8, 0.9, 1.0]
        rec = {"name": f"gamma_{n}", "v": fl(v), "q": qs,
               "quantile": [float(np.quantile(v, q)) for q in qs]}
        if n >= 3:
            m, s = trimmed(v)
            rec["trimmed_mean"], rec["trimmed_std"] = m, s
        stats.append(rec)
    # Ties at the quantiles: the strict inequalities drop the tied values.
    v = np.array([1.0, 2, 2, 2, 3, 3, 4, 5, 5, 5, 6, 7, 7, 8, 9])
    m, s = trimmed(v)
    stats.append({"name": "ties", "v": fl(v), "q": [0.2, 0.8],
                  "quantile": [float(np.quantile(v, 0.2)), float(np.quantile(v, 0.8))],
                  "trimmed_mean": m, "trimmed_std": s})

    sorts = []
    for n in [10, 17, 40, 100, 500, 2000]:
        v = rng.integers(0, max(2, n // 8), n).astype(np.float64) / 4
        sorts.append({"v": fl(v), "argsort": np.argsort(v).tolist(),
                      "heapsort": np.argsort(v, kind="heapsort").tolist()})
    v = np.repeat([3.0, 1.0, 2.0], 50)  # long runs of equal keys
    sorts.append({"v": fl(v), "argsort": np.argsort(v).tolist(),
                  "heapsort": np.argsort(v, kind="heapsort").tolist()})
    return {"matrices": mats, "stats": stats, "argsort": sorts}


# ------------------------------------------------------------------ HDBSCAN

def check_ref_against_scipy(x, min_samples):
    """The single-linkage heights of the reference must equal SciPy's single
    linkage of the mutual reachability matrix (an independent check)."""
    x = np.asarray(x, dtype=np.float64)
    core = hdbscan_ref.core_distances(x, min_samples)
    d = np.array([hdbscan_ref.euclidean_rows(x, i) for i in range(len(x))])
    mr = np.maximum(np.maximum(core[:, None], core[None, :]), d)
    np.fill_diagonal(mr, 0)
    z = sch.linkage(squareform(mr, checks=False), method="single")
    hier = hdbscan_ref.single_linkage(hdbscan_ref.prim_mst(x, core), len(x))
    mine = np.array([r[2] for r in hier])
    assert np.array_equal(np.sort(mine), np.sort(z[:, 2])), "MST heights differ from SciPy"


def hdbscan_case(name, x, mcs, ms=None, single=False):
    x = np.asarray(x, dtype=np.float64)
    check_ref_against_scipy(x, ms or mcs)
    lab = hdbscan_ref.hdbscan(x, mcs, ms, single)
    return {"name": name, "x": fl(x), "min_cluster_size": mcs,
            "min_samples": ms or 0, "allow_single_cluster": single,
            "labels": lab.astype(int).tolist()}


def hdbscan_cases():
    rng = np.random.default_rng(23)
    cases = []
    x = np.vstack([
        rng.normal((0, 0), 0.3, (40, 2)),
        rng.normal((3, 0), 0.5, (30, 2)),
        rng.normal((0, 4), 0.2, (25, 2)),
        rng.uniform(-3, 7, (15, 2)),
    ])
    cases.append(hdbscan_case("blobs_noise_2d", x, 8))
    centers = rng.normal(0, 2, (3, 8))
    x = np.vstack([rng.normal(c, s, (n, 8)) for c, s, n in
                   zip(centers, [0.3, 0.6, 1.0], [50, 40, 40])])
    rng.shuffle(x)
    cases.append(hdbscan_case("density_8d_ms5", x, 10, 5))
    h = np.vstack([rng.dirichlet([8, 4, 2, 1, 1], 60), rng.dirichlet([1, 1, 2, 6, 6], 30),
                   rng.dirichlet([1, 1, 1, 1, 1], 10)])
    cases.append(hdbscan_case("histograms_5d", h, 10))
    # Integer lattice: many tied mutual reachability distances, so the order
    # of tied MST edges (NumPy's introsort) matters.
    x = rng.integers(0, 6, (70, 2)).astype(np.float64)
    x = np.vstack([x, x[:10] + 20])
    cases.append(hdbscan_case("lattice_ties", x, 5, 3))
    # One blob: with allow_single_cluster false every point is noise...
    x = rng.normal(0, 1, (40, 3))
    c = hdbscan_case("one_blob", x, 15)
    assert max(c["labels"]) == -1, c["labels"]
    cases.append(c)
    # ... and with allow_single_cluster true the root is the cluster.
    c = hdbscan_case("one_blob_single", x, 15, None, True)
    assert max(c["labels"]) == 0, c["labels"]
    cases.append(c)
    return cases


# -------------------------------------------------------- section 5.6 filter

def filter_histograms(hist, filter_hist, keep_duplicates):
    """Spec section 5.6 steps 2-5 as in pseudo_label.py's build_histogram."""
    n = len(hist)
    mcs = int(n * 0.1)
    while True:
        if mcs < 2:
            raise ValueError("min_cluster_size below 2")
        lab = hdbscan_ref.hdbscan(hist, mcs)
        if lab.max() != -1:
            break
        mcs -= 1
    k = lab.max() + 1
    sizes = np.array([np.sum(lab == i) for i in range(k)])
    largest = int(np.argmax(sizes))
    members = np.where(lab == largest)[0]
    good = []
    for i in range(k):
        mean = np.mean(hist[lab == i], axis=0)
        num_good = int(np.sum(lab == i) * 0.5)
        good.append(np.argsort(np.max(np.abs(hist - mean), axis=1))[:num_good])
    good = good[largest] if filter_hist else np.concatenate(good)
    good = np.sort(good)
    if not keep_duplicates:
        good = np.unique(good)
    kept = np.where(np.mean(hist[members], axis=0) > 0.001)[0]
    return {"good": good.tolist(), "kept": kept.tolist(),
            "largest": members.tolist(), "min_cluster_size": mcs,
            "hdbscan_labels": lab.tolist()}


def histogram_set(rng, n_a, n_b, n_out):
    """Per-image class-area fractions: two layouts plus odd images; class 0 is
    a MeanShift cluster turned into noise (all zero) and class 6 is rare."""
    a = rng.dirichlet([30, 20, 10, 10, 5], n_a)
    b = rng.dirichlet([10, 10, 30, 5, 20], n_b)
    o = rng.dirichlet([1, 1, 1, 1, 1], n_out)
    core = np.vstack([a, b, o]) * rng.uniform(0.4, 0.6, (n_a + n_b + n_out, 1))
    h = np.zeros((len(core), 7))
    h[:, 1:6] = core
    h[:, 6] = np.where(rng.uniform(0, 1, len(core)) < 0.05, 0.01, 0.0)
    perm = rng.permutation(len(h))
    return h[perm]


def filter_cases():
    rng = np.random.default_rng(31)
    cases = []
    h = histogram_set(rng, 40, 16, 4)
    for fh in [True, False]:
        for kd in [False, True]:
            cases.append({"name": f"two_layouts_fh{fh}_dup{kd}", "hist": fl(h),
                          "filter_hist": fh, "keep_duplicates": kd,
                          **filter_histograms(h, fh, kd)})
    # A ring of images around a tight core: the ring's mean lies in the core,
    # so the ring's candidates include the core's and, with filter_hist
    # false, the official concatenation repeats them.
    rng = np.random.default_rng(0)
    t = np.arange(44) * 2 * np.pi / 44 + rng.normal(0, 0.01, 44)
    ring = np.stack([np.cos(t), np.sin(t)], axis=1)
    core = rng.normal((0, 0), 0.03, (14, 2))
    lone = np.array([[2.5, 2.5], [-2.6, 2.4]])
    xy = np.vstack([ring, core, lone]) * 0.04 + 0.2
    n = len(xy)
    h = np.zeros((n, 6))
    h[:, 1:3] = xy
    h[:, 3] = 0.1 + rng.normal(0, 1e-4, n)
    h[:, 4] = np.where(rng.uniform(0, 1, n) < 0.05, 0.01, 0.0)
    h[:, 5] = 0.05
    h = h[rng.permutation(n)]
    for fh, kd in [(False, True), (False, False), (True, False)]:
        cases.append({"name": f"ring_core_fh{fh}_dup{kd}", "hist": fl(h),
                      "filter_hist": fh, "keep_duplicates": kd,
                      **filter_histograms(h, fh, kd)})
    assert len(cases[-3]["good"]) > len(cases[-2]["good"]), "ring fixture has no duplicates"
    # One homogeneous layout: HDBSCAN finds no two clusters at int(0.1 N),
    # so the retry rule lowers min_cluster_size.
    for seed in range(100, 200):
        r = np.random.default_rng(seed)
        h = np.zeros((50, 4))
        h[:, 1:] = r.dirichlet([20, 20, 20], 50) * 0.5
        res = filter_histograms(h, True, False)
        if res["min_cluster_size"] < 5:
            cases.append({"name": f"retry_seed{seed}", "hist": fl(h),
                          "filter_hist": True, "keep_duplicates": False, **res})
            break
    else:
        raise RuntimeError("no retry fixture found")
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"generator": "gen_cluster_golden.py", "numpy": np.__version__,
            "sklearn": sklearn.__version__}
    write("cluster_meanshift.json", {**meta, "cases": meanshift_cases()})
    write("cluster_linalg.json", {**meta, **linalg_cases()})
    write("cluster_hdbscan.json", {**meta, "cases": hdbscan_cases()})
    write("cluster_filter.json", {**meta, "cases": filter_cases()})


if __name__ == "__main__":
    main()
