#!/usr/bin/python3
"""Python twin of csad/train's BenchmarkForward and BenchmarkForwardRSS: the CSAD unified model
(csad_ref.CSAD, the official forward) read from the same .csad file as the Go side, in eager
PyTorch under torch.no_grad(), as cmd/csad/bench_ref.py times it.

    /usr/bin/python3 testdata/bench_forward.py MODEL THREADS            # paired timing
    /usr/bin/python3 testdata/bench_forward.py MODEL THREADS rss B N    # peak memory

Paired timing protocol (one line each way): on start-up the script loads the model and prints
"ready <torch version>" (or "missing <reason>" and exits 0 when torch cannot be imported, so the
benchmark can skip). Then for each line on stdin:
    warm B  two untimed forward passes at batch B (first-call allocations, kernel selection),
            as the Go side makes before timing that batch size -> prints "warm"    fwd B   one forward pass at batch B -> prints its wall time and the CPU time of the whole
            process (every thread) in seconds, and the minor page faults it took. The input of each batch size is drawn once,
            after torch.manual_seed(0), and reused.
    ops B N N forward passes at batch B under torch.profiler -> one line of JSON, the wall time
            of every ATen operator the model calls directly (its children included):
            {"aten::conv2d": [calls, seconds], ...}
    quit    exits
Anything else prints "error <message>" and exits 1.

Peak memory (rss B N): loads the model, runs N forward passes at batch B and prints
"rss <VmHWM bytes> <VmRSS bytes> <VmHWM after loading>" of this process: the figure a user sees,
load included.

The .csad file is read as bench_ref.py reads it (safetensors: header length, JSON header, raw
tensors); each tensor is cloned out of the file buffer and the buffer dropped before the model
runs, as torch.load does not keep the file either. OpenBLAS runs on one thread, as in the Go test
binary.
"""

import json
import os
import resource
import struct
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"   # read once, when OpenBLAS loads with torch

sys.dont_write_bytecode = True   # no testdata/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def reply(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


try:
    import torch  # noqa: E402
    import csad_ref  # noqa: E402
except ImportError as e:   # the Go benchmark skips on this answer
    reply(f"missing {e}")
    sys.exit(0)

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32,
          "U8": torch.uint8, "BOOL": torch.bool}


def load(path):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (n,) = struct.unpack_from("<Q", data, 0)
    meta = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    header = json.loads((meta.pop("__metadata__", {}) or {})["csad"])
    sd = {}
    for name, t in meta.items():
        count = 1
        for d in t["shape"]:
            count *= d
        dt = DTYPES[t["dtype"]]
        if count == 0:
            sd[name] = torch.empty(t["shape"], dtype=dt)
            continue
        sd[name] = torch.frombuffer(data, dtype=dt, count=count,
                                    offset=base + t["data_offsets"][0]).reshape(t["shape"]).clone()
    del data
    model = csad_ref.CSAD(header["config"])
    model.load_state_dict(sd, strict=True)
    del sd
    model.eval()
    return model, header["config"]["image_size"]


def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def op_times(model, x, n):
    """Wall time per ATen operator called by the model itself (the top level of torch.profiler's
    CPU events, children folded in), summed over n forward passes: {name: [calls, seconds]}."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            model(x)
    out = {}
    for e in prof.events():
        if e.cpu_parent is None and e.name.startswith("aten::"):
            c = out.setdefault(e.name, [0, 0.0])
            c[0] += 1
            c[1] += e.cpu_time_total * 1e-6
    return out


def main():
    path, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    model, size = load(path)
    if len(sys.argv) > 3 and sys.argv[3] == "rss":
        loaded = status("VmHWM")
        b, n = int(sys.argv[4]), int(sys.argv[5])
        torch.manual_seed(0)
        x = torch.randn(b, 3, size, size)
        with torch.no_grad():
            for _ in range(n):
                y = model(x)
                del y
        reply(f"rss {status('VmHWM')} {status('VmRSS')} {loaded}")
        return
    inputs = {}

    def batch(b):
        if b not in inputs:
            torch.manual_seed(0)
            inputs[b] = torch.randn(b, 3, size, size)
        return inputs[b]

    reply(f"ready {torch.__version__}")
    with torch.no_grad():
        for line in sys.stdin:
            cmd = line.split()
            if cmd == ["quit"]:
                return
            if cmd and cmd[0] == "ops" and len(cmd) == 3 and cmd[1].isdigit() and cmd[2].isdigit():
                reply(json.dumps(op_times(model, batch(int(cmd[1])), int(cmd[2]))))
                continue
            if len(cmd) != 2 or cmd[0] not in ("warm", "fwd") or not cmd[1].isdigit() or int(cmd[1]) < 1:
                reply(f"error unknown command {line.strip()!r}: want 'warm B', 'fwd B', 'ops B N' or quit")
                sys.exit(1)
            x = batch(int(cmd[1]))
            if cmd[0] == "warm":
                for _ in range(2):
                    model(x)
                reply("warm")
                continue
            f0, c0, t0 = faults(), time.process_time(), time.perf_counter()
            y = model(x)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            del y
            reply(f"{dt!r} {dc!r} {faults() - f0}")

if __name__ == "__main__":
    main()
