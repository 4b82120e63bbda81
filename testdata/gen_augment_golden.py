#!/usr/bin/python3
"""Golden file for csad/augment (OpenCV warps, getRotationMatrix2D, the
albumentations brightness/contrast lookup table).

Run with Debian's python3-opencv (4.6) and python3-numpy:

    apt-get install python3-opencv   # only needed to regenerate
    /usr/bin/python3 testdata/gen_augment_golden.py

Writes testdata/augment/warp.json:

* rotation: cv2.getRotationMatrix2D(center, angle, scale) for a few
  arguments, entries as float.hex so the Go test reads the exact doubles.
* warp: for each 2x3 matrix (float.hex), cv2.warpAffine of a seeded random
  RGB image and grey map (48x40) with INTER_LINEAR and INTER_NEAREST,
  BORDER_CONSTANT 0; bytes base64-encoded. One 256x256 case warps a
  deterministic pattern (also built by the Go test from the same formula)
  and stores the grey outputs zlib-compressed, the RGB ones as SHA-256.
* lut: the uint8 lookup table that albumentations 1.4.15 (albucore
  multiply_add_lut) builds for RandomBrightnessContrast with
  brightness_by_max=True: clip(arange(256, float32) * alpha + beta*255)
  then astype(uint8).

The Go test is csad/augment/golden_test.go. Takes well under a second.
"""

import base64
import hashlib
import json
import os
import zlib

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "augment")


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


def b64z(a):
    data = zlib.compress(np.ascontiguousarray(a, dtype=np.uint8).tobytes(), 9)
    return base64.b64encode(data).decode()


def hexm(m):
    return [float(v).hex() for v in np.asarray(m, dtype=np.float64).reshape(-1)]


def pattern(w, h):
    # Same formula in golden_test.go: ramps, a checkerboard and a disc, so
    # that the outputs compress well.
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    r = x
    g = (x + 3 * y) // 4
    b = ((x // 16 + y // 16) % 2) * 255
    rgb = np.stack([r, g, b], axis=-1).astype(np.uint8)
    grey = (((x - 100) ** 2 + (y - 140) ** 2 < 50**2) * 255).astype(np.uint8)
    return rgb, grey


def lsa_matrix(sx, sy, angle, tx, ty):
    # The official lsa.py composition: T @ R with R about the integer centre.
    rot = np.vstack([cv2.getRotationMatrix2D([sx, sy], angle, 1.0), [0, 0, 1]])
    tr = np.array([[1, 0, tx - sx], [0, 1, ty - sy], [0, 0, 1]], dtype=np.float64)
    return np.dot(tr, rot)[:2]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240815)

    rotation = []
    for center, angle, scale in [
        ((19.5, 14.5), 33.0, 1.0),
        ((10.3, 7.7), -17.25, 0.9),
        ((128.0, 96.0), 90.0, 1.0),
        ((127.5, 127.5), 1.2345, 1.0075),
        ((0.0, 0.0), 359.0, 2.0),
        ((77.0, 201.0), 181.0, 1.0),
    ]:
        m = cv2.getRotationMatrix2D(center, angle, scale)
        rotation.append({"cx": center[0], "cy": center[1], "angle": angle, "scale": scale, "m": hexm(m)})

    w, h = 32, 24
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    # A binary mask, the input LSA warps most often.
    grey[3:12, 5:18] = 255
    grey[14:22, 20:30] = 0

    mats = {
        "identity": np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float64),
        "half_pixel_shift": np.array([[1, 0, 0.5], [0, 1, 0.25]], dtype=np.float64),
        "rot33": cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), 33, 1.0),
        "rot_scale_offcentre": cv2.getRotationMatrix2D((10.3, 7.7), -17.25, 0.9),
        "general": np.array([[1.1, 0.2, -3.3], [-0.15, 0.95, 2.7]], dtype=np.float64),
        "shift_scale_rotate": np.array(
            [[0.99 * np.cos(0.03), 1.007 * np.sin(0.03), 0.4], [-0.99 * np.sin(0.03), 1.007 * np.cos(0.03), -0.3]]
        ),
        "lsa": lsa_matrix(20, 14, 237, 31.7213, 25.0931),
        "mostly_outside": np.array([[0.7, -0.7, 30.2], [0.7, 0.7, -25.9]], dtype=np.float64),
        "flip_x": np.array([[-1, 0, w - 1], [0, 1, 0]], dtype=np.float64),
    }
    warp = []
    for name, m in mats.items():
        case = {"name": name, "m": hexm(m)}
        for key, flag in [("linear", cv2.INTER_LINEAR), ("nearest", cv2.INTER_NEAREST)]:
            case[key + "_rgb"] = b64(cv2.warpAffine(img, m, (w, h), flags=flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0))
            case[key + "_grey"] = b64(cv2.warpAffine(grey, m, (w, h), flags=flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0))
        warp.append(case)

    big_rgb, big_grey = pattern(256, 256)
    m = lsa_matrix(61, 190, 113, 171.03125, 66.49)
    big = {"name": "lsa_256", "w": 256, "h": 256, "m": hexm(m)}
    for key, flag in [("linear", cv2.INTER_LINEAR), ("nearest", cv2.INTER_NEAREST)]:
        out = cv2.warpAffine(big_rgb, m, (256, 256), flags=flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        big[key + "_rgb_sha256"] = hashlib.sha256(out.tobytes()).hexdigest()
        big[key + "_grey_z"] = b64z(cv2.warpAffine(big_grey, m, (256, 256), flags=flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0))

    lut = []
    for alpha, beta in [(1.0, 0.0), (1.05, 0.05), (0.95, -0.05), (1.0371, -0.0123), (0.9512, 0.0499), (1.05, -0.05)]:
        table = np.clip(np.arange(0, 256, dtype=np.float32) * alpha + beta * 255, 0, 255).astype(np.uint8)
        lut.append({"alpha": float(alpha).hex(), "beta": float(beta).hex(), "lut": b64(table)})

    doc = {
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "rotation": rotation,
        "w": w,
        "h": h,
        "src_rgb": b64(img),
        "src_grey": b64(grey),
        "warp": warp,
        "big": big,
        "lut": lut,
    }
    with open(os.path.join(OUT, "warp.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
