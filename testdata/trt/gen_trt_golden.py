"""Fixtures of the TensorRT tests: a tiny graph with the shape of csad.ExportONNX's (input
"input" (batch, 3, 8, 8) float32; float32 and int32 outputs; the csad header in
metadata_props), in float32 and with float16 types, and the outputs numpy computes for a fixed
input. The GPU tests (trt/gpu_test.go) build both with TensorRT and compare; the pure-Go tests
read the metadata and the precision from them on every machine.

Run with Debian's python3-onnx and numpy:  cd testdata/trt && /usr/bin/python3 gen_trt_golden.py
"""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

S, C_IN, C_OUT = 8, 3, 4
rng = np.random.default_rng(0)
W = (rng.standard_normal((C_OUT, C_IN, 3, 3)) * 0.5).astype(np.float32)
B = (rng.standard_normal(C_OUT) * 0.1).astype(np.float32)
HEADER = {"format": "csad-model", "version": 1, "category": "tiny", "normalisers": {"q_st_start": 0.25, "q_st_end": 2.5}}


def graph(fp16):
    wdt = np.float16 if fp16 else np.float32
    nodes, src = [], "input"
    if fp16:
        nodes.append(helper.make_node("Cast", ["input"], ["x16"], to=TensorProto.FLOAT16))
        src = "x16"
    nodes += [
        helper.make_node("Conv", [src, "W", "B"], ["conv"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("ReduceMean", ["relu"], ["score_t"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("ReduceMax", ["relu"], ["local_t"], axes=[1], keepdims=0),
        helper.make_node("ArgMax", ["conv"], ["arg"], axis=1, keepdims=0),
        helper.make_node("Cast", ["arg"], ["segmentation"], to=TensorProto.INT32),
    ]
    for t, name in (("score_t", "score"), ("local_t", "local_map")):
        nodes.append(helper.make_node("Cast", [t], [name], to=TensorProto.FLOAT))
    g = helper.make_graph(
        nodes,
        "tiny_fp16" if fp16 else "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", C_IN, S, S])],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("local_map", TensorProto.FLOAT, ["batch", S, S]),
            helper.make_tensor_value_info("segmentation", TensorProto.INT32, ["batch", S, S]),
        ],
        [numpy_helper.from_array(W.astype(wdt), "W"), numpy_helper.from_array(B.astype(wdt), "B")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="gen_trt_golden.py")
    m.ir_version = 8
    helper.set_model_props(m, {"csad.header": json.dumps(HEADER), "csad.category": "tiny"})
    onnx.checker.check_model(m)
    return m


def reference(x):
    """The graph's outputs in float64, from the float32 weights."""
    n = x.shape[0]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((n, C_OUT, S, S))
    for o in range(C_OUT):
        for i in range(S):
            for j in range(S):
                conv[:, o, i, j] = (xp[:, :, i:i + 3, j:j + 3] * W[o].astype(np.float64)).sum(axis=(1, 2, 3)) + B[o]
    relu = np.maximum(conv, 0)
    return {
        "score": relu.mean(axis=(1, 2, 3)),
        "local_map": relu.max(axis=1),
        "segmentation": conv.argmax(axis=1).astype(np.int32),
    }


onnx.save(graph(False), "tiny.onnx")
onnx.save(graph(True), "tiny_fp16.onnx")
x = np.random.default_rng(1).standard_normal((3, C_IN, S, S)).astype(np.float32)
ref = reference(x)
golden = {
    "input_shape": list(x.shape),
    "input": [float(v) for v in x.ravel()],
    "score": [float(v) for v in ref["score"]],
    "local_map": [float(v) for v in ref["local_map"].ravel()],
    "segmentation": [int(v) for v in ref["segmentation"].ravel()],
}
with open("tiny_golden.json", "w") as f:
    json.dump(golden, f)
print("wrote tiny.onnx, tiny_fp16.onnx, tiny_golden.json")
