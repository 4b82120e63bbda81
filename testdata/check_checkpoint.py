#!/usr/bin/python3
"""Check that torch.load reads a checkpoint to exactly the expected values.

Usage: check_checkpoint.py [--no-weights-only-before=MAJOR] FILE EXPECTED.json

The file is loaded twice, with weights_only=False and weights_only=True, and each result is
encoded as in encode() below and compared with EXPECTED.json for equality: tensors by dtype,
shape, requires_grad and their raw bytes, floats by their bit patterns. With
--no-weights-only-before=2 the weights_only load is skipped on PyTorch older than 2 (1.13's
restricted unpickler lacks the BINFLOAT opcode that every Python float needs).

The Go tests of torch/checkpoint run this with Debian's python3-torch; encode() is also used
by gen_checkpoint_fixtures.py to write the expected values of the fixtures.
"""
import collections
import json
import struct
import sys

import torch

DTYPES = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
    torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
}


def tensor_bytes(t):
    t = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return bytes(t.view(torch.uint8).tolist())


def encode(obj):
    """Encode a loaded value as JSON that keeps every distinction the Go side makes."""
    if isinstance(obj, torch.Tensor):
        return {"tensor": {
            "dtype": DTYPES[obj.dtype],
            "shape": list(obj.shape),
            "requires_grad": bool(obj.requires_grad),
            "hex": tensor_bytes(obj).hex(),
        }}
    if isinstance(obj, dict):  # OrderedDict too
        items = []
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"unsupported key {k!r}")
            items.append([k, encode(v)])
        return {"dict": items}
    if isinstance(obj, list):
        return {"list": [encode(v) for v in obj]}
    if isinstance(obj, tuple):
        return {"tuple": [encode(v) for v in obj]}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return {"int": str(obj)}
    if isinstance(obj, float):
        return {"float": struct.pack(">d", obj).hex()}
    raise TypeError(f"unsupported value {type(obj).__name__}")


def main(argv):
    skip_wo_before = 0
    args = []
    for a in argv[1:]:
        if a.startswith("--no-weights-only-before="):
            skip_wo_before = int(a.split("=", 1)[1])
        else:
            args.append(a)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, expected_path = args
    with open(expected_path) as f:
        expected = json.load(f)
    major = int(torch.__version__.split(".")[0])
    modes = [False]
    if major >= skip_wo_before:
        modes.append(True)
    for wo in modes:
        got = encode(torch.load(path, weights_only=wo))
        if got != expected:
            print(f"mismatch with weights_only={wo}\n got: {json.dumps(got)}\nwant: {json.dumps(expected)}",
                  file=sys.stderr)
            return 1
    print(f"ok: torch {torch.__version__}, weights_only in {modes}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
