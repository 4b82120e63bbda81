#!/usr/bin/python3
"""Writes testdata/ortscore/resize_golden.json: LibTorch's bilinear resize of small float32 maps,
the golden of package ortscore's pure-Go Resize.

Run from the repository root: /usr/bin/python3 testdata/gen_ortscore_golden.py
(Debian's python3-torch 1.13 and NumPy; a few seconds).

Each case resizes one of a few standard-normal float32 maps ("inputs", by name; a seeded NumPy
generator) with
F.interpolate(x[None, None], size=(out_h, out_w), mode="bilinear", align_corners=False), which
is what csad-go's torch backend does to Local+Global for Result.AnomalyMap. A (1, 1, H, W)
tensor is channels-last contiguous as well, so LibTorch 1.13 runs its channels-last kernel
(cpu_upsample_linear_channels_last), the path the Go code mirrors.

Values travel as base64 of little-endian float32, so the Go test can compare them bit for bit.
Outputs of more than 4096 values are stored as their SHA-256 plus every 257th value (the full
1024x768 and 1600x1100 outputs would be megabytes).
"""
import base64
import hashlib
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ortscore", "resize_golden.json")
FULL_MAX = 4096
STRIDE = 257

# The maps: square ones of the feature sides csad-go uses (64 at the paper's size, 32 for the
# reduced test model), a 16, a 1x1 and a rectangular one.
INPUTS = [("n64", 64, 64), ("n32", 32, 32), ("n16", 16, 16), ("n1", 1, 1), ("r6x9", 6, 9)]

# (name, input, out_h, out_w): up and down, odd sizes, 1x1 either side, identity, mixed
# axes, a rectangular input, and the sizes of the images csad-go's tests score.
CASES = [
    ("64_to_1024x768", "n64", 768, 1024),
    ("64_to_31x17", "n64", 17, 31),
    ("64_to_1x1", "n64", 1, 1),
    ("64_identity", "n64", 64, 64),
    ("64_down_16", "n64", 16, 16),
    ("64_to_200x5", "n64", 5, 200),
    ("64_to_63x65", "n64", 65, 63),
    ("64_to_1600x1100", "n64", 1100, 1600),
    ("32_to_96x72", "n32", 72, 96),
    ("16_to_97x61", "n16", 61, 97),
    ("1x1_to_7x5", "n1", 5, 7),
    ("9x6_to_20x13", "r6x9", 13, 20),
]


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240917)
    maps = {name: rng.standard_normal((h, w)).astype(np.float32) for name, h, w in INPUTS}
    cases = []
    for name, inp, oh, ow in CASES:
        x = maps[inp]
        ih, iw = x.shape
        t = torch.from_numpy(x)[None, None]
        assert t.is_contiguous(memory_format=torch.channels_last)
        y = F.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False)[0, 0].numpy()
        flat = np.ascontiguousarray(y, dtype="<f4").reshape(-1)
        c = {"name": name, "in_h": ih, "in_w": iw, "out_h": oh, "out_w": ow, "input": inp,
             "output_sha256": hashlib.sha256(flat.tobytes()).hexdigest()}
        if flat.size <= FULL_MAX:
            c["output"] = b64(flat)
        else:
            c["sample_stride"] = STRIDE
            c["samples"] = b64(flat[::STRIDE])
        cases.append(c)
    doc = {"torch": torch.__version__, "mode": "bilinear", "align_corners": False,
           "inputs": {name: {"h": h, "w": w, "values": b64(maps[name])} for name, h, w in INPUTS},
           "cases": cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, OUT)
    print("wrote", OUT, len(cases), "cases, torch", torch.__version__)


if __name__ == "__main__":
    main()
