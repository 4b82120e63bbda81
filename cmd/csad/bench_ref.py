"""Python side of 'csad bench': the same .csad model in eager PyTorch, the official way, as a worker
that times one forward pass whenever the Go side asks, so that its calls interleave with Go's.

The csad binary writes this script next to csad_ref.py (package csad/pyref, the one Python
source of the model) in a temporary folder and runs

    python3 bench_ref.py --model M.csad --batches 1,8 --threads N --seed S [--flops] [--autocast-bf16]

It reads the .csad file itself (safetensors: 8-byte little-endian header length, JSON header with
dtype/shape/data_offsets per tensor and __metadata__["csad"] = the csad-go Header, whose "config"
is csad_ref's config dict), builds csad_ref.CSAD(config), load_state_dict(strict=True), eval(),
torch.set_num_threads(N), and for each batch size B draws x = torch.randn(B, 3, S, S) right after
torch.manual_seed(S) (the Go side draws the same). With --flops it counts the convolutions'
multiply-accumulates with forward hooks on every nn.Conv2d in one batch-1 pass
(out.numel() / B * in_channels / groups * kh * kw, times 2). With --autocast-bf16 every call runs
under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's own mixed precision: the peer of
csad-go's bfloat16 fast mode.

Then it answers one JSON line on stdout per line on stdin:

    (start-up)  {"ready": true, "torch": "1.13.1", "threads": N, "flops": F}
    run B       one timed call model(x_B) under torch.no_grad():
                {"seconds": 0.51, "scores": [...]}; "scores" on the first call of each B only
    rss         {"peak_rss_bytes": VmHWM of this process, load included}
    quit        exits (so does end of input)

A failure answers {"error": "..."} and exits 1. Progress and tracebacks go to stderr.
"""

import argparse
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


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def read_csad(path):
    """Returns (header dict, state dict) of a .csad (safetensors) file."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (n,) = struct.unpack_from("<Q", data, 0)
    meta = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    info = meta.pop("__metadata__", {}) or {}
    if "csad" not in info:
        raise ValueError(f"{path}: no csad header (not a .csad file)")
    header = json.loads(info["csad"])
    sd = {}
    for name, t in meta.items():
        dt = DTYPES[t["dtype"]]
        start, _ = t["data_offsets"]
        count = 1
        for d in t["shape"]:
            count *= d
        if count == 0:
            sd[name] = torch.empty(t["shape"], dtype=dt)
            continue
        # frombuffer shares data's memory; clone so the file buffer can be dropped, as
        # torch.load does not keep the file either.
        sd[name] = torch.frombuffer(data, dtype=dt, count=count, offset=base + start).reshape(t["shape"]).clone()
    return header, sd


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
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


def serve(model, inputs, lines, autocast):
    scored = set()
    for line in lines:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            return
        if cmd[0] == "rss":
            reply({"peak_rss_bytes": peak_rss()})
            continue
        if cmd[0] != "run" or len(cmd) != 2 or not cmd[1].isdigit() or int(cmd[1]) not in inputs:
            raise ValueError(f"unknown request {line.strip()!r}: want 'run B' (B one of "
                             f"{sorted(inputs)}), 'rss' or 'quit'")
        b = int(cmd[1])
        x = inputs[b]
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            t0 = time.perf_counter()
            y = model(x)
            secs = time.perf_counter() - t0
        out = {"seconds": secs}
        if b not in scored:
            out["scores"] = y.float().tolist()
            scored.add(b)
        del y
        reply(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", default="1")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flops", action="store_true")
    ap.add_argument("--autocast-bf16", action="store_true")
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
    inputs = {}
    for b in sorted({int(v) for v in a.batches.split(",") if v}):
        torch.manual_seed(a.seed)
        inputs[b] = torch.randn(b, 3, size, size)
    ready = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if a.flops:
        ready["flops"] = count_flops(model, size)
    reply(ready)
    serve(model, inputs, sys.stdin, a.autocast_bf16)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the Go side reads the reason from this line
        import traceback
        traceback.print_exc(file=sys.stderr)
        reply({"error": f"{type(e).__name__}: {e}"})
        sys.exit(1)
