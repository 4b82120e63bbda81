#!/usr/bin/python3
"""Plain-PyTorch reference of the CSAD unified model (the official `CSAD_ONNX`), as described in
docs/method.md (#encoder, #lgst-branch, #segmentor, #patch-histogram-detector, #unified-forward).
It was compared with the official code itself, layer by layer, and found bitwise equal
(docs/numerics.md#official-comparison).

It is the golden reference csad-go's Go model is tested against (testdata/gen_model_golden.py,
which imports it through the testdata/csad_ref.py shim), and the model 'csad bench' times in
Python (the csad binary embeds this file: package csad/pyref).
Every size comes from one JSON-serialisable config dict (PAPER_CONFIG / SMALL_CONFIG below); the
state-dict keys and their order are those of the official `ckpt/pytorch_models/<cat>.pth`:

    teacher_mean, teacher_std            [1,C,1,1]  buffers
    q_st_start, q_st_end, q_ae_start, q_ae_end, lgst_mean, lgst_std,
    patch_hist_mean, patch_hist_std      []         buffers (float32)
    encoder.*                            timm features_only WRN-50-2, layers 1–3 (torchvision names)
    teacher.proj.{weight,bias}
    local_st.*                           conv1..conv5, conv_st, conv_ae
    autoencoder.*                        enconv1..6, deconv1..8
    segmentor.*                          aspp.stages.{c0,c1,c2,c3,imagepool.conv}, reduce, fc1, fc2
    patch_hist_detector.*                hist_mean, hist_invcov, patch_hist_mean, patch_hist_invcov,
                                         hist_val_mean, hist_val_std, patch_hist_val_mean,
                                         patch_hist_val_std

Arithmetic that the Go side must reproduce op for op is written out explicitly (and commented)
rather than hidden behind convenience helpers.
"""

import copy
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

PAPER_CONFIG = {
    "image_size": 256, "feature_size": 64,
    "encoder": {"stem": 64, "blocks": [3, 4, 6], "mid": [128, 256, 512], "out": [256, 512, 1024]},
    "teacher_channels": 512,
    "student": {"conv1": 256, "width": 512},
    "autoencoder": {"base": 32, "mid": 64},
    "segmentor": {"reduce": 48, "width": 256, "classes": 5, "dilations": [6, 12, 18]},
}

SMALL_CONFIG = {
    "image_size": 256, "feature_size": 64,
    "encoder": {"stem": 8, "blocks": [1, 2, 1], "mid": [4, 8, 16], "out": [16, 32, 64]},
    "teacher_channels": 16,
    "student": {"conv1": 8, "width": 16},
    "autoencoder": {"base": 4, "mid": 8},
    "segmentor": {"reduce": 4, "width": 8, "classes": 5, "dilations": [6, 12, 18]},
}


def paper_config(classes=5):
    c = copy.deepcopy(PAPER_CONFIG)
    c["segmentor"]["classes"] = classes
    return c


def small_config(classes=5):
    c = copy.deepcopy(SMALL_CONFIG)
    c["segmentor"]["classes"] = classes
    return c


def bilinear(x, size):
    """upsample_bilinear2d, align_corners=False, no antialias (always called, also
    when the size does not change, as the official code does)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------------------------
# encoder (docs/method.md#encoder): ResNet v1.5 trunk (layers 1–3), torchvision/timm names
# --------------------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """1×1 → BN → ReLU → 3×3 (stride here) → BN → ReLU → 1×1 → BN → (+ shortcut) → ReLU."""

    def __init__(self, cin, mid, cout, stride, downsample):
        super().__init__()
        # registration order = torchvision's: conv1, bn1, conv2, bn2, conv3, bn3, relu, downsample
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if downsample:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        return self.relu(out)


class ResNetTrunk(nn.Module):
    """Stem (conv1 7×7/2/3, bn1, relu, maxpool 3/2/1) + layer1..layer3; returns [l1, l2, l3].
    Stage strides 1, 2, 2; block 0 of every stage has a downsample (1×1 conv stride s + BN)."""

    def __init__(self, cfg):
        super().__init__()
        e = cfg["encoder"]
        stem = e["stem"]
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = stem
        for i, (n, mid, cout) in enumerate(zip(e["blocks"], e["mid"], e["out"])):
            stride = 1 if i == 0 else 2
            blocks = [Bottleneck(cin, mid, cout, stride, True)]
            blocks += [Bottleneck(cout, mid, cout, 1, False) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = cout

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        l1 = self.layer1(x)
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        return [l1, l2, l3]


# --------------------------------------------------------------------------------------------
# LGST branch (docs/method.md#lgst-branch)
# --------------------------------------------------------------------------------------------

class TeacherHead(nn.Module):
    """Teacher head on features 1 and 2 of the encoder list: resize both to feature_size
    (bilinear), cat [layer2, layer3], avg-pool 3/1/1 count_include_pad, 1×1 proj with bias."""

    def __init__(self, cfg):
        super().__init__()
        out = cfg["encoder"]["out"]
        self.feature_size = cfg["feature_size"]
        self.proj = nn.Conv2d(out[1] + out[2], cfg["teacher_channels"], 1, bias=True)

    def forward(self, feats):
        s = (self.feature_size, self.feature_size)
        f = torch.cat([bilinear(feats[1], s), bilinear(feats[2], s)], dim=1)
        f = F.avg_pool2d(f, 3, stride=1, padding=1, count_include_pad=True)
        return self.proj(f)


class LocalStudent(nn.Module):
    """Local student (official padding=True). Returns (st, ae)."""

    def __init__(self, cfg):
        super().__init__()
        c1, w, tc = cfg["student"]["conv1"], cfg["student"]["width"], cfg["teacher_channels"]
        self.feature_size = cfg["feature_size"]
        self.conv1 = nn.Conv2d(3, c1, 4, padding=3)
        self.conv2 = nn.Conv2d(c1, w, 4, padding=3)
        self.conv3 = nn.Conv2d(w, w, 1)
        self.conv4 = nn.Conv2d(w, w, 3, padding=1)
        self.conv5 = nn.Conv2d(w, w, 4)
        self.conv_st = nn.Conv2d(w, tc, 1)
        self.conv_ae = nn.Conv2d(w, tc, 1)

    def trunk(self, x):
        x = F.relu(self.conv1(x))
        x = F.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=True)
        x = F.relu(self.conv2(x))
        x = F.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=True)
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        return x

    def forward(self, x):
        x = F.relu(self.conv5(self.trunk(x)))
        x = bilinear(x, (self.feature_size, self.feature_size))
        return self.conv_st(x), self.conv_ae(x)


class PDN_M(nn.Module):
    """PDN_M (defined by the official code, unused by CSAD): LocalStudent trunk up to conv4 (same pads), conv5 → 2·C (k4, p0) + ReLU, conv6 1×1
    2C→2C (no ReLU), bilinear resize to feature_size, split channels [0:C] = st, [C:2C] = ae."""

    def __init__(self, cfg):
        super().__init__()
        c1, w, tc = cfg["student"]["conv1"], cfg["student"]["width"], cfg["teacher_channels"]
        self.tc = tc
        self.feature_size = cfg["feature_size"]
        self.conv1 = nn.Conv2d(3, c1, 4, padding=3)
        self.conv2 = nn.Conv2d(c1, w, 4, padding=3)
        self.conv3 = nn.Conv2d(w, w, 1)
        self.conv4 = nn.Conv2d(w, w, 3, padding=1)
        self.conv5 = nn.Conv2d(w, 2 * tc, 4)
        self.conv6 = nn.Conv2d(2 * tc, 2 * tc, 1)

    def forward(self, x):
        x = LocalStudent.trunk(self, x)
        x = F.relu(self.conv5(x))
        x = self.conv6(x)
        x = bilinear(x, (self.feature_size, self.feature_size))
        return x[:, :self.tc], x[:, self.tc:]


AE_DECODER_SIZES = (3, 8, 15, 32, 63, 127)  # fixed resize targets before deconv1..deconv6


class AutoEncoder(nn.Module):
    """Autoencoder. Dropout(0.2) after deconv1..6 is identity in eval mode (modules kept for fidelity)."""

    def __init__(self, cfg):
        super().__init__()
        b, m, tc = cfg["autoencoder"]["base"], cfg["autoencoder"]["mid"], cfg["teacher_channels"]
        self.feature_size = cfg["feature_size"]
        self.enconv1 = nn.Conv2d(3, b, 4, stride=2, padding=1)
        self.enconv2 = nn.Conv2d(b, b, 4, stride=2, padding=1)
        self.enconv3 = nn.Conv2d(b, m, 4, stride=2, padding=1)
        self.enconv4 = nn.Conv2d(m, m, 4, stride=2, padding=1)
        self.enconv5 = nn.Conv2d(m, m, 4, stride=2, padding=1)
        self.enconv6 = nn.Conv2d(m, m, 8, stride=1, padding=0)
        for i in range(1, 7):
            self.add_module(f"deconv{i}", nn.Conv2d(m, m, 4, stride=1, padding=2))
        self.deconv7 = nn.Conv2d(m, m, 3, stride=1, padding=1)
        self.deconv8 = nn.Conv2d(m, tc, 3, stride=1, padding=1)
        for i in range(1, 7):
            self.add_module(f"dropout{i}", nn.Dropout(0.2))

    def forward(self, x):
        x = F.relu(self.enconv1(x))
        x = F.relu(self.enconv2(x))
        x = F.relu(self.enconv3(x))
        x = F.relu(self.enconv4(x))
        x = F.relu(self.enconv5(x))
        x = self.enconv6(x)
        for i, s in enumerate(AE_DECODER_SIZES, start=1):
            x = bilinear(x, (s, s))
            x = getattr(self, f"dropout{i}")(F.relu(getattr(self, f"deconv{i}")(x)))
        x = bilinear(x, (self.feature_size, self.feature_size))
        x = F.relu(self.deconv7(x))
        return self.deconv8(x)


# --------------------------------------------------------------------------------------------
# Segmentor (docs/method.md#segmentor): ASPP + DeepLab-v3+ decoder
# --------------------------------------------------------------------------------------------

class _ConvBnReLU(nn.Sequential):
    def __init__(self, cin, cout, k, s, p, d, relu=True):
        super().__init__()
        self.add_module("conv", nn.Conv2d(cin, cout, k, s, p, d, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout, eps=1e-5, momentum=0.999))
        if relu:
            self.add_module("relu", nn.ReLU())


class _ImagePool(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = _ConvBnReLU(cin, cout, 1, 1, 0, 1)

    def forward(self, x):
        _, _, h, w = x.shape
        y = self.conv(self.pool(x))
        return bilinear(y, (h, w))


class _ASPP(nn.Module):
    def __init__(self, cin, cout, rates):
        super().__init__()
        self.stages = nn.Module()
        self.stages.add_module("c0", _ConvBnReLU(cin, cout, 1, 1, 0, 1))
        for i, r in enumerate(rates):
            self.stages.add_module(f"c{i + 1}", _ConvBnReLU(cin, cout, 3, 1, r, r))
        self.stages.add_module("imagepool", _ImagePool(cin, cout))

    def forward(self, x):
        return torch.cat([stage(x) for stage in self.stages.children()], dim=1)


class Segmentor(nn.Module):
    """Segmentor. Input: encoder list [x1, x2, x3]; output logits (B, classes, S, S), S = image_size."""

    def __init__(self, cfg):
        super().__init__()
        sc, out = cfg["segmentor"], cfg["encoder"]["out"]
        self.in_size = cfg["image_size"]
        w, r = sc["width"], sc["reduce"]
        # registration order of the official module: aspp, reduce, fc1, fc2
        self.aspp = _ASPP(out[2], w, sc["dilations"])
        self.reduce = _ConvBnReLU(out[0], r, 1, 1, 0, 1)
        self.fc1 = _ConvBnReLU(w * (len(sc["dilations"]) + 2), w, 1, 1, 0, 1)
        self.fc2 = nn.Sequential(OrderedDict([
            ("conv1", _ConvBnReLU(w + r, w, 3, 1, 1, 1)),
            ("conv2", _ConvBnReLU(w, w, 3, 1, 1, 1)),
            ("conv3", nn.Conv2d(w, sc["classes"], 1, bias=True)),
        ]))

    def forward(self, feats):
        x1, x3 = feats[0], feats[2]
        s = self.in_size
        r = self.reduce(x1)
        h = bilinear(x3, (s // 16, s // 16))
        h = self.aspp(h)
        h = self.fc1(h)
        h = bilinear(h, (s // 4, s // 4))
        h = torch.cat([h, r], dim=1)
        h = self.fc2(h)
        return bilinear(h, (s, s))


# --------------------------------------------------------------------------------------------
# FixedPatchClassDetector (docs/method.md#patch-histogram-detector)
# --------------------------------------------------------------------------------------------

class FixedPatchClassDetector(nn.Module):
    def __init__(self, classes):
        super().__init__()
        n = classes
        self.n = n
        self.register_buffer("hist_mean", torch.zeros(n, 1))
        self.register_buffer("hist_invcov", torch.zeros(n, n))
        self.register_buffer("patch_hist_mean", torch.zeros(4 * n, 1))
        self.register_buffer("patch_hist_invcov", torch.zeros(4 * n, 4 * n))
        self.register_buffer("hist_val_mean", torch.tensor(0.0))
        self.register_buffer("hist_val_std", torch.tensor(1.0))
        self.register_buffer("patch_hist_val_mean", torch.tensor(0.0))
        self.register_buffer("patch_hist_val_std", torch.tensor(1.0))

    def histograms(self, logits):
        """(B,N,S,S) logits → label map (B,S,S) int64, hist (B,N,1), patch hist (B,4N,1).
        one_hot of argmax (first index wins ties), as float32, mean over H,W (exact: counts of
        ones over a power-of-two area); background bin included."""
        n = logits.shape[1]
        s = logits.shape[2]
        h2 = s // 2
        label = torch.argmax(logits, dim=1)                                  # (B,S,S)
        onehot = F.one_hot(label, n).permute(0, 3, 1, 2).to(torch.float32)  # (B,N,S,S)
        hist = onehot.mean(dim=(2, 3)).unsqueeze(-1)                         # (B,N,1)
        quads = [onehot[:, :, :h2, :h2], onehot[:, :, h2:, :h2],             # TL, BL
                 onehot[:, :, :h2, h2:], onehot[:, :, h2:, h2:]]             # TR, BR
        patch = torch.cat([q.mean(dim=(2, 3)) for q in quads], dim=1).unsqueeze(-1)  # (B,4N,1)
        return label, hist, patch

    @staticmethod
    def mahalanobis(h, mean, invcov):
        """d_i = sqrt(δᵀ (Σ⁺ δ)), δ = h_i − μ (column), float32, one sample at a time.

        The grouping and the per-sample loop are the official ones, and both matter bit for bit:
        two 2-D matmuls (mm) per sample, the inner one Σ⁺ δ. A batched form (bmm, or one mm
        with all δ as columns) rounds differently for some inputs, as does (δᵀ Σ⁺) δ whenever
        Σ⁺ is not exactly symmetric (docs/numerics.md#mahalanobis-distance)."""
        out = []
        for i in range(h.shape[0]):
            delta = h[i] - mean                                              # (K,1)
            q = torch.matmul(delta.T, torch.matmul(invcov, delta)).squeeze()  # ()
            out.append(torch.sqrt(q))
        return torch.stack(out)                                              # (B,)

    def detail(self, logits):
        label, hist, patch = self.histograms(logits)
        d256 = self.mahalanobis(hist, self.hist_mean, self.hist_invcov)
        d128 = self.mahalanobis(patch, self.patch_hist_mean, self.patch_hist_invcov)
        s = (d256 - self.hist_val_mean) / self.hist_val_std + \
            (d128 - self.patch_hist_val_mean) / self.patch_hist_val_std
        return {"seg": label, "hist": hist, "patch_hist": patch, "d256": d256, "d128": d128, "ph": s}

    def forward(self, logits):
        return self.detail(logits)["ph"]


# --------------------------------------------------------------------------------------------
# unified model (docs/method.md#unified-forward)
# --------------------------------------------------------------------------------------------

SCALARS = ("q_st_start", "q_st_end", "q_ae_start", "q_ae_end",
           "lgst_mean", "lgst_std", "patch_hist_mean", "patch_hist_std")


class CSAD(nn.Module):
    """`CSAD_ONNX`. All normalisers are persistent float32 buffers registered before the
    submodules, so state_dict() starts with them in the official order."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = copy.deepcopy(cfg)
        tc = cfg["teacher_channels"]
        self.register_buffer("teacher_mean", torch.zeros(1, tc, 1, 1))
        self.register_buffer("teacher_std", torch.ones(1, tc, 1, 1))
        for name in SCALARS:
            self.register_buffer(name, torch.tensor(1.0 if name.endswith(("_end", "_std")) else 0.0))
        self.encoder = ResNetTrunk(cfg)
        self.teacher = TeacherHead(cfg)
        self.local_st = LocalStudent(cfg)
        self.autoencoder = AutoEncoder(cfg)
        self.segmentor = Segmentor(cfg)
        self.patch_hist_detector = FixedPatchClassDetector(cfg["segmentor"]["classes"])

    def raw(self, x):
        """Network outputs before any normalisation (used to calibrate the normalisers)."""
        feats = self.encoder(x)
        logits = self.segmentor(feats)
        t = self.teacher(feats)
        st, ae = self.local_st(x)
        a = self.autoencoder(x)
        return {"feats": feats, "logits": logits, "t": t, "st": st, "ae": ae, "a": a}

    def maps(self, r):
        """Unified forward steps 3–4 from raw outputs: raw and normalised m_l, m_g (B,64,64)."""
        t_hat = (r["t"] - self.teacher_mean) / self.teacher_std
        m_l_raw = torch.mean((t_hat - r["st"]) ** 2, dim=1)
        m_g_raw = torch.mean((r["ae"] - r["a"]) ** 2, dim=1)
        # evaluated as ((0.1 * (m - q_start)) / (q_end - q_start)), 0.1 a float32 scalar
        m_l = 0.1 * (m_l_raw - self.q_st_start) / (self.q_st_end - self.q_st_start)
        m_g = 0.1 * (m_g_raw - self.q_ae_start) / (self.q_ae_end - self.q_ae_start)
        return m_l_raw, m_g_raw, m_l, m_g

    def detail(self, x):
        """Forward with every intermediate: seg (B,S,S) int64, d256, d128, ph (B,), m_l, m_g
        (normalised, B,64,64), lgst (B,), output (B,)."""
        r = self.raw(x)
        det = self.patch_hist_detector.detail(r["logits"])
        _, _, m_l, m_g = self.maps(r)
        lgst = torch.amax(m_l + m_g, dim=(1, 2))          # max over the 64×64 grid, no upsampling
        output = (lgst - self.lgst_mean) / self.lgst_std + \
            (det["ph"] - self.patch_hist_mean) / self.patch_hist_std
        return {"seg": det["seg"], "d256": det["d256"], "d128": det["d128"], "ph": det["ph"],
                "m_l": m_l, "m_g": m_g, "lgst": lgst, "output": output}

    def forward(self, x):
        return self.detail(x)["output"]


def expected_state_dict_prefixes():
    """Top-level state-dict order of the official unified checkpoint."""
    return ["teacher_mean", "teacher_std", *SCALARS, "encoder", "teacher", "local_st",
            "autoencoder", "segmentor", "patch_hist_detector"]
