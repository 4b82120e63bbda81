#!/usr/bin/python3
"""End-to-end golden: image files → the reference pipeline → scores, maps and segmentation.

    /usr/bin/python3 testdata/gen_e2e_golden.py

Run after testdata/gen_model_golden.py (it reads testdata/golden/model_small.pth, whose SHA-256
it records). Writes into testdata/e2e/:

* Six synthetic images, one per decoding path of csad/imageproc, with sizes that are not 256 and
  not multiples of 8 (so the resize works in both directions and JPEG has partial blocks):

      rgb.png      301×173  8-bit RGB
      rgba.png     64×500   8-bit RGBA, alpha varying (dropped by convert("RGB"), not composited)
      pal.png      97×61    paletted (a 64-colour palette) with a tRNS chunk (upscaled to 256)
      gray.png     256×256  8-bit grey (the resize is the identity: both passes skipped)
      rgb16.png    211×140  16-bit RGB (convert keeps the high byte)
      jpeg.jpg     203×117  baseline JPEG, 4:2:0, quality 90, a mosaic of flat 16×16 blocks

  The JPEG is a mosaic because Go's IDCT is not libjpeg's: on general content ~3 % of the decoded
  bytes differ by 1–3 levels (csad/imageproc TestGoldenDecode), which would change the network
  input. Flat 16×16 blocks have DC-only DCT blocks, which both IDCTs reconstruct exactly, while the
  chroma upsampling and colour conversion at block edges still run.
* seg_<name>.png: the 256×256 segmentation (class per pixel) as an 8-bit grey PNG.
* golden.safetensors, per image <name>: <name>/score, <name>/lgst, <name>/patch_hist (float32, (1,)),
  <name>/local, <name>/global (float32, (64,64): the normalised maps m_l, m_g). Metadata: "images"
  (JSON list of {name, file, mode, width, height, input_sha256, anomaly_map_sha256}), model_sha256,
  config, torch_version, torchvision_version, pillow_version, num_threads.

The pipeline is the official one (docs/method.md#data-and-preprocessing): PIL.Image.open →
convert("RGB") → torchvision Resize((256, 256)) (Pillow BILINEAR) → ToTensor → Normalize(ImageNet),
then csad_ref.CSAD.detail on that one image (batch 1). input_sha256 is the SHA-256 of the
(3,256,256) float32 input; anomaly_map_sha256 that of (m_l + m_g) resized to the image's H×W with
F.interpolate (bilinear, align_corners=False), csad-go's Result.AnomalyMap.

The Go test is csad/e2e_golden_test.go (bitwise).
"""

import hashlib
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image
import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import csad_ref  # noqa: E402
from gen_golden import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "e2e")
# The images are committed; the outputs (golden.safetensors, seg_*.png) depend on the CPU's kernels
# and are made on the machine under test: with --outputs they go to $CSAD_GOLDEN_OUT
# (torchtest.GoldenDir) and the committed images are only read.
GOLD = OUT
MODEL = os.path.join(HERE, "golden", "model_small.pth")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SEED = 20240515


def scene(rng, w, h):
    """A compressible object-like scene: smooth background, a few flat discs and bars, uint8 HWC."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([60 + 120 * x / max(w - 1, 1), 80 + 90 * y / max(h - 1, 1),
                    140 + 60 * np.sin(x / 19.0) * np.cos(y / 29.0)], axis=-1)
    for _ in range(5):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.08, 0.25) * min(w, h)
        img[(x - cx) ** 2 + (y - cy) ** 2 <= r * r] = rng.integers(0, 256, 3)
    for _ in range(3):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        img[y0:y0 + max(2, h // 12), x0:x0 + max(4, w // 3)] = rng.integers(0, 256, 3)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def png_rgb16(a):
    """A 16-bit RGB PNG written by hand (Pillow cannot save one), every row with the Sub filter so
    that the smooth content compresses."""
    h, w, _ = a.shape
    raw = np.frombuffer(a.astype(">u2").tobytes(), dtype=np.uint8).reshape(h, w * 6).astype(np.int16)
    sub = raw.copy()
    sub[:, 6:] = (raw[:, 6:] - raw[:, :-6]) % 256
    rows = b"".join(b"\x01" + r.astype(np.uint8).tobytes() for r in sub)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def atomic(path, write):
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


def save_pil(img, name, dest=None, **kw):
    path = os.path.join(dest or OUT, name)
    atomic(path, lambda p: img.save(p, format=kw.pop("format", "PNG"), **kw))
    return path


def make_images(rng):
    files = []

    a = scene(rng, 301, 173)
    files.append(("rgb", save_pil(Image.fromarray(a, "RGB"), "rgb.png", optimize=True)))

    a = scene(rng, 64, 500)
    alpha = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (500, 1))[:, :, None]
    files.append(("rgba", save_pil(Image.fromarray(np.concatenate([a, alpha], -1), "RGBA"), "rgba.png",
                                   optimize=True)))

    p = Image.fromarray(scene(rng, 97, 61), "RGB").quantize(64, method=Image.Quantize.MEDIANCUT, dither=0)
    # transparency=3 writes a tRNS chunk, which convert("RGB") ignores
    files.append(("pal", save_pil(p, "pal.png", transparency=3)))

    g = np.asarray(Image.fromarray(scene(rng, 256, 256), "RGB").convert("L"))
    files.append(("gray", save_pil(Image.fromarray(g, "L"), "gray.png", optimize=True)))

    # low bytes: a smooth ramp (not noise, to stay small) that convert("RGB") must discard
    yy, xx = np.mgrid[0:140, 0:211]
    low = ((3 * xx + 5 * yy) % 256).astype(np.uint16)[:, :, None]
    a16 = scene(rng, 211, 140).astype(np.uint16) * 256 + low
    path = os.path.join(OUT, "rgb16.png")
    data = png_rgb16(a16)
    atomic(path, lambda t: open(t, "wb").write(data))
    files.append(("rgb16", path))

    w, h = 203, 117
    small = scene(rng, (w + 15) // 16, (h + 15) // 16)
    mosaic = np.repeat(np.repeat(small, 16, axis=0), 16, axis=1)[:h, :w]
    files.append(("jpeg", save_pil(Image.fromarray(np.ascontiguousarray(mosaic), "RGB"), "jpeg.jpg",
                                   format="JPEG", quality=90, subsampling=2)))
    return files


def sha256(t):
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()


NAMES = [("rgb", "rgb.png"), ("rgba", "rgba.png"), ("pal", "pal.png"), ("gray", "gray.png"),
         ("rgb16", "rgb16.png"), ("jpeg", "jpeg.jpg")]


@torch.no_grad()
def main():
    global GOLD
    torch.set_grad_enabled(False)
    if "--outputs" in sys.argv[1:]:
        GOLD = os.environ.get("CSAD_GOLDEN_OUT") or OUT
        files = [(n, os.path.join(OUT, f)) for n, f in NAMES]
    else:
        os.makedirs(OUT, exist_ok=True)
        rng = np.random.default_rng(SEED)
        files = make_images(rng)
        assert [(n, os.path.basename(p)) for n, p in files] == NAMES
    os.makedirs(GOLD, exist_ok=True)

    cfg = csad_ref.small_config(5)
    model = csad_ref.CSAD(cfg)
    model.load_state_dict(torch.load(MODEL), strict=True)
    model.eval()
    with open(MODEL, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()

    prep = transforms.Compose([transforms.Resize((256, 256)), transforms.ToTensor(),
                               transforms.Normalize(MEAN, STD)])
    tensors, images = [], []
    for name, path in files:
        src = Image.open(path)
        mode = src.mode
        rgb = src.convert("RGB")
        x = prep(rgb).unsqueeze(0)                       # (1,3,256,256), one image per forward
        out = model.detail(x)
        for k in ("output", "lgst", "ph"):
            assert torch.isfinite(out[k]).all(), (name, k, out[k])
        amap = F.interpolate((out["m_l"] + out["m_g"]).unsqueeze(1), size=(rgb.height, rgb.width),
                             mode="bilinear", align_corners=False)
        tensors += [(f"{name}/score", out["output"].contiguous()), (f"{name}/lgst", out["lgst"].contiguous()),
                    (f"{name}/patch_hist", out["ph"].contiguous()),
                    (f"{name}/local", out["m_l"][0].contiguous()), (f"{name}/global", out["m_g"][0].contiguous())]
        seg = out["seg"][0].to(torch.uint8).numpy()
        save_pil(Image.fromarray(seg, "L"), f"seg_{name}.png", dest=GOLD, optimize=True)
        images.append({"name": name, "file": os.path.basename(path), "mode": mode, "width": rgb.width,
                       "height": rgb.height, "input_sha256": sha256(x), "anomaly_map_sha256": sha256(amap)})
        print(f"{os.path.basename(path):10s} {mode:5s} {rgb.width}×{rgb.height}: score {float(out['output']):.5f} "
              f"lgst {float(out['lgst']):.5f} patch_hist {float(out['ph']):.5f} "
              f"classes {np.bincount(seg.ravel(), minlength=5).tolist()}")

    meta = {"images": json.dumps(images, separators=(",", ":")), "model_sha256": model_sha,
            "config": json.dumps(cfg, separators=(",", ":")), "torch_version": torch.__version__,
            "torchvision_version": torchvision.__version__, "pillow_version": PIL.__version__,
            "num_threads": str(torch.get_num_threads())}
    write_safetensors(os.path.join(GOLD, "golden.safetensors"), tensors, meta)
    total = sum(os.path.getsize(os.path.join(GOLD, f)) for f in os.listdir(GOLD))
    print(f"wrote {len(os.listdir(GOLD))} files to {GOLD} ({total} bytes)")


if __name__ == "__main__":
    main()
