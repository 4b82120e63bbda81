#!/usr/bin/python3
"""Golden data for csad/pseudolabel's label-map helpers (method spec §5.1, §5.2, §1.5).

A NumPy/SciPy re-statement of what the official pseudo_label.py and the
segmentor dataloader do with binary masks, written from the spec:

  merge            §5.1: drop masks <= 0.1 % of the image, stable sort by area
                   (largest first), paint 1..K, later overwrite earlier.
  split            §5.1: value v = 1..max kept if its area > 0.1 %.
  split_connected  §5.2 item 1: 4-connected components (scipy.ndimage.label
                   with the cross structure, labels in raster order like
                   OpenCV), kept when bbox area < 95 % and area > 50; with
                   keep_zero the zero set of the mask (OpenCV's label 0) is
                   tested first, as the official loop over range(num_labels).
  filter_by_combine §5.2 item 6.
  fill_holes       scipy.ndimage.binary_fill_holes.
  fill_labels      §1.5: split (> min_pixels), fill holes, merge back: the
                   official dataloader merge (area-rank painting, then the
                   mask_order relabelling) and the intended one (each filled
                   mask painted with its own label, largest first).

It also saves three small arrays with numpy.save (npy_f64_2d.npy,
npy_i64_1d.npy, npy_i64_0d.npy) for the .npy reader and writer.

Run: /usr/bin/python3 csad/pseudolabel/testdata/gen_pseudolabel_golden.py
Writes csad/pseudolabel/testdata/masks_golden.json and internal/npy/testdata/npy_*.npy (masks bit-packed, hex)
and the .npy files.
"""
import json
import os

import numpy as np
from scipy import ndimage

W, H = 40, 32
CROSS = ndimage.generate_binary_structure(2, 1)


def pack(m):
    return np.packbits(np.asarray(m, dtype=bool).ravel()).tobytes().hex()


def big(m):
    return np.count_nonzero(m) / m.size > 0.001


def merge(masks):
    kept = [m for m in masks if big(m)]
    order = sorted(range(len(kept)), key=lambda i: -np.count_nonzero(kept[i]))  # stable
    out = np.zeros((H, W), np.uint8)
    for rank, i in enumerate(order):
        out[kept[i]] = rank + 1
    return out


def split(lm, keep):
    vals, masks = [], []
    for v in range(1, int(lm.max()) + 1):
        m = lm == v
        if np.count_nonzero(m) and keep(np.count_nonzero(m)):
            vals.append(v)
            masks.append(m)
    return vals, masks


def split_connected(masks, keep_zero):
    out = []
    for m in masks:
        lab, n = ndimage.label(m, structure=CROSS)
        for j in range(0 if keep_zero else 1, n + 1):
            c = lab == j
            area = np.count_nonzero(c)
            if area == 0:
                continue
            ys, xs = np.nonzero(c)
            bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
            if bw * bh < W * H * 0.95 and area > 50:
                out.append(c)
    return out


def overlap(a, b):
    inter = np.count_nonzero(a & b)
    if inter == 0:
        return 0.0
    return inter / min(np.count_nonzero(a), np.count_nonzero(b))


def filter_by_combine(masks):
    ms = sorted([m for m in masks if big(m)], key=np.count_nonzero)  # stable, ascending
    if not ms:
        return []
    union = np.zeros((H, W), bool)
    out, wait = [], []
    for i, m in enumerate(ms):
        if i == 0 or overlap(union, m) < 0.9:
            union |= m
            out.append(m)
        else:
            wait.append(m)
    for m in wait:
        if np.count_nonzero(union & m) / np.count_nonzero(m) < 0.9:
            union |= m
            out.append(m)
    return out


def fill_labels(lm, min_pixels, official):
    vals, masks = split(lm, lambda a: a > min_pixels)
    filled = [ndimage.binary_fill_holes(m) for m in masks]
    out = np.zeros((H, W), np.uint8)
    if not filled:
        return out
    areas = np.array([np.count_nonzero(f) for f in filled])
    by_area = sorted(range(len(filled)), key=lambda i: -areas[i])
    if not official:
        for i in by_area:
            out[filled[i]] = vals[i]
        return out
    painted = np.zeros((H, W), np.uint8)
    for rank, i in enumerate(by_area):
        painted[filled[i]] = rank + 1
    mask_order = np.argsort(areas)[::-1]
    for i, order in enumerate(mask_order + 1):
        out[painted == order] = i + 1
    return out


def shapes(rng):
    yy, xx = np.mgrid[0:H, 0:W]
    masks = []
    for _ in range(rng.randint(5, 9)):
        kind = rng.randint(4)
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        if kind == 0:  # rectangle
            hw, hh = rng.uniform(2, 12), rng.uniform(2, 10)
            m = (abs(xx - cx) <= hw) & (abs(yy - cy) <= hh)
        elif kind == 1:  # disc
            r = rng.uniform(2, 9)
            m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        elif kind == 2:  # ring: a hole to fill
            r = rng.uniform(5, 11)
            d = np.hypot(xx - cx, yy - cy)
            m = (d <= r) & (d >= r * 0.5)
        else:  # two separate blobs in one mask
            m = (abs(xx - cx) <= 3) & (abs(yy - cy) <= 3)
            m |= (abs(xx - (cx + 15) % W) <= 4) & (abs(yy - (cy + 9) % H) <= 3)
        masks.append(m)
    masks.append(np.zeros((H, W), bool))  # an empty mask
    tiny = np.zeros((H, W), bool)
    tiny[rng.randint(H), rng.randint(W)] = True  # 1 px: below the 0.1 % filter
    masks.append(tiny)
    dup = masks[0] | masks[1]  # a union that filter_by_combine should drop
    masks.append(dup)
    if rng.randint(2):
        # A frame along the image border: its bbox covers the image (never
        # kept) while its zero set, the inside, has a small bbox (kept with
        # keep_zero, spec §8.2 item 13).
        border = np.ones((H, W), bool)
        border[5:H - 5, 5:W - 5] = False
        masks.append(border)
    return masks


def main():
    cases = []
    for seed in range(6):
        rng = np.random.RandomState(seed)
        masks = shapes(rng)
        lm = merge(masks)
        vals, smasks = split(lm, lambda a: a / (W * H) > 0.001)
        cases.append({
            "seed": seed,
            "masks": [pack(m) for m in masks],
            "merged": lm.tobytes().hex(),
            "split_values": vals,
            "split": [pack(m) for m in smasks],
            "connected": [pack(m) for m in split_connected(masks, False)],
            "connected_zero": [pack(m) for m in split_connected(masks, True)],
            "combine": [pack(m) for m in filter_by_combine(masks)],
            "filled": [pack(ndimage.binary_fill_holes(m)) for m in masks],
            "fill_labels_official": fill_labels(lm, 20, True).tobytes().hex(),
            "fill_labels_intended": fill_labels(lm, 20, False).tobytes().hex(),
        })
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    here = os.path.join(root, "csad", "pseudolabel", "testdata")
    npydir = os.path.join(root, "internal", "npy", "testdata")
    # The info/ files of §5.1: a (N, K) float64 histogram, int64 indices and
    # an int64 scalar (component_num_mode.npy).
    np.save(os.path.join(npydir, "npy_f64_2d.npy"), np.array([[0.0, 0.25, -1.5], [1e-300, np.pi, 7.0]]))
    np.save(os.path.join(npydir, "npy_i64_1d.npy"), np.array([0, 3, 5, -2, 1 << 40], dtype=np.int64))
    np.save(os.path.join(npydir, "npy_i64_0d.npy"), np.int64(6))
    out = os.path.join(here, "masks_golden.json")
    with open(out, "w") as f:
        json.dump({"w": W, "h": H, "fill_min_pixels": 20, "cases": cases}, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
