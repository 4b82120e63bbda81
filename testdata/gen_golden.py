#!/usr/bin/python3
"""Writes testdata/golden/ops.safetensors: golden inputs, outputs and gradients of the operators
wrapped by csad-go's torch package, computed by PyTorch itself.

Run from the repository root with Debian's PyTorch (the same LibTorch the shim links):

    /usr/bin/python3 testdata/gen_golden.py

torch/golden_ops_test.go replays every case through the Go API and compares bit for bit.

File layout (safetensors, written by hand because the safetensors package is not installed):

    <case>/in/<name>    an input, stored before the operator runs (batch_norm mutates some)
    <case>/out/<i>      the i-th output
    <case>/g            a seeded random tensor shaped like out/0 (differentiable cases only)
    <case>/grad/<name>  d((out/0 * g).sum()) / d in/<name>

__metadata__ holds strings: "torch_version", "num_threads" (reductions and convolutions may
split work differently with another thread count, so the Go test uses the same one) and
"cases", a JSON list of {"name", "op", "params", "inputs", "grads", "outputs"} in file order.
"""

import json
import os
import struct
import zlib

import torch
import torch.nn.functional as F

# CSAD_GOLDEN_OUT: the folder to write to. The Go tests set it (torchtest.GoldenDir) and run this
# script on the machine under test, because LibTorch picks CPU kernels by instruction set and the
# last bits of a convolution differ between, say, an AVX2 and an AVX-512 machine.
GOLDEN_DIR = os.environ.get("CSAD_GOLDEN_OUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
OUT = os.path.join(GOLDEN_DIR, "ops.safetensors")

CASES = []     # metadata, in order
TENSORS = []   # (name, tensor), in order


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def case(name, op, params, inputs, fn, grads=()):
    """Registers one case. inputs: dict name -> tensor (created under the case's seed);
    fn(inputs, params) -> tensor or list of tensors; grads: names of float inputs to differentiate."""
    assert name not in (c["name"] for c in CASES), name
    stored = {k: v.detach().clone() for k, v in inputs.items()}
    live = {}
    for k, v in inputs.items():
        v = v.detach().clone()
        if k in grads:
            v.requires_grad_(True)
        live[k] = v
    out = fn(live, params)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    for k, v in stored.items():
        TENSORS.append((f"{name}/in/{k}", v))
    for i, o in enumerate(outs):
        TENSORS.append((f"{name}/out/{i}", o.detach().clone()))
    if grads:
        torch.manual_seed(seed_of(name + "/g"))
        g = torch.randn(outs[0].shape, dtype=outs[0].dtype)
        (outs[0] * g).sum().backward()
        TENSORS.append((f"{name}/g", g))
        for k in grads:
            assert live[k].grad is not None, (name, k)
            TENSORS.append((f"{name}/grad/{k}", live[k].grad.detach().clone()))
    CASES.append({"name": name, "op": op, "params": params, "inputs": list(inputs),
                  "grads": list(grads), "outputs": len(outs)})


def seeded(name):
    torch.manual_seed(seed_of(name))


def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


def ints_as_float(lo, hi, *shape):
    """Small integer values as float32, so comparisons hit ties."""
    return torch.randint(lo, hi, shape).to(torch.float32)


# ---------------------------------------------------------------------------------------------
# NN operators

def conv2d(name, p, n, cin, h, w, cout, k, bias=True, dtype=torch.float32):
    seeded(name)
    ins = {"x": randn(n, cin, h, w, dtype=dtype),
           "w": randn(cout, cin // p.get("groups", 1), k[0], k[1], dtype=dtype)}
    if bias:
        ins["b"] = randn(cout, dtype=dtype)
    case(name, "conv2d", p, ins,
         lambda t, p: F.conv2d(t["x"], t["w"], t.get("b"), stride=p["stride"], padding=p["padding"],
                               dilation=p["dilation"], groups=p["groups"]),
         grads=list(ins))


def gen_conv():
    conv2d("conv2d/basic", dict(stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1), 2, 3, 7, 7, 4, (3, 3))
    conv2d("conv2d/nobias", dict(stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1), 2, 3, 6, 7, 4, (3, 3),
           bias=False)
    conv2d("conv2d/stride2_pad1", dict(stride=[2, 2], padding=[1, 1], dilation=[1, 1], groups=1), 2, 3, 8, 8, 4, (3, 3))
    conv2d("conv2d/asym", dict(stride=[2, 1], padding=[0, 2], dilation=[1, 1], groups=1), 2, 3, 7, 6, 2, (3, 2))
    conv2d("conv2d/dilation2", dict(stride=[1, 1], padding=[2, 2], dilation=[2, 2], groups=1), 2, 3, 7, 7, 4, (3, 3))
    conv2d("conv2d/groups2", dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=2), 2, 4, 6, 6, 4, (3, 3))
    conv2d("conv2d/depthwise_nobias", dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=4), 2, 4, 5, 5, 4,
           (3, 3), bias=False)
    conv2d("conv2d/f64", dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1), 2, 3, 5, 5, 2, (3, 3),
           dtype=torch.float64)


def gen_batch_norm():
    for name, training, affine in [("batch_norm/train", True, True), ("batch_norm/train_noaffine", True, False),
                                   ("batch_norm/eval", False, True)]:
        seeded(name)
        ins = {"x": randn(2, 3, 4, 5) * 2 + 0.5, "rm": randn(3) * 0.1, "rv": torch.rand(3) + 0.5}
        if affine:
            ins["w"] = randn(3)
            ins["b"] = randn(3)
        p = dict(training=training, momentum=0.1, eps=1e-5)

        def fn(t, p):
            y = F.batch_norm(t["x"], t["rm"], t["rv"], t.get("w"), t.get("b"), training=p["training"],
                             momentum=p["momentum"], eps=p["eps"])
            return [y, t["rm"], t["rv"]]
        case(name, "batch_norm", p, ins, fn, grads=[k for k in ins if k not in ("rm", "rv")])


def gen_pool():
    def relu():
        name = "relu"
        seeded(name)
        x = randn(2, 3, 4, 5)
        x[0, 0, 0, 0] = 0.0
        case(name, "relu", {}, {"x": x}, lambda t, p: F.relu(t["x"]), grads=["x"])
    relu()

    avg = [
        ("avg_pool2d/k2", dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], ceil_mode=False, count_include_pad=True)),
        ("avg_pool2d/pad_incl", dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=False,
                                     count_include_pad=True)),
        ("avg_pool2d/pad_excl", dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=False,
                                     count_include_pad=False)),
        ("avg_pool2d/ceil", dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], ceil_mode=True,
                                 count_include_pad=True)),
        ("avg_pool2d/ceil_pad_excl", dict(kernel=[3, 2], stride=[2, 2], padding=[1, 1], ceil_mode=True,
                                          count_include_pad=False)),
        ("avg_pool2d/asym", dict(kernel=[3, 2], stride=[1, 2], padding=[1, 0], ceil_mode=False,
                                 count_include_pad=True)),
    ]
    for name, p in avg:
        seeded(name)
        case(name, "avg_pool2d", p, {"x": randn(2, 3, 7, 7)},
             lambda t, p: F.avg_pool2d(t["x"], p["kernel"], p["stride"], p["padding"], ceil_mode=p["ceil_mode"],
                                       count_include_pad=p["count_include_pad"]), grads=["x"])

    for name, shape, size in [("adaptive_avg_pool2d/7to3", (2, 3, 7, 7), [3, 3]),
                              ("adaptive_avg_pool2d/9x5to4x3", (2, 3, 9, 5), [4, 3]),
                              ("adaptive_avg_pool2d/5to7", (1, 2, 5, 5), [7, 7]),
                              ("adaptive_avg_pool2d/global", (2, 4, 6, 5), [1, 1])]:
        seeded(name)
        case(name, "adaptive_avg_pool2d", dict(size=size), {"x": randn(*shape)},
             lambda t, p: F.adaptive_avg_pool2d(t["x"], p["size"]), grads=["x"])

    mx = [
        ("max_pool2d/k2", dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=False)),
        ("max_pool2d/k3s2p1", dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[1, 1], ceil_mode=False)),
        ("max_pool2d/dilation2", dict(kernel=[2, 2], stride=[1, 1], padding=[0, 0], dilation=[2, 2],
                                      ceil_mode=False)),
        ("max_pool2d/ceil", dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=True)),
        ("max_pool2d/ceil_pad_dil", dict(kernel=[3, 2], stride=[2, 2], padding=[1, 1], dilation=[1, 2],
                                         ceil_mode=True)),
    ]
    for name, p in mx:
        seeded(name)
        case(name, "max_pool2d", p, {"x": randn(2, 3, 7, 7)},
             lambda t, p: F.max_pool2d(t["x"], p["kernel"], p["stride"], p["padding"], p["dilation"],
                                       ceil_mode=p["ceil_mode"]), grads=["x"])


def gen_interp_pad():
    for name, mode, ac, size in [
        ("interpolate/bilinear_up", "bilinear", False, [9, 7]),
        ("interpolate/bilinear_down", "bilinear", False, [3, 4]),
        ("interpolate/bilinear_up_ac", "bilinear", True, [9, 7]),
        ("interpolate/bilinear_down_ac", "bilinear", True, [3, 4]),
        ("interpolate/nearest_up", "nearest", False, [9, 8]),
        ("interpolate/nearest_down", "nearest", False, [3, 2]),
    ]:
        seeded(name)
        p = dict(size=size, mode=mode, align_corners=ac)
        if mode == "bilinear":
            fn = lambda t, p: F.interpolate(t["x"], size=p["size"], mode="bilinear", align_corners=p["align_corners"])
        else:
            fn = lambda t, p: F.interpolate(t["x"], size=p["size"], mode="nearest")
        case(name, "interpolate", p, {"x": randn(2, 3, 5, 6)}, fn, grads=["x"])

    for name, mode, pad, value, shape in [
        ("pad/constant", "constant", [1, 2, 0, 1], 0.5, (2, 3, 4, 5)),
        ("pad/constant_zero_1d", "constant", [2, 1], 0.0, (2, 3, 4)),
        ("pad/reflect", "reflect", [1, 2, 2, 1], 0.0, (2, 3, 4, 5)),
        ("pad/replicate", "replicate", [2, 1, 1, 3], 0.0, (2, 3, 4, 5)),
        ("pad/replicate_3d_input", "replicate", [1, 1, 2, 0], 0.0, (3, 4, 5)),
        ("pad/reflect_1d", "reflect", [2, 1], 0.0, (2, 3, 5)),
        ("pad/replicate_1d", "replicate", [1, 3], 0.0, (2, 3, 4)),
        ("pad/reflect_3d", "reflect", [1, 0, 1, 1, 0, 1], 0.0, (1, 2, 3, 4, 3)),
        ("pad/replicate_3d", "replicate", [0, 2, 1, 0, 1, 1], 0.0, (1, 2, 3, 3, 4)),
    ]:
        seeded(name)
        p = dict(pad=pad, mode=mode, value=value)
        if mode == "constant":
            fn = lambda t, p: F.pad(t["x"], p["pad"], mode="constant", value=p["value"])
        else:
            fn = lambda t, p: F.pad(t["x"], p["pad"], mode=p["mode"])
        case(name, "pad", p, {"x": randn(*shape)}, fn, grads=["x"])


def gen_misc_nn():
    for name, p in [("dropout/train", dict(p=0.3, training=True, seed=1234)),
                    ("dropout/train_p05", dict(p=0.5, training=True, seed=7)),
                    ("dropout/eval", dict(p=0.3, training=False, seed=1234))]:
        seeded(name)

        def fn(t, p):
            torch.manual_seed(p["seed"])
            return F.dropout(t["x"], p["p"], p["training"])
        case(name, "dropout", p, {"x": randn(4, 25)}, fn, grads=["x"])

    for name, xs, bias in [("linear/2d", (3, 4), True), ("linear/3d", (2, 3, 4), True),
                           ("linear/nobias", (3, 4), False)]:
        seeded(name)
        ins = {"x": randn(*xs), "w": randn(5, 4)}
        if bias:
            ins["b"] = randn(5)
        case(name, "linear", {}, ins, lambda t, p: F.linear(t["x"], t["w"], t.get("b")), grads=list(ins))

    name = "mse_loss"
    seeded(name)
    case(name, "mse_loss", {}, {"x": randn(3, 4), "y": randn(3, 4)},
         lambda t, p: F.mse_loss(t["x"], t["y"]), grads=["x", "y"])

    for name, shape, dim in [("softmax/dim1", (2, 5, 3), 1), ("softmax/last", (3, 7), -1)]:
        seeded(name)
        case(name, "softmax", dict(dim=dim), {"x": randn(*shape) * 3},
             lambda t, p: F.softmax(t["x"], p["dim"]), grads=["x"])
    for name, shape, dim in [("log_softmax/dim1", (2, 5, 3), 1), ("log_softmax/last", (3, 7), -1)]:
        seeded(name)
        case(name, "log_softmax", dict(dim=dim), {"x": randn(*shape) * 3},
             lambda t, p: F.log_softmax(t["x"], p["dim"]), grads=["x"])

    for name, nc in [("one_hot/inferred", -1), ("one_hot/n6", 6)]:
        seeded(name)
        case(name, "one_hot", dict(num_classes=nc), {"idx": torch.randint(0, 5, (2, 4))},
             lambda t, p: F.one_hot(t["idx"], p["num_classes"]))

    name = "sigmoid"
    seeded(name)
    case(name, "sigmoid", {}, {"x": randn(3, 5) * 4}, lambda t, p: torch.sigmoid(t["x"]), grads=["x"])


# ---------------------------------------------------------------------------------------------
# Joining, reductions, elementwise

def gen_join():
    for name, dim in [("cat/dim0", 0), ("cat/dim1", 1), ("cat/last", -1)]:
        seeded(name)
        sa, sb = [2, 3, 4], [2, 3, 4]
        sb[dim] = 2
        case(name, "cat", dict(dim=dim), {"a": randn(*sa), "b": randn(*sb), "c": randn(*sa)},
             lambda t, p: torch.cat([t["a"], t["b"], t["c"]], p["dim"]), grads=["a", "b", "c"])
    for name, dim in [("stack/dim0", 0), ("stack/dim2", 2), ("stack/last", -1)]:
        seeded(name)
        case(name, "stack", dict(dim=dim), {"a": randn(2, 3), "b": randn(2, 3), "c": randn(2, 3)},
             lambda t, p: torch.stack([t["a"], t["b"], t["c"]], p["dim"]), grads=["a", "b", "c"])


def gen_reduce():
    for dims in [[1], [0, 2], [-1]]:
        for kd in [False, True]:
            for op, f in [("sum", torch.sum), ("mean", torch.mean), ("amax", torch.amax)]:
                name = f"{op}/dims{'_'.join(map(str, dims))}_keep{int(kd)}"
                seeded(name)
                case(name, op, dict(dims=dims, keepdim=kd), {"x": randn(3, 4, 5)},
                     lambda t, p, f=f: f(t["x"], p["dims"], keepdim=p["keepdim"]), grads=["x"])
    for op, f in [("sum", torch.sum), ("mean", torch.mean)]:
        name = f"{op}/all"
        seeded(name)
        case(name, op, dict(dims=None, keepdim=False), {"x": randn(4, 6, 5)},
             lambda t, p, f=f: f(t["x"]), grads=["x"])
        name = f"{op}/all_f64"
        seeded(name)
        case(name, op, dict(dims=None, keepdim=False), {"x": randn(40, 33, dtype=torch.float64)},
             lambda t, p, f=f: f(t["x"]), grads=["x"])
    name = "sum/large_dim1"
    seeded(name)
    case(name, "sum", dict(dims=[1], keepdim=False), {"x": randn(3, 257)},
         lambda t, p: torch.sum(t["x"], p["dims"]), grads=["x"])
    for dim in [1, -1]:
        for kd in [False, True]:
            name = f"argmax/dim{dim}_keep{int(kd)}"
            seeded(name)
            case(name, "argmax", dict(dim=dim, keepdim=kd), {"x": randn(3, 4, 5)},
                 lambda t, p: torch.argmax(t["x"], p["dim"], keepdim=p["keepdim"]))
    for op, f in [("std", torch.std), ("var", torch.var)]:
        for dims, corr, kd in [([1], 0, False), ([1], 1, False), ([0, 2], 1, True), (None, 0, False),
                               (None, 1, False)]:
            name = f"{op}/dims{'all' if dims is None else '_'.join(map(str, dims))}_corr{corr}_keep{int(kd)}"
            seeded(name)
            case(name, op, dict(dims=dims, correction=corr, keepdim=kd), {"x": randn(3, 4, 5) * 2 + 1},
                 lambda t, p, f=f: f(t["x"], p["dims"], correction=p["correction"], keepdim=p["keepdim"]),
                 grads=["x"])
    for name, q, dim, kd in [("quantile/scalar_dim1", 0.3, 1, False), ("quantile/scalar_dim0_keep", 0.75, 0, True),
                             ("quantile/scalar_flat", 0.42, None, False), ("quantile/tensor_dim1", [0.1, 0.5, 0.9], 1,
                                                                            False),
                             ("quantile/tensor_flat", [0.0, 0.25, 1.0], None, False),
                             ("quantile/tensor_dim1_keep", [0.2, 0.8], -1, True)]:
        seeded(name)
        ins = {"x": randn(3, 7)}
        if isinstance(q, list):
            ins["q"] = torch.tensor(q, dtype=torch.float32)
            fn = lambda t, p: torch.quantile(t["x"], t["q"], dim=p["dim"], keepdim=p["keepdim"],
                                             interpolation="linear")
        else:
            fn = lambda t, p: torch.quantile(t["x"], p["q"], dim=p["dim"], keepdim=p["keepdim"],
                                             interpolation="linear")
        case(name, "quantile", dict(q=q if not isinstance(q, list) else None, dim=dim, keepdim=kd), ins, fn,
             grads=["x"])


def gen_elementwise():
    def pos(*s):
        return torch.rand(*s) * 3 + 0.1

    for name, e in [("pow/2", 2.0), ("pow/3", 3.0), ("pow/0.5", 0.5), ("pow/-1.5", -1.5)]:
        seeded(name)
        case(name, "pow", dict(e=e), {"x": pos(3, 4)}, lambda t, p: torch.pow(t["x"], p["e"]), grads=["x"])
    for name, f, gen in [("sqrt", torch.sqrt, pos), ("exp", torch.exp, randn), ("log", torch.log, pos),
                         ("abs", torch.abs, randn)]:
        seeded(name)
        case(name, name, {}, {"x": gen(3, 5)}, lambda t, p, f=f: f(t["x"]), grads=["x"])
    name = "sqrt/f64"
    seeded(name)
    case(name, "sqrt", {}, {"x": torch.rand(3, 5, dtype=torch.float64) + 0.1}, lambda t, p: torch.sqrt(t["x"]),
         grads=["x"])
    for name, lo, hi in [("clamp/both", -0.5, 0.7), ("clamp/min", -0.2, None), ("clamp/max", None, 0.3)]:
        seeded(name)
        case(name, "clamp", dict(min=lo, max=hi), {"x": randn(4, 5)},
             lambda t, p: torch.clamp(t["x"], min=p["min"], max=p["max"]), grads=["x"])

    fns = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    for op, f in fns.items():
        for tag, sa, sb in [("same", (3, 4), (3, 4)), ("bcast", (2, 3, 4), (3, 1)), ("bcast2", (4, 1), (1, 5))]:
            name = f"{op}/{tag}"
            seeded(name)
            b = randn(*sb)
            if op == "div":
                b = b.sign() * (b.abs() + 0.5)
            case(name, op, {}, {"a": randn(*sa), "b": b}, lambda t, p, f=f: f(t["a"], t["b"]), grads=["a", "b"])
        name = f"{op}/scalar"
        seeded(name)
        case(name, op + "_scalar", dict(v=2.5 if op != "div" else 3.0), {"a": randn(3, 4)},
             lambda t, p, f=f: f(t["a"], p["v"]), grads=["a"])
        name = f"{op}/scalar_int64"
        seeded(name)
        case(name, op + "_scalar", dict(v=3.0), {"a": torch.randint(-10, 10, (3, 4))},
             lambda t, p, f=f: f(t["a"], 3))
    name = "add/alpha"
    seeded(name)
    case(name, "add_alpha", dict(alpha=-0.75), {"a": randn(3, 4), "b": randn(4)},
         lambda t, p: torch.add(t["a"], t["b"], alpha=p["alpha"]), grads=["a", "b"])
    name = "mul/f64_f32_promote"
    seeded(name)
    case(name, "mul", {}, {"a": randn(3, 4, dtype=torch.float64), "b": randn(4)},
         lambda t, p: torch.mul(t["a"], t["b"]), grads=["a", "b"])

    for name, sa, sb in [("matmul/2d", (3, 4), (4, 5)), ("matmul/batched", (2, 3, 4), (2, 4, 5)),
                         ("matmul/bcast", (2, 3, 4), (4, 5)), ("matmul/bcast_batch", (2, 1, 3, 4), (3, 4, 2)),
                         ("matmul/vec", (2, 3, 4), (4,)), ("matmul/large", (9, 33), (33, 17))]:
        seeded(name)
        case(name, "matmul", {}, {"a": randn(*sa), "b": randn(*sb)}, lambda t, p: torch.matmul(t["a"], t["b"]),
             grads=["a", "b"])

    # Comparisons: integer-valued floats so that ties occur.
    for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
        f = getattr(torch, op)
        name = f"{op}/tensor"
        seeded(name)
        case(name, op, {}, {"a": ints_as_float(-2, 3, 3, 4), "b": ints_as_float(-2, 3, 3, 4)},
             lambda t, p, f=f: f(t["a"], t["b"]))
        name = f"{op}/bcast"
        seeded(name)
        case(name, op, {}, {"a": ints_as_float(-2, 3, 2, 3, 4), "b": ints_as_float(-2, 3, 4)},
             lambda t, p, f=f: f(t["a"], t["b"]))
        name = f"{op}/scalar"
        seeded(name)
        case(name, op + "_scalar", dict(v=1.0), {"a": ints_as_float(-2, 3, 3, 4)},
             lambda t, p, f=f: f(t["a"], p["v"]))
        name = f"{op}/scalar_int64"
        seeded(name)
        case(name, op + "_scalar", dict(v=1.0), {"a": torch.randint(-2, 3, (3, 4))},
             lambda t, p, f=f: f(t["a"], 1))

    for name, sc, sa, sb in [("where/same", (3, 4), (3, 4), (3, 4)), ("where/bcast", (3, 1), (3, 4), (4,))]:
        seeded(name)
        case(name, "where", {}, {"cond": torch.rand(*sc) > 0.5, "a": randn(*sa), "b": randn(*sb)},
             lambda t, p: torch.where(t["cond"], t["a"], t["b"]), grads=["a", "b"])

    name = "sigmoid/f64"
    seeded(name)
    case(name, "sigmoid", {}, {"x": randn(3, 5, dtype=torch.float64) * 4}, lambda t, p: torch.sigmoid(t["x"]),
         grads=["x"])


# ---------------------------------------------------------------------------------------------
# Indexing, views, conversions

def gen_index():
    for name, sx, sm in [("masked_select/same", (3, 4), (3, 4)), ("masked_select/bcast", (2, 3, 4), (3, 1))]:
        seeded(name)
        case(name, "masked_select", {}, {"x": randn(*sx), "mask": torch.rand(*sm) > 0.4},
             lambda t, p: torch.masked_select(t["x"], t["mask"]), grads=["x"])

    name = "index/bool_mask"
    seeded(name)
    case(name, "index_bool", {}, {"x": randn(4, 3, 2), "mask": torch.rand(4, 3) > 0.5},
         lambda t, p: t["x"][t["mask"]], grads=["x"])
    name = "index/bool_rows"
    seeded(name)
    case(name, "index_bool", {}, {"x": randn(5, 3), "mask": torch.tensor([True, False, True, True, False])},
         lambda t, p: t["x"][t["mask"]], grads=["x"])
    name = "index/int_dim0"
    seeded(name)
    case(name, "index_int0", {}, {"x": randn(5, 3), "idx": torch.tensor([4, 0, 2, 0, -1])},
         lambda t, p: t["x"][t["idx"]], grads=["x"])
    name = "index/int_dim1_2d"
    seeded(name)
    case(name, "index_int1", {}, {"x": randn(3, 6, 2), "idx": torch.tensor([[1, 5], [5, 0]])},
         lambda t, p: t["x"][:, t["idx"]], grads=["x"])

    for name, dim, sx, idx, src in [("scatter/dim0", 0, (4, 5), [[1, 0, 3, 2, 0], [3, 2, 0, 1, 1]], (2, 5)),
                                    ("scatter/dim1", 1, (3, 6), [[5, 0, 2], [1, 3, 4], [0, 1, 2]], (3, 3))]:
        seeded(name)
        case(name, "scatter", dict(dim=dim), {"x": randn(*sx), "idx": torch.tensor(idx), "src": randn(*src)},
             lambda t, p: torch.scatter(t["x"], p["dim"], t["idx"], t["src"]), grads=["x", "src"])

    name = "slice/dim1_step2"
    seeded(name)
    case(name, "slice", dict(dim=1, start=1, end=6, step=2), {"x": randn(3, 7, 2)},
         lambda t, p: t["x"][:, 1:6:2], grads=["x"])
    name = "slice/neg_clip"
    seeded(name)
    case(name, "slice", dict(dim=0, start=-3, end=100, step=1), {"x": randn(5, 2)},
         lambda t, p: t["x"][-3:100], grads=["x"])
    name = "narrow"
    seeded(name)
    case(name, "narrow", dict(dim=2, start=1, length=3), {"x": randn(2, 3, 5)},
         lambda t, p: torch.narrow(t["x"], p["dim"], p["start"], p["length"]), grads=["x"])
    name = "permute"
    seeded(name)
    case(name, "permute", dict(dims=[2, 0, 1]), {"x": randn(2, 3, 4)},
         lambda t, p: t["x"].permute(*p["dims"]), grads=["x"])
    name = "permute_contiguous"
    seeded(name)
    case(name, "permute_contiguous", dict(dims=[1, 2, 0]), {"x": randn(2, 3, 4)},
         lambda t, p: t["x"].permute(*p["dims"]).contiguous(), grads=["x"])
    name = "reshape"
    seeded(name)
    case(name, "reshape", dict(shape=[4, -1]), {"x": randn(2, 3, 4)},
         lambda t, p: t["x"].reshape(*p["shape"]), grads=["x"])
    name = "reshape/noncontig"
    seeded(name)
    case(name, "reshape_t", dict(shape=[-1]), {"x": randn(3, 4)},
         lambda t, p: t["x"].t().reshape(*p["shape"]), grads=["x"])

    conv = [("to/f32_f64", torch.float32, torch.float64, True), ("to/f64_f32", torch.float64, torch.float32, True),
            ("to/f32_i64", torch.float32, torch.int64, False), ("to/i64_f32", torch.int64, torch.float32, False),
            ("to/f32_bool", torch.float32, torch.bool, False), ("to/bool_f32", torch.bool, torch.float32, False),
            ("to/f32_u8", torch.float32, torch.uint8, False), ("to/i64_f64", torch.int64, torch.float64, False)]
    for name, src, dst, diff in conv:
        seeded(name)
        if src == torch.int64:
            x = torch.randint(-1000, 1000, (3, 4))
        elif src == torch.bool:
            x = torch.rand(3, 4) > 0.5
        elif dst == torch.uint8:
            x = torch.rand(3, 4) * 255
        elif dst == torch.bool:
            x = torch.randint(-1, 2, (3, 4)).to(src) * torch.rand(3, 4)
        else:
            x = randn(3, 4, dtype=src) * 100
        case(name, "to", dict(dtype=str(dst).replace("torch.", "")), {"x": x},
             lambda t, p, dst=dst: t["x"].to(dst), grads=["x"] if diff else [])


def gen_random():
    for name, seed, dtype in [("random/f32_s0", 0, torch.float32), ("random/f32_s42", 42, torch.float32),
                              ("random/f64_s42", 42, torch.float64)]:
        def fn(t, p, dtype=dtype):
            torch.manual_seed(p["seed"])
            return [torch.randn(3, 4, dtype=dtype),     # < 16 elements: scalar path
                    torch.randn(5, 7, dtype=dtype),     # >= 16 elements: vectorised path
                    torch.rand(4, 5, dtype=dtype),
                    torch.randint(0, 10, (2, 6)),
                    torch.randint(-5, 100, (17,)),
                    torch.randn(2, 3, dtype=dtype)]
        case(name, "random", dict(seed=seed, dtype=str(dtype).replace("torch.", "")), {}, fn)


# ---------------------------------------------------------------------------------------------

ST_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8", torch.bool: "BOOL"}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in tensors:
        b = t.detach().contiguous().numpy().tobytes()
        assert len(b) == t.numel() * t.element_size(), name
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    gen_conv()
    gen_batch_norm()
    gen_pool()
    gen_interp_pad()
    gen_misc_nn()
    gen_join()
    gen_reduce()
    gen_elementwise()
    gen_index()
    gen_random()
    meta = {"torch_version": torch.__version__, "num_threads": str(torch.get_num_threads()),
            "cases": json.dumps(CASES, separators=(",", ":"))}
    write_safetensors(OUT, TENSORS, meta)
    print(f"{len(CASES)} cases, {len(TENSORS)} tensors, {os.path.getsize(OUT)} bytes -> {OUT} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
