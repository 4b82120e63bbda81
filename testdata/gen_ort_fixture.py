#!/usr/bin/python3
"""Writes the ONNX Runtime test fixtures of package ort and their expected outputs.

Run from the repository root: /usr/bin/python3 testdata/gen_ort_fixture.py
(Debian's python3-onnx 1.12 and NumPy; no ONNX Runtime is needed, the expected outputs are
computed here with NumPy).

testdata/ort/fixture.onnx (opset 13), inputs
  input   float32 [batch, 3, 4, 4]
  shift   int32   [batch]
  offset  int64   []            (a scalar input)
outputs
  features float32 [batch, 2, 4, 4]  Conv 3x3, pad 1, known weights and bias
  label    int64   [batch, 4, 4]     ArgMax over channels + shift[b] + offset
  label32  int32   [batch, 4, 4]     Cast(label)
  total    float32 []                ReduceSum(features) (a scalar output)
metadata_props: csad.kind=ort-fixture, csad.version=1.

Weights are multiples of 1/8 and inputs multiples of 1/16, so every product and partial sum is
exact in float32 whatever the summation order: the Go test compares features and total bitwise.
Channel 1's bias has an extra 1/256, which no sum of the other terms can cancel, so ArgMax has
no ties.

testdata/ort/fp16_in.onnx:  x float16 [2] -> Cast float32 -> y float32 [2]
testdata/ort/fp16_out.onnx: x float32 [2] -> Cast float16 -> y float16 [2]  (NewSession refuses it)
testdata/ort/add_unnamed.onnx: a float32 [?] + b float32 [?] -> c (dynamic dims without names,
  so mismatched lengths pass package ort's checks and fail inside ONNX Runtime)
testdata/ort/fixture_expected.json: the test input (batch 2) and the expected outputs.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort")


def conv3x3(x, w, b):
    n, c, h, wd = x.shape
    o = w.shape[0]
    xp = np.zeros((n, c, h + 2, wd + 2), np.float64)
    xp[:, :, 1:-1, 1:-1] = x
    y = np.zeros((n, o, h, wd), np.float64)
    for k in range(o):
        for i in range(h):
            for j in range(wd):
                y[:, k, i, j] = (xp[:, :, i:i + 3, j:j + 3] * w[k]).sum(axis=(1, 2, 3)) + b[k]
    return y


def save(model, name):
    onnx.checker.check_model(model)
    path = os.path.join(OUT, name)
    data = model.SerializeToString()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    w = rng.integers(-4, 5, size=(2, 3, 3, 3)).astype(np.float32) / 8
    b = np.array([0.25, -0.125 + 1.0 / 256], np.float32)

    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["features"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("ArgMax", ["features"], ["am"], axis=1, keepdims=0),
        helper.make_node("Cast", ["shift"], ["shift64"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["shift64", "axes12"], ["shift3"]),
        helper.make_node("Add", ["am", "shift3"], ["am_shift"]),
        helper.make_node("Add", ["am_shift", "offset"], ["label"]),
        helper.make_node("Cast", ["label"], ["label32"], to=TensorProto.INT32),
        helper.make_node("ReduceSum", ["features"], ["total"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "ort_fixture",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 4, 4]),
            helper.make_tensor_value_info("shift", TensorProto.INT32, ["batch"]),
            helper.make_tensor_value_info("offset", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 2, 4, 4]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch", 4, 4]),
            helper.make_tensor_value_info("label32", TensorProto.INT32, ["batch", 4, 4]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
        ],
        initializer=[
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(b, "b"),
            numpy_helper.from_array(np.array([1, 2], np.int64), "axes12"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gen_ort_fixture.py")
    model.ir_version = 8  # ONNX 1.12's default is fine for ORT; pinned so the bytes do not drift
    helper.set_model_props(model, {"csad.kind": "ort-fixture", "csad.version": "1"})
    save(model, "fixture.onnx")

    x = rng.integers(-8, 9, size=(2, 3, 4, 4)).astype(np.float32) / 16
    shift = np.array([0, 10], np.int32)
    offset = np.int64(100)
    feats = conv3x3(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    f32 = feats.astype(np.float32)
    assert np.array_equal(f32.astype(np.float64), feats), "features not exact in float32"
    assert not np.any(f32[:, 0] == f32[:, 1]), "ArgMax tie"
    label = f32.argmax(axis=1).astype(np.int64) + shift.astype(np.int64)[:, None, None] + offset
    total = feats.sum()
    assert float(np.float32(total)) == total, "total not exact in float32"

    expected = {
        "tolerance": "bitwise: every value is a dyadic rational exact in float32",
        "inputs": {
            "input": {"shape": list(x.shape), "data": x.ravel().tolist()},
            "shift": {"shape": list(shift.shape), "data": shift.tolist()},
            "offset": {"shape": [], "data": [int(offset)]},
        },
        "outputs": {
            "features": {"shape": list(f32.shape), "data": f32.ravel().tolist()},
            "label": {"shape": list(label.shape), "data": label.ravel().tolist()},
            "label32": {"shape": list(label.shape), "data": label.ravel().tolist()},
            "total": {"shape": [], "data": [float(total)]},
        },
        "metadata": {"csad.kind": "ort-fixture", "csad.version": "1"},
    }
    path = os.path.join(OUT, "fixture_expected.json")
    with open(path + ".tmp", "w") as f:
        json.dump(expected, f, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)

    for name, tin, tout in [("fp16_in.onnx", TensorProto.FLOAT16, TensorProto.FLOAT),
                            ("fp16_out.onnx", TensorProto.FLOAT, TensorProto.FLOAT16)]:
        g = helper.make_graph(
            [helper.make_node("Cast", ["x"], ["y"], to=tout)], name[:-5],
            [helper.make_tensor_value_info("x", tin, [2])],
            [helper.make_tensor_value_info("y", tout, [2])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="gen_ort_fixture.py")
        m.ir_version = 8
        save(m, name)

    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])], "add_unnamed",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [None])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="gen_ort_fixture.py")
    m.ir_version = 8
    save(m, "add_unnamed.onnx")


if __name__ == "__main__":
    main()
