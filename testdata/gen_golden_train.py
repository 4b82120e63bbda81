#!/usr/bin/python3
"""Writes testdata/golden/train.safetensors (+ net_script.pt, adam_state.pth): default layer
initialisation after a seed, 20 Adam+StepLR training steps and 10 SGD-momentum steps of a small
conv net, and a TorchScript export of it, computed by Debian's PyTorch.

    /usr/bin/python3 testdata/gen_golden_train.py

torch/nn and torch/optim tests rebuild the same net in Go and compare bit for bit.
"""

import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import write_safetensors  # noqa: E402

# CSAD_GOLDEN_OUT: the output folder (see gen_golden.py: goldens are made on the machine under test).
HERE = os.environ.get("CSAD_GOLDEN_OUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 6, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Dropout(0.25))
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def main():
    T = []
    torch.manual_seed(0)
    net = Net()
    init = {k: v.clone() for k, v in net.state_dict().items()}
    for k, v in init.items():
        T.append(("init/" + k, v))
    torch.manual_seed(100)
    x = torch.randn(20, 4, 3, 8, 8)
    target = torch.randn(20, 4, 2)
    T += [("x", x), ("target", target)]

    # Adam + StepLR, dropout active: the masks come from the generator seeded here.
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    torch.manual_seed(1)
    losses, lrs = [], []
    for i in range(20):
        opt.zero_grad()
        loss = F.mse_loss(net(x[i]), target[i])
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.detach())
        lrs.append(sched.get_last_lr()[0])
    T += [("adam/loss", torch.stack(losses)), ("adam/lr", torch.tensor(lrs, dtype=torch.float64))]
    for k, v in net.state_dict().items():
        T.append(("adam/final/" + k, v.clone()))
    for i, p in enumerate(net.parameters()):
        st = opt.state[p]
        T += [(f"adam/state/{i}/exp_avg", st["exp_avg"]), (f"adam/state/{i}/exp_avg_sq", st["exp_avg_sq"]),
              (f"adam/state/{i}/step", st["step"])]
    torch.save(opt.state_dict(), os.path.join(HERE, "adam_state.pth"))

    net.eval()
    with torch.no_grad():
        T.append(("adam/eval_out", net(x[0])))
        script = torch.jit.trace(net, x[0])
        script.save(os.path.join(HERE, "net_script.pt"))
        T.append(("script/out", script(x[1])))

    # SGD with momentum and Nesterov off, from the same initial weights.
    net2 = Net()
    net2.load_state_dict(init)
    opt2 = torch.optim.SGD(net2.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    torch.manual_seed(2)
    losses2 = []
    for i in range(10):
        opt2.zero_grad()
        loss = F.mse_loss(net2(x[i]), target[i])
        loss.backward()
        opt2.step()
        losses2.append(loss.detach())
    T.append(("sgd/loss", torch.stack(losses2)))
    for k, v in net2.state_dict().items():
        T.append(("sgd/final/" + k, v.clone()))

    meta = {"torch_version": torch.__version__, "num_threads": str(torch.get_num_threads()),
            "param_names": json.dumps([n for n, _ in net.named_parameters()])}
    out = os.path.join(HERE, "train.safetensors")
    write_safetensors(out, T, meta)
    print(f"{len(T)} tensors, {os.path.getsize(out)} bytes -> {out}")


if __name__ == "__main__":
    main()
