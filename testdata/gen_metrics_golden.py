#!/usr/bin/python3
"""Golden AUROC values for csad/metrics.

Run with Debian's python3-sklearn:

    /usr/bin/python3 testdata/gen_metrics_golden.py

Writes testdata/metrics/auroc_golden.json: a list of cases, each with the
image scores, the binary labels (0 good, 1 anomalous) and
sklearn.metrics.roc_auc_score(labels, scores). The Go test
(csad/metrics/golden_test.go) recomputes every value and compares to 1e-12.
"""

import json
import os

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score


def case(name, scores, labels):
    scores = [float(s) for s in scores]
    labels = [int(l) for l in labels]
    return {
        "name": name,
        "scores": scores,
        "labels": labels,
        "auroc": float(roc_auc_score(labels, scores)),
    }


def main():
    rng = np.random.default_rng(20240828)
    cases = []
    # Many ties: scores quantised to a few levels.
    n = 200
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.normal(labels * 0.7, 1.0) * 2) / 2
    cases.append(case("many_ties", scores, labels))
    # Integer scores with heavy ties between the classes.
    labels = np.array([0] * 30 + [1] * 25)
    scores = rng.integers(0, 4, labels.size)
    cases.append(case("integer_ties", scores, labels))
    # All scores equal: AUROC is exactly 0.5.
    labels = np.array([0, 1, 0, 1, 1, 0, 1])
    cases.append(case("all_tied", np.full(labels.size, 3.25), labels))
    # Perfectly separated, and perfectly inverted.
    labels = np.array([0] * 10 + [1] * 12)
    scores = np.concatenate([rng.uniform(0, 1, 10), rng.uniform(2, 3, 12)])
    cases.append(case("separated", scores, labels))
    cases.append(case("inverted", -scores, labels))
    # Random continuous scores, unbalanced classes, MVTec LOCO-like sizes.
    for i, (n0, n1) in enumerate([(102, 83), (138, 91), (5, 300)]):
        labels = np.array([0] * n0 + [1] * n1)
        rng.shuffle(labels)
        scores = rng.normal(labels * 0.8, 1.0) * 10 ** rng.uniform(-3, 3)
        cases.append(case(f"random_{i}", scores, labels))
    # A single image per class.
    cases.append(case("one_each", [0.2, 0.1], [0, 1]))

    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "auroc_golden.json")
    with open(path, "w") as f:
        json.dump({"generator": "gen_metrics_golden.py",
                   "sklearn": sklearn.__version__,
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
