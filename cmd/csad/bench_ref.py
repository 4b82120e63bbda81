"""Python side of 'csad bench': times the same .csad model in eager PyTorch, the official way.

The csad binary writes this script next to csad_ref.py (package csad/pyref, the one Python
source of the model) in a temporary folder and runs

    python3 bench_ref.py --model M.csad --batches 1,8 --threads N --warmup W --iters K --seed S

It reads the .csad file itself (safetensors: 8-byte little-endian header length, JSON header with
dtype/shape/data_offsets per tensor and __metadata__["csad"] = the csad-go Header, whose "config"
is csad_ref's config dict), builds csad_ref.CSAD(config), load_state_dict(strict=True), eval(),
torch.set_num_threads(N), and per batch size B: x = torch.randn(B, 3, 256, 256) right after
torch.manual_seed(S) (the Go side draws the same), W warm-up calls, then K timed calls of model(x)
under torch.no_grad(). Peak RSS is VmHWM of /proc/self/status, reset through
/proc/self/clear_refs (after malloc_trim) before each batch size where the kernel allows. With --flops it also counts
the convolutions' multiply-accumulates with forward hooks on every nn.Conv2d in one batch-1 pass
(out.numel() / B * in_channels / groups * kh * kw, times 2).

Prints one JSON object on stdout; progress goes to stderr.
"""

import argparse
import ctypes
import json
import os
import struct
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csad_ref  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
          "U8": torch.uint8, "BOOL": torch.bool}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_csad(path):
    """Returns (header dict, state dict) of a .csad (safetensors) file."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (n,) = struct.unpack_from("<Q", data, 0)
    meta = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    info = meta.pop("__metadata__", {}) or {}
    if "csad" not in info:
        raise SystemExit(f"{path}: no csad header (not a .csad file)")
    header = json.loads(info["csad"])
    sd = {}
    for name, t in meta.items():
        dt = DTYPES[t["dtype"]]
        start, end = t["data_offsets"]
        count = 1
        for d in t["shape"]:
            count *= d
        if count == 0:
            sd[name] = torch.empty(t["shape"], dtype=dt)
            continue
        # frombuffer shares data's memory; clone so the file buffer can be dropped.
        sd[name] = torch.frombuffer(data, dtype=dt, count=count, offset=base + start).reshape(t["shape"]).clone()
    return header, sd


def reset_peak():
    try:  # hand glibc's free heap memory back first, as the Go side does
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def count_flops(model, size):
    macs = [0]

    def hook(mod, inp, out):
        macs[0] += out.numel() // out.shape[0] * (mod.in_channels // mod.groups) * \
            mod.kernel_size[0] * mod.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    finally:
        for h in hs:
            h.remove()
    return 2 * macs[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flops", action="store_true")
    a = ap.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    header, sd = read_csad(a.model)
    cfg = header["config"]
    model = csad_ref.CSAD(cfg)
    model.load_state_dict(sd, strict=True)
    model.eval()
    del sd
    size = cfg["image_size"]
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    if a.flops:
        out["flops"] = count_flops(model, size)
    for b in [int(v) for v in a.batches.split(",") if v]:
        torch.manual_seed(a.seed)
        x = torch.randn(b, 3, size, size)
        reset_ok = reset_peak()
        lat = []
        scores = None
        with torch.no_grad():
            for _ in range(a.warmup):
                model(x)
            for i in range(a.iters):
                t0 = time.perf_counter()
                y = model(x)
                lat.append(time.perf_counter() - t0)
                if i == 0:
                    scores = y.tolist()
                del y
        total = sum(lat)
        r = {"batch": b, "latencies_s": lat, "total_s": total,
             "images_per_s": b * len(lat) / total if total > 0 else 0.0,
             "peak_rss_bytes": peak_rss(), "peak_rss_reset": reset_ok, "scores": scores}
        out["results"].append(r)
        log(f"python: batch {b}: {r['images_per_s']:.3f} images/s")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
