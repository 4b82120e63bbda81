#!/usr/bin/python3
"""Write the torch.save fixtures of torch/checkpoint into testdata/checkpoint/.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 testdata/gen_checkpoint_fixtures.py

Each NAME.pt comes with NAME.json, the value torch.load returns, encoded by
check_checkpoint.encode (tensor bytes as hex, floats as bit patterns) so that the Go test
compares bitwise. tensors.safetensors is written by hand with struct and json, because the
safetensors package is not part of Debian's PyTorch; its expected values are in
tensors.safetensors.json. Everything is seeded and tiny (well under 200 KB).
"""
import collections
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_checkpoint import encode, tensor_bytes  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoint")


def save(name, obj):
    path = os.path.join(OUT, name + ".pt")
    torch.save(obj, path)
    # Expected values come from loading the file back, so they are what torch.load sees.
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(encode(torch.load(path)), f, indent=1)
        f.write("\n")


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 2, 3)
        self.bn1 = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(2, 3)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    net = TinyNet()
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = net(torch.randn(2, 1, 5, 5)).sum()
    loss.backward()
    opt.step()
    # One forward pass in training mode updates running stats and num_batches_tracked.
    save("state_dict", net.state_dict())
    save("optimizer", opt.state_dict())

    save("nested", {
        "encoder": {"layer1": collections.OrderedDict([
            ("0", {"conv1": {"weight": torch.arange(6, dtype=torch.float32).reshape(1, 2, 3)}}),
        ])},
        "param": torch.nn.Parameter(torch.tensor([1.5, -2.0])),
        "scalar": torch.tensor(3.25, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
        "meta": {
            "name": "tiny \u00e9", "epoch": 7, "neg": -300, "big": 2**40, "min": -2**63,
            "lr": 0.1, "nan": float("nan"), "inf": float("-inf"), "flag": True,
            "none": None, "list": [1, "two", 3.0, [4]], "tuple": (1, 2), "tuple5": (1, 2, 3, 4, 5),
            "empty_list": [], "empty_tuple": (), 3: "int key",
        },
    })

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    col = torch.arange(5, dtype=torch.int64).reshape(5, 1)
    save("views", {
        "base": base,
        "transposed": base.t(),                # strides (1, 6)
        "slice": base[1:, ::2],                # offset 6, strides (6, 2)
        "row": base[2],                        # offset 12, shares the storage
        "expanded": col.expand(5, 4),          # stride 0
        "same_object": base,                   # the pickle memo makes this the same tensor
        "narrow3d": torch.arange(60, dtype=torch.int16).reshape(3, 4, 5)[:, 1:3, ::2].transpose(0, 2),
    })

    vals = [0.0, -0.0, 1.0, -2.5, 65504.0, 1e-7, float("inf"), float("nan")]
    save("dtypes", collections.OrderedDict([
        ("float32", torch.tensor(vals, dtype=torch.float32)),
        ("float64", torch.tensor(vals + [1e300], dtype=torch.float64)),
        ("float16", torch.tensor(vals, dtype=torch.float16)),
        ("bfloat16", torch.tensor(vals + [3e38], dtype=torch.bfloat16)),
        ("int64", torch.tensor([0, -1, 2**62, -2**63, 2**63 - 1], dtype=torch.int64)),
        ("int32", torch.tensor([0, -1, 2**31 - 1, -2**31], dtype=torch.int32)),
        ("int16", torch.tensor([[0, -1], [32767, -32768]], dtype=torch.int16)),
        ("int8", torch.tensor([0, -1, 127, -128], dtype=torch.int8)),
        ("uint8", torch.tensor([0, 1, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([[True, False, True]], dtype=torch.bool)),
    ]))

    write_safetensors()


def write_safetensors():
    # Deliberately not sorted by name: the reader must return file (offset) order.
    tensors = [
        ("z.weight", torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4),
        ("a.bias", torch.tensor([-1, 2], dtype=torch.int64)),
        ("m.half", torch.tensor([0.5, -0.0, 1024.0], dtype=torch.float16)),
        ("m.bf16", torch.tensor([1.0, -3.0], dtype=torch.bfloat16)),
        ("m.mask", torch.tensor([True, False, True], dtype=torch.bool)),
        ("m.empty", torch.zeros(0, 2, dtype=torch.float64)),
        ("m.scalar", torch.tensor(7, dtype=torch.uint8)),
    ]
    names = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.bool: "BOOL", torch.uint8: "U8"}
    header = {"__metadata__": {"format": "pt", "source": "gen_checkpoint_fixtures.py"}}
    data = b""
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(OUT, "tensors.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    expected = {"tensors": [[n, encode(t)] for n, t in tensors], "metadata": header["__metadata__"]}
    with open(os.path.join(OUT, "tensors.safetensors.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
