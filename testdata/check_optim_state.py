#!/usr/bin/python3
"""Checks that an optimizer state written by csad-go loads into torch.optim.Adam and equals the
state PyTorch itself saved after the same training (bitwise).

    check_optim_state.py GO_STATE.pth PYTHON_STATE.pth
"""
import sys

import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
from gen_golden_train import Net  # noqa: E402


def main(go_path, py_path):
    # Not weights_only: PyTorch 1.13's restricted unpickler rejects floats (BINFLOAT), so it
    # cannot read optimizer states at all, not even its own.
    go = torch.load(go_path)
    py = torch.load(py_path)
    net = Net()
    opt = torch.optim.Adam(net.parameters())
    opt.load_state_dict(go)  # raises if the layout is wrong
    loaded = opt.state_dict()
    # initial_lr is written into the group by an attached lr_scheduler; the Go StepLR keeps it.
    want_groups = [{k: v for k, v in g.items() if k != "initial_lr"} for g in py["param_groups"]]
    assert loaded["param_groups"] == want_groups, (loaded["param_groups"], want_groups)
    assert loaded["state"].keys() == py["state"].keys()
    for i, st in py["state"].items():
        for k, v in st.items():
            g = loaded["state"][i][k]
            assert g.dtype == v.dtype and g.shape == v.shape, (i, k, g.dtype, v.dtype, g.shape, v.shape)
            assert torch.equal(g.view(-1).view(torch.uint8) if g.dim() else g.reshape(1).view(torch.uint8),
                               v.view(-1).view(torch.uint8) if v.dim() else v.reshape(1).view(torch.uint8)), (i, k)
    print("ok: optimizer state identical")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
