#!/usr/bin/python3
"""The Python route to ONNX, for comparison with csad-go's exporter (BenchmarkONNXGraph).

    /usr/bin/python3 testdata/export_torch_onnx.py MODEL.pth CONFIG_JSON OUT.onnx

Loads the plain state dict MODEL.pth into the reference model (testdata/csad_ref.py, config
CONFIG_JSON as csad.Config.JSON writes it) and exports it as the official export_model.py does
(spec §7.3): torch.onnx.export in eval mode with a random (1, 3, S, S) input, opset 17, constant
folding, input "input", output "output", dynamic axis 0 on both, then onnx.checker. Tracing
unrolls the detector's per-sample loop for batch 1, so for B > 1 this graph gives every sample
the patch-histogram term of sample 0: fine for timing batch 1, wrong for scoring batches.
"""

import json
import os
import sys

import onnx
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csad_ref  # noqa: E402


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: export_torch_onnx.py MODEL.pth CONFIG_JSON OUT.onnx")
    pth, cfg, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    model = csad_ref.CSAD(cfg)
    model.load_state_dict(torch.load(pth), strict=True)
    model.eval()
    s = cfg["image_size"]
    torch.manual_seed(0)
    x = torch.randn(1, 3, s, s)
    with torch.no_grad():
        torch.onnx.export(model, x, out, opset_version=17, do_constant_folding=True,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}})
    onnx.checker.check_model(onnx.load(out))
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
