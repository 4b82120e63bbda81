#!/usr/bin/python3
"""Paper-size CSAD model for the ONNX export tests (csad/onnx_export_test.go).

    CSAD_GOLDEN_OUT=DIR /usr/bin/python3 testdata/gen_onnx_golden.py

Writes DIR/model_full.pth: the paper config (5 classes) built and calibrated exactly as
gen_model_golden.py --full builds it (make_model: default conv init, random BatchNorm statistics,
normalisers and the patch-histogram detector fitted on random images), without that script's
goldens and torchvision check, which the export tests do not need (about 30 s instead of a few
minutes). The Go test caches the folder per script version and CPU (torchtest.GoldenDir).
"""

import os
import sys
import time

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csad_ref  # noqa: E402
import gen_model_golden as g  # noqa: E402


def main():
    out = os.environ.get("CSAD_GOLDEN_OUT")
    if not out:
        sys.exit("gen_onnx_golden.py: set CSAD_GOLDEN_OUT to the output folder")
    torch.set_grad_enabled(False)
    t0 = time.time()
    model = g.make_model(csad_ref.paper_config(5), g.MODEL_SEED, n_fit=2, n_val=2, n_hist=8)
    g.check_state_dict(model, csad_ref.paper_config(5))
    path = os.path.join(out, "model_full.pth")
    torch.save(model.state_dict(), path)
    g.log(f"wrote {path} ({os.path.getsize(path)} bytes) in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
