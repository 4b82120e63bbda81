#!/usr/bin/python3
"""Check an exported ONNX model with Debian's python3-onnx (1.12, opsets <= 17).

    /usr/bin/python3 testdata/check_onnx.py MODEL.onnx [EXPECT.json]

1. onnx.checker.check_model(full_check=True): the proto, every operator against its schema at
   the model's opset, and strict shape/type inference.
2. onnx.shape_inference.infer_shapes(strict_mode=True, data_prop=True) on a copy whose graph
   outputs have their shapes removed: inference must derive each output's element type and
   shape by itself from the input (with the exporter's value_info for intermediates, which it
   checks against its own inference node by node, failing on any conflict), and every value in
   the graph must end with a complete shape (no unknown dims).
3. With EXPECT.json ({"opset", "ir_version", "batch", "inputs", "outputs", "metadata"} where
   inputs/outputs are lists of {"name", "dtype", "dims"} without the batch axis, and metadata a
   list of keys that must be present): the opset, IR version, graph input/outputs in order with
   their declared and inferred types, and the metadata keys.

Prints one JSON line (opset, ir_version, nodes, initializers, outputs with inferred shapes) and
exits 0, or prints the failure and exits 1.
"""

import json
import sys

import onnx
from onnx import shape_inference

DTYPES = {"float32": onnx.TensorProto.FLOAT, "float16": onnx.TensorProto.FLOAT16,
          "int32": onnx.TensorProto.INT32, "int64": onnx.TensorProto.INT64}


def dims(vi):
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else "?")
            for d in t.shape.dim]


def fail(msg):
    print("check_onnx: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: check_onnx.py MODEL.onnx [EXPECT.json]")
    model = onnx.load(sys.argv[1])
    expect = None
    if len(sys.argv) == 3:
        with open(sys.argv[2]) as f:
            expect = json.load(f)

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 — report whatever the checker raises
        fail("onnx.checker.check_model(full_check=True): %s" % e)

    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    for o in bare.graph.output:
        o.type.tensor_type.ClearField("shape")
    try:
        inferred = shape_inference.infer_shapes(bare, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001
        fail("strict shape inference: %s" % e)

    typed = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output) +
             list(inferred.graph.input)}
    for init in inferred.graph.initializer:
        typed.setdefault(init.name, None)
    for node in inferred.graph.node:
        for out in node.output:
            vi = typed.get(out)
            if vi is None:
                fail("node %s (%s): output %s has no inferred type" % (node.name, node.op_type, out))
            d = dims(vi)
            if d is None or any(x == "?" or (isinstance(x, str) and x.startswith("unk__")) for x in d):
                fail("node %s (%s): output %s has an incomplete shape %s" % (node.name, node.op_type, out, d))

    outs = {o.name: o for o in inferred.graph.output}
    report = {"opset": {o.domain: o.version for o in model.opset_import}.get("", 0),
              "ir_version": model.ir_version, "nodes": len(model.graph.node),
              "initializers": len(model.graph.initializer),
              "outputs": {o.name: dims(o) for o in inferred.graph.output}}

    if expect is not None:
        if report["opset"] != expect["opset"]:
            fail("opset %d, want %d" % (report["opset"], expect["opset"]))
        if model.ir_version != expect["ir_version"]:
            fail("IR version %d, want %d" % (model.ir_version, expect["ir_version"]))
        batch = expect["batch"]
        for kind, got in (("input", model.graph.input), ("output", model.graph.output)):
            want = expect[kind + "s"]
            if [v.name for v in got] != [w["name"] for w in want]:
                fail("%ss %s, want %s" % (kind, [v.name for v in got], [w["name"] for w in want]))
            for v, w in zip(got, want):
                sources = [("declared", v)]
                if kind == "output":
                    sources.append(("inferred", outs[v.name]))
                for how, vi in sources:
                    if vi.type.tensor_type.elem_type != DTYPES[w["dtype"]]:
                        fail("%s %s %s: elem type %d, want %s" % (how, kind, v.name, vi.type.tensor_type.elem_type, w["dtype"]))
                    if dims(vi) != [batch] + list(w["dims"] or []):
                        fail("%s %s %s: shape %s, want %s" % (how, kind, v.name, dims(vi), [batch] + list(w["dims"] or [])))
        keys = {p.key for p in model.metadata_props}
        for k in expect.get("metadata", []):
            if k not in keys:
                fail("metadata_props lacks %r (has %s)" % (k, sorted(keys)))
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
