"""Reference HDBSCAN restating scikit-learn 1.3's sklearn.cluster.HDBSCAN.

Debian ships scikit-learn 1.2, which has no HDBSCAN, so this file restates the
algorithm of scikit-learn 1.3 (itself a port of McInnes' hdbscan) for the
options CSAD uses: Euclidean metric, algorithm "auto" (the KD-tree + Prim
path), alpha 1, cluster_selection_method "eom", cluster_selection_epsilon 0,
max_cluster_size None.  Steps, each named as in scikit-learn:

1. core distances: distance to the min_samples-th nearest neighbour, the
   point itself counting as the first (NearestNeighbors.kneighbors(X, k)).
2. mst_from_data_matrix: Prim's algorithm on mutual reachability
   max(core_i, core_j, d_ij), started at point 0, first index wins ties.
3. _process_mst: edges ordered by np.argsort (NumPy's default introsort,
   which is what fixes the order of tied edges), then make_single_linkage.
4. _condense_tree with min_cluster_size.
5. _compute_stability, _get_clusters (EOM), _do_labelling.

Euclidean distances are summed feature by feature, in feature order, as the
Cython distance metric does (not NumPy's pairwise summation), so that the Go
port can be compared label for label.

Used by gen_cluster_golden.py; run on its own for a smoke test:
    /usr/bin/python3 testdata/hdbscan_ref.py
"""

import numpy as np

INF = np.inf


def euclidean_rows(x, i):
    """Distances from row i to every row, summed in feature order."""
    acc = np.zeros(x.shape[0])
    for k in range(x.shape[1]):
        t = x[:, k] - x[i, k]
        acc = acc + t * t
    return np.sqrt(acc)


def core_distances(x, min_samples):
    n = x.shape[0]
    core = np.empty(n)
    for i in range(n):
        core[i] = np.sort(euclidean_rows(x, i))[min_samples - 1]
    return core


def prim_mst(x, core):
    """mst_from_data_matrix: rows (source, new node, mutual reachability)."""
    n = x.shape[0]
    in_tree = np.zeros(n, dtype=bool)
    min_reach = np.full(n, INF)
    sources = np.ones(n, dtype=np.int64)
    current = 0
    edges = []
    for _ in range(n - 1):
        in_tree[current] = True
        d = euclidean_rows(x, current)
        best, src, new = INF, 0, 0
        for j in range(n):
            if in_tree[j]:
                continue
            mr = max(core[current], core[j], d[j])
            if mr < min_reach[j]:
                min_reach[j] = mr
                sources[j] = current
            if min_reach[j] < best:
                best, src, new = min_reach[j], sources[j], j
        edges.append((src, new, best))
        current = new
    return edges


def single_linkage(edges, n):
    """_process_mst + make_single_linkage: rows (left, right, distance, size)."""
    dist = np.array([e[2] for e in edges], dtype=np.float64)
    order = np.argsort(dist)  # default kind, as scikit-learn
    parent = np.arange(2 * n - 1)
    size = np.zeros(2 * n - 1, dtype=np.int64)
    size[:n] = 1
    next_label = n

    def find(v):
        root = v
        while parent[root] != root:
            root = parent[root]
        while parent[v] != root:  # path compression as fast_find
            parent[v], v = root, parent[v]
        return root

    rows = []
    for idx in order:
        a, b, d = edges[idx]
        ra, rb = find(a), find(b)
        rows.append((ra, rb, d, size[ra] + size[rb]))
        size[next_label] = size[ra] + size[rb]
        parent[ra] = next_label
        parent[rb] = next_label
        next_label += 1
    return rows


def bfs(hier, root, n):
    out, queue = [], [root]
    while queue:
        out.extend(queue)
        queue = [v - n for v in queue if v >= n]
        nxt = []
        for v in queue:
            nxt.extend([int(hier[v][0]), int(hier[v][1])])
        queue = nxt
    return out


def condense(hier, min_cluster_size):
    n = len(hier) + 1
    root = 2 * len(hier)
    next_label = n + 1
    relabel = np.empty(root + 1, dtype=np.int64)
    relabel[root] = n
    ignore = np.zeros(root + 1, dtype=bool)
    rows = []  # (parent, child, lambda, child_size)

    def count(v):
        return hier[v - n][3] if v >= n else 1

    def drop(node, sub, lam):
        for s in bfs(hier, sub, n):
            if s < n:
                rows.append((relabel[node], s, lam, 1))
            ignore[s] = True

    for node in bfs(hier, root, n):
        if ignore[node] or node < n:
            continue
        left, right, dist, _ = hier[node - n]
        left, right = int(left), int(right)
        lam = 1.0 / dist if dist > 0.0 else INF
        lc, rc = count(left), count(right)
        if lc >= min_cluster_size and rc >= min_cluster_size:
            relabel[left] = next_label
            next_label += 1
            rows.append((relabel[node], relabel[left], lam, lc))
            relabel[right] = next_label
            next_label += 1
            rows.append((relabel[node], relabel[right], lam, rc))
        elif lc < min_cluster_size and rc < min_cluster_size:
            drop(node, left, lam)
            drop(node, right, lam)
        elif lc < min_cluster_size:
            relabel[right] = relabel[node]
            drop(node, left, lam)
        else:
            relabel[left] = relabel[node]
            drop(node, right, lam)
    return rows


def stability(rows):
    parents = [r[0] for r in rows]
    smallest, largest = min(parents), max(parents)
    birth = {smallest: 0.0}
    for p, c, lam, _ in rows:
        if c >= smallest:
            birth[c] = lam  # a cluster is the child of exactly one row
    stab = {c: 0.0 for c in range(smallest, largest + 1)}
    for p, c, lam, sz in rows:
        stab[p] += (lam - birth[p]) * sz
    return stab


def select_eom(rows, stab, allow_single_cluster):
    nodes = sorted(stab.keys(), reverse=True)
    if not allow_single_cluster:
        nodes = nodes[:-1]
    tree = [r for r in rows if r[3] > 1]
    is_cluster = {c: True for c in nodes}

    def cluster_bfs(root):
        out, queue = [], [root]
        while queue:
            out.extend(queue)
            queue = [r[1] for r in tree if r[0] in queue]
        return out

    for node in nodes:
        kids = [r[1] for r in tree if r[0] == node]
        sub = float(np.sum([stab[k] for k in kids]))
        if sub > stab[node]:
            is_cluster[node] = False
            stab[node] = sub
        else:
            for s in cluster_bfs(node):
                if s != node:
                    is_cluster[s] = False
    return sorted(c for c in is_cluster if is_cluster[c])


def label(rows, clusters, allow_single_cluster):
    root = min(r[0] for r in rows)
    cmap = {c: i for i, c in enumerate(clusters)}
    up = {}
    for p, c, lam, sz in rows:
        if c not in cmap:
            up[c] = p
    out = np.full(root, -1, dtype=np.int64)
    for i in range(root):
        v = i
        while v in up:
            v = up[v]
        if v != root:
            out[i] = cmap[v]
        elif len(clusters) == 1 and allow_single_cluster:
            lam_i = [r[2] for r in rows if r[1] == i][0]
            thr = max(r[2] for r in rows if r[0] == root)
            if lam_i >= thr:
                out[i] = cmap[root]
    return out


def hdbscan(x, min_cluster_size, min_samples=None, allow_single_cluster=False):
    x = np.asarray(x, dtype=np.float64)
    if min_samples is None:
        min_samples = min_cluster_size
    n = x.shape[0]
    if n < 2 or min_samples > n:
        raise ValueError("need 2 <= n and min_samples <= n")
    core = core_distances(x, min_samples)
    hier = single_linkage(prim_mst(x, core), n)
    rows = condense(hier, min_cluster_size)
    clusters = select_eom(rows, stability(rows), allow_single_cluster)
    return label(rows, clusters, allow_single_cluster)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (20, 2))
    b = rng.normal(5, 0.1, (20, 2))
    # outliers farther from both blobs than the blobs are from each other, so
    # they leave the root before either cluster is born: noise, not members
    noise = np.array([[2.5, 20.0], [-20.0, 3.0], [25.0, -6.0]])
    lab = hdbscan(np.vstack([a, b, noise]), 5)
    assert set(lab[:20]) == {lab[0]} and set(lab[20:40]) == {lab[20]}, lab
    assert lab[0] != lab[20] and lab[0] >= 0 and lab[20] >= 0, lab
    assert list(lab[40:]) == [-1, -1, -1], lab
    print("hdbscan_ref smoke test ok:", lab.tolist())
