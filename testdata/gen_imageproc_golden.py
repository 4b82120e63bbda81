#!/usr/bin/python3
"""Golden files for csad/imageproc (decoding, Pillow resize, ToTensor+Normalize).

Run with Debian's python3-pil, python3-numpy and python3-torchvision:

    /usr/bin/python3 testdata/gen_imageproc_golden.py

Writes into testdata/imageproc/:

* src_*.png / src_*.jpg: small deterministic synthetic sources (smooth
  gradients, sharp-edged shapes, a noisy patch) made with a seeded numpy RNG,
  in the PNG flavours the decoder must handle: 8-bit RGB, RGBA, grey (L),
  grey+alpha (LA), paletted (P, with a tRNS chunk), 16-bit RGB, 16-bit grey,
  and baseline JPEGs with 4:4:4, 4:2:2 and 4:2:0 chroma.
* dec_<name>.png: Pillow's Image.open(src).convert("RGB"), stored as 8-bit
  RGB PNG (lossless, so the Go test reads it back exactly).
* rs_<case>.png: Pillow's resize of the RGB-converted source to the case's
  size with BILINEAR or NEAREST (Image.resize, no box, no reducing_gap, which
  is what torchvision's Resize calls on a PIL image).
* cases.json: the list of resize cases and decode cases.
* norm_levels.bin, prep_small.bin: little-endian float32 CHW outputs of
  torchvision Normalize(ToTensor(img)) for an image holding every 8-bit level
  in every channel, and for the full pipeline Resize((64,64)) -> ToTensor ->
  Normalize on src_small.png.

The Go tests are csad/imageproc/golden_test.go.
"""

import io
import json
import os
import struct
import zlib

import numpy as np
import PIL
from PIL import Image
import torch
import torchvision
from torchvision import transforms

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imageproc")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def synth(rng, w, h, noise_frac=0.25):
    """Gradients + hard-edged rectangles and discs + a noisy patch, uint8 HWC."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin(x / 17.0) * np.cos(y / 23.0)
    img = np.stack([r, g, b], axis=-1)
    for _ in range(12):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(1, max(2, w // 4)), y0 + rng.integers(1, max(2, h // 4))
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    for _ in range(8):
        cx, cy, rad = rng.integers(0, w), rng.integers(0, h), rng.integers(1, max(2, min(w, h) // 6))
        img[(x - cx) ** 2 + (y - cy) ** 2 <= rad * rad] = rng.integers(0, 256, 3)
    # Full-range noise in one patch: the worst case for rounding. (Noise over
    # the whole image would not compress and the golden set must stay small.)
    pw, ph = max(1, int(w * noise_frac)), max(1, int(h * noise_frac))
    px, py = rng.integers(0, w - pw + 1), rng.integers(0, h - ph + 1)
    img[py:py + ph, px:px + pw] = rng.integers(0, 256, (ph, pw, 3))
    # Single-pixel extremes next to each other.
    img[h // 2, ::7] = 255
    img[h // 2 + 1, ::7] = 0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def raw_png(w, h, bitdepth, ctype, rows):
    """A PNG written by hand, for 16-bit RGB (Pillow cannot save it)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def save_rgb_png(arr_or_img, name):
    im = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    assert im.mode == "RGB", im.mode
    im.save(os.path.join(OUT, name), optimize=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240828)

    big = synth(rng, 800, 640, noise_frac=0.15)
    odd = synth(rng, 1701, 851, noise_frac=0.08)
    small = synth(rng, 37, 23)
    tiny = synth(rng, 64, 64)
    Image.fromarray(big).save(os.path.join(OUT, "src_800x640.png"), optimize=True)
    Image.fromarray(odd).save(os.path.join(OUT, "src_1701x851.png"), optimize=True)
    Image.fromarray(small).save(os.path.join(OUT, "src_small.png"))
    Image.fromarray(tiny).save(os.path.join(OUT, "src_64.png"))

    # Decoder flavours (small, so their expected RGB stays tiny).
    base = synth(rng, 97, 61)
    alpha = rng.integers(0, 256, (61, 97), dtype=np.uint8)
    gray = np.asarray(Image.fromarray(base).convert("L"))
    Image.fromarray(np.dstack([base, alpha]), "RGBA").save(os.path.join(OUT, "src_rgba.png"))
    Image.fromarray(gray, "L").save(os.path.join(OUT, "src_gray.png"))
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(os.path.join(OUT, "src_la.png"))
    pal = Image.fromarray(base).quantize(colors=50, dither=Image.Dither.NONE)
    pal.info["transparency"] = 3  # tRNS: Pillow ignores it in convert("RGB"), so must we
    pal.save(os.path.join(OUT, "src_pal.png"), transparency=3)
    base16 = base.astype(np.uint16) * 257 + rng.integers(0, 257, base.shape).astype(np.uint16)
    with open(os.path.join(OUT, "src_rgb16.png"), "wb") as f:
        f.write(raw_png(97, 61, 16, 2, [base16[i].astype(">u2").tobytes() for i in range(61)]))
    # 16-bit grey: Pillow opens it as mode I and clips to 0..255 in convert("RGB").
    g16 = np.concatenate([np.arange(0, 300, dtype=np.uint16)[None, :].repeat(5, 0),
                          rng.integers(0, 65536, (5, 300)).astype(np.uint16)])
    with open(os.path.join(OUT, "src_gray16.png"), "wb") as f:
        f.write(raw_png(300, 10, 16, 0, [g16[i].astype(">u2").tobytes() for i in range(10)]))
    jpg = synth(rng, 120, 80)
    Image.fromarray(jpg).save(os.path.join(OUT, "src_jpeg.jpg"), quality=90, subsampling=0)
    # Odd size, chroma subsampled 4:2:0 (Pillow's default) and 4:2:2.
    jpg = synth(rng, 121, 81)
    Image.fromarray(jpg).save(os.path.join(OUT, "src_jpeg420.jpg"), quality=90, subsampling=2)
    Image.fromarray(jpg).save(os.path.join(OUT, "src_jpeg422.jpg"), quality=90, subsampling=1)

    decode_cases = []
    for name in ["src_rgba.png", "src_gray.png", "src_la.png", "src_pal.png",
                 "src_rgb16.png", "src_gray16.png", "src_jpeg.jpg", "src_jpeg420.jpg",
                 "src_jpeg422.jpg", "src_small.png"]:
        im = Image.open(os.path.join(OUT, name))
        out = "dec_" + os.path.splitext(name)[0][4:] + ".png"
        save_rgb_png(im.convert("RGB"), out)
        decode_cases.append({"src": name, "mode": im.mode, "want": out})

    resize_cases = []

    def rs(src, w, h, method, pre=None):
        im = Image.open(os.path.join(OUT, src)).convert("RGB")
        flt = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}[method]
        stem = os.path.splitext(src)[0][4:]
        case = {"src": src, "w": w, "h": h, "method": method}
        if pre:
            # Full-size data-set shapes without storing full-size sources:
            # the Go test rebuilds this source with ResizeNearest, which is
            # itself checked against Pillow by the other cases.
            im = im.resize(pre, Image.Resampling.NEAREST)
            stem = "%s_as_%dx%d" % (stem, pre[0], pre[1])
            case["pre_nearest"] = list(pre)
        out = "rs_%s_%dx%d_%s.png" % (stem, w, h, method)
        save_rgb_png(im.resize((w, h), flt), out)
        case["want"] = out
        resize_cases.append(case)

    for m in ["bilinear", "nearest"]:
        rs("src_800x640.png", 256, 256, m)    # breakfast_box-like downscale
        rs("src_1701x851.png", 256, 256, m)   # odd sizes
        rs("src_800x640.png", 128, 512, m)    # juice_bottle-like: down x, slight down y
        rs("src_1701x851.png", 201, 1000, m)  # mixed: down x, up y
        rs("src_800x640.png", 1000, 99, m)    # mixed: up x, down y
        rs("src_64.png", 64, 21, m)           # vertical pass only
        rs("src_64.png", 200, 64, m)          # horizontal pass only
        rs("src_64.png", 256, 256, m)         # 4x upscale
        rs("src_small.png", 256, 256, m)      # 37x23 upscale
        rs("src_small.png", 19, 256, m)       # mixed on a tiny image
        rs("src_small.png", 100, 77, m)       # non-dyadic scale factors
        rs("src_small.png", 37, 23, m)        # identity (Pillow copies)
        rs("src_small.png", 1, 1, m)          # degenerate
    rs("src_1701x851.png", 333, 129, "nearest")
    # The five MVTec LOCO AD image sizes (W×H) to the network input size.
    rs("src_800x640.png", 256, 256, "bilinear", pre=(1600, 1280))   # breakfast_box
    rs("src_800x640.png", 256, 256, "bilinear", pre=(800, 1600))    # juice_bottle
    rs("src_1701x851.png", 256, 256, "bilinear", pre=(1700, 1000))  # pushpins
    rs("src_800x640.png", 256, 256, "bilinear", pre=(1600, 1100))   # screw_bag
    rs("src_1701x851.png", 256, 256, "bilinear", pre=(1700, 850))   # splicing_connectors

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"pillow": PIL.__version__, "torchvision": torchvision.__version__,
                   "decode": decode_cases, "resize": resize_cases}, f, indent=1)
        f.write("\n")

    norm = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    # Every level in every channel: 16x16, channel c holds (i + 85c) mod 256.
    lv = np.stack([(np.arange(256) + 85 * c) % 256 for c in range(3)], axis=-1)
    lv = lv.reshape(16, 16, 3).astype(np.uint8)
    Image.fromarray(lv).save(os.path.join(OUT, "levels.png"))
    t = norm(Image.fromarray(lv))
    assert t.dtype == torch.float32 and tuple(t.shape) == (3, 16, 16)
    t.numpy().astype("<f4").tofile(os.path.join(OUT, "norm_levels.bin"))

    pipe = transforms.Compose([
        transforms.Resize((64, 64), interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    t = pipe(Image.open(os.path.join(OUT, "src_small.png")).convert("RGB"))
    assert tuple(t.shape) == (3, 64, 64)
    t.numpy().astype("<f4").tofile(os.path.join(OUT, "prep_small.bin"))

    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %d files, %d bytes, Pillow %s, torchvision %s"
          % (len(os.listdir(OUT)), total, PIL.__version__, torchvision.__version__))


if __name__ == "__main__":
    main()
