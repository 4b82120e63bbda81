#!/usr/bin/python3
"""Golden data for csad/pseudolabel's CNN component feature (method spec §5.4, cnn_image).

Written from the spec, not from the official code:

  rotate   Pillow's Image.rotate(angle, BILINEAR) (expand=False, black fill) of two
           RGB test images, a 65x65 one (the aligned crop's size) and a 41x57 one, for
           the 60 angles numpy.linspace(0, 360, 60) and a few others (90, 180 and 270
           take Pillow's transpose shortcuts on the square image only).
  fixture  torchvision's wide_resnet50_2() with seeded random weights and random
           BatchNorm statistics, saved with torch.save(state_dict) as wrn50_2.pth
           (about 270 MB, so it is made on the fly and never committed).
  feature  the cnn_image feature of one synthetic 65x65 aligned crop: 60 Pillow
           rotations, ToTensor + ImageNet Normalize, the network up to layer4
           (2048@3x3), mean over space, then mean over the rotations (float32).

Arrays are saved as float64 or int64 .npy files (the dtypes internal/npy reads); the
images' uint8 values and the float32 tensors convert exactly.

Run by the Go test through torchtest.GoldenDir, which sets CSAD_GOLDEN_OUT; by hand:
  CSAD_GOLDEN_OUT=/tmp/cnnfeat /usr/bin/python3 testdata/gen_cnnfeature_golden.py
"""
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

out = os.environ.get("CSAD_GOLDEN_OUT")
if not out:
    sys.exit("gen_cnnfeature_golden.py: set CSAD_GOLDEN_OUT to the output folder")
os.makedirs(out, exist_ok=True)

rng = np.random.default_rng(20240805)


def test_image(h, w):
    # Noise on a smooth gradient with a few hard edges: every bilinear weight and the
    # border handling show in the output.
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / (w + h)], -1)
    base[(x - w / 3) ** 2 + (y - h / 2) ** 2 < (min(h, w) / 4) ** 2] = [250, 30, 90]
    noise = rng.integers(-40, 41, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


angles = np.concatenate([np.linspace(0, 360, 60), [90.0, 180.0, 270.0, 45.0, -30.0, 400.0, 12.345]])
np.save(os.path.join(out, "rot_angles.npy"), angles.astype(np.float64))
for name, (h, w) in {"sq": (65, 65), "rect": (41, 57)}.items():
    src = test_image(h, w)
    np.save(os.path.join(out, f"rot_src_{name}.npy"), src.astype(np.int64))
    im = Image.fromarray(src)
    rot = np.stack([np.asarray(im.rotate(float(a), Image.Resampling.BILINEAR)) for a in angles])
    np.save(os.path.join(out, f"rot_out_{name}.npy"), rot.astype(np.int64))

# The fixture network.
torch.manual_seed(7)
net = torchvision.models.wide_resnet50_2()
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.0)
            m.bias.uniform_(-0.1, 0.1)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
net.eval()
torch.save(net.state_dict(), os.path.join(out, "wrn50_2.pth"))

# One aligned crop: a textured tilted ellipse on black, as the alignment leaves it.
y, x = np.mgrid[0:65, 0:65]
u, v = (x - 32) * np.cos(0.5) + (y - 31) * np.sin(0.5), -(x - 32) * np.sin(0.5) + (y - 31) * np.cos(0.5)
inside = (u / 30) ** 2 + (v / 14) ** 2 <= 1
crop = np.where(inside[..., None], test_image(65, 65), 0).astype(np.uint8)
np.save(os.path.join(out, "crop.npy"), crop.astype(np.int64))

tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
im = Image.fromarray(crop)
batch = torch.stack([tf(im.rotate(a, Image.Resampling.BILINEAR)) for a in np.linspace(0, 360, 60)])
np.save(os.path.join(out, "crop_input.npy"), batch.numpy().astype(np.float64))
with torch.no_grad():
    h = net.maxpool(net.relu(net.bn1(net.conv1(batch))))
    h = net.layer4(net.layer3(net.layer2(net.layer1(h))))
    assert h.shape == (60, 2048, 3, 3), h.shape
    feat = h.mean(dim=[2, 3]).mean(dim=0)
np.save(os.path.join(out, "feature.npy"), feat.numpy().astype(np.float64))
