#!/usr/bin/python3
"""Golden outputs of the CSAD unified model (testdata/csad_ref.py) for csad-go's Go model.

    /usr/bin/python3 testdata/gen_model_golden.py              # small config → testdata/golden/
    /usr/bin/python3 testdata/gen_model_golden.py --full DIR   # paper config  → DIR/

Small run writes testdata/golden/model_small.pth (torch.save of the plain state dict, as the
official `ckpt/pytorch_models/<cat>.pth`) and testdata/golden/model_small.safetensors with, for
x = torch.randn(3, 3, 256, 256) drawn right after torch.manual_seed(1234) (x is NOT stored):

    seg     uint8 (B,256,256)  argmax of the segmentor logits
    d256    (B,)   Mahalanobis distance of the whole-image histogram
    d128    (B,)   Mahalanobis distance of the four-quadrant histogram
    ph      (B,)   patch-hist term z(d256) + z(d128) (detector output, before the outer z)
    m_l     (B,64,64)  normalised local map   0.1(m − q_st_start)/(q_st_end − q_st_start)
    m_g     (B,64,64)  normalised global map  (ae quantiles)
    lgst    (B,)   max over the 64×64 grid of m_l + m_g
    output  (B,)   z(lgst) + z(ph)
    pdn/state/<key>    a separately seeded PDN_M built from metadata "pdn_config" (small run: the
                       small config with teacher_channels 8, to stay under 1 MB; --full: paper)
    pdn/st, pdn/ae     its outputs for x[0:1]

metadata: config (JSON), torch_version, num_threads, input_seed "1234", input_shape, model_seed,
pdn_seed, pdn_config (JSON), pdn_input "x[0:1]", per_sample_identical.

--full DIR does the same for the paper config (classes 5) with x = torch.randn(2, 3, 256, 256) after
seed 1234, writing DIR/model_full.pth and DIR/model_full.safetensors, and first checks that
csad_ref.ResNetTrunk(paper config) is torchvision's wide_resnet50_2 (layers 1–3, bit-identical).

Every parameter and buffer gets a non-trivial value (make_model): default conv init, random
BatchNorm affine/running statistics, and normalisers calibrated on a few random inputs as training
would (teacher stats and map quantiles 0.9/0.995 on a "fit" set; d256/d128 z-normalisers on a
separate "val" set; lgst/ph normalisers on both). The detector's mean and inverse covariance are
fitted the way the official training-time detector does (docs/method.md#patch-histogram-detector):
histograms of a larger "hist" set (the fit images plus segmentor-only extras) with the background
slots set to 0, in float64, numpy.cov (ddof 1), numpy.linalg.pinv, then cast to float32: no
regularisation, no symmetrisation, so Σ⁺ keeps its exactly-zero background rows and its last-bit
asymmetry, both of which the Go side must handle as PyTorch does. Two calibration tweaks keep the goldens well conditioned: the segmentor's last 1×1 conv is
rescaled so each class logit is standardised over the fit set (else one class wins every pixel),
and the conv_st/conv_ae biases are shifted so t̂ − st and ae − a have zero channel means over the fit
set (else q_end − q_start is ~1e-3 of the map value and the normalisation amplifies rounding).

Batch vs single: LibTorch's CPU convolutions may round differently with another batch size, so the
goldens are for the whole batch (metadata per_sample_identical says whether the per-sample runs
matched bit for bit; the script prints the largest difference).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.dont_write_bytecode = True   # no testdata/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csad_ref  # noqa: E402
from gen_golden import write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INPUT_SEED = 1234
MODEL_SEED = 20240828
PDN_SEED = 777


def log(msg):
    print(msg, flush=True)


def std0(v):
    return v.std(unbiased=False)


def floored(sd):
    """Export guard of §6.1: sd replaced by 1 when sd ≤ 1e-3."""
    return sd if float(sd) > 1e-3 else torch.tensor(1.0)


@torch.no_grad()
def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.weight.copy_(torch.rand(c, generator=gen) + 0.5)                  # U(0.5,1.5)
            m.bias.copy_(torch.randn(c, generator=gen) * 0.1)                   # N(0,0.1)
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)           # N(0,0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)             # U(0.5,1.5)
            m.num_batches_tracked.fill_(int(torch.randint(1, 100000, (1,), generator=gen)))


def pinv_cov(h, classes):
    """h (M,K) float32 descriptors (K = a multiple of classes) → (μ (K,1), Σ⁺ (K,K)) float32, as the
    official fit: the background slot of every region zeroed (the training-time histogram leaves
    class 0 out), float64, mean over images, numpy.cov (ddof 1, one variable per slot),
    numpy.linalg.pinv (SVD, rcond 1e-15), cast to float32 as export_model.py does."""
    h64 = h.numpy().astype(np.float64)   # exact: the fractions are count / 2^k
    h64[:, ::classes] = 0.0
    mu = np.mean(h64, axis=0)
    inv = np.linalg.pinv(np.cov(h64.T))
    return (torch.tensor(mu, dtype=torch.float32).unsqueeze(1), torch.tensor(inv, dtype=torch.float32))


@torch.no_grad()
def make_model(cfg, seed, n_fit=4, n_val=4, n_hist=24, verbose=True):
    """Seeded CSAD with every parameter and buffer set; eval mode. Calibration inputs: n_fit + n_val
    random images drawn from a generator seeded with seed + 1 (one forward of the networks), then
    n_hist − n_fit more through the encoder and segmentor only, so that the detector's covariance
    is fitted on n_hist images (full rank on the non-background slots needs more than 4·(N−1))."""
    torch.manual_seed(seed)
    model = csad_ref.CSAD(cfg)   # conv weights/biases: PyTorch default init
    gen = torch.Generator().manual_seed(seed + 1)
    randomise_bn(model, gen)
    model.eval()
    tc = cfg["teacher_channels"]
    s = cfg["image_size"]

    t0 = time.time()
    xc = torch.randn(n_fit + n_val, 3, s, s, generator=gen)
    r = model.raw(xc)
    if verbose:
        log(f"  calibration forward ({n_fit + n_val} images): {time.time() - t0:.1f} s")
    fit = slice(0, n_fit)
    val = slice(n_fit, n_fit + n_val)

    # teacher μ, σ: actual per-channel statistics of the fit set, perturbed
    t = r["t"][fit]
    mu = t.mean(dim=(0, 2, 3))
    sd = t.std(dim=(0, 2, 3), unbiased=False).clamp_min(1e-3)
    model.teacher_mean.copy_((mu + 0.1 * sd * torch.randn(tc, generator=gen)).reshape(1, tc, 1, 1))
    model.teacher_std.copy_((sd * (torch.rand(tc, generator=gen) * 1.5 + 0.5)).reshape(1, tc, 1, 1))

    # student heads: shift conv_st / conv_ae biases so that, over the fit set, the per-channel mean of
    # t̂ − st and of ae − a is zero (as a trained student would roughly achieve); otherwise the maps of
    # a random network are a large constant plus tiny fluctuations and q_end − q_start is ~1e-3 of the
    # map value. The calibration outputs are shifted by the same amount (approximately; they only
    # feed the calibration statistics, the goldens come from a fresh forward).
    t_hat = (r["t"] - model.teacher_mean) / model.teacher_std
    dst = (t_hat - r["st"])[fit].mean(dim=(0, 2, 3))
    dae = (r["ae"] - r["a"])[fit].mean(dim=(0, 2, 3))
    model.local_st.conv_st.bias.add_(dst)
    model.local_st.conv_ae.bias.sub_(dae)
    r["st"] = r["st"] + dst.reshape(1, tc, 1, 1)
    r["ae"] = r["ae"] - dae.reshape(1, tc, 1, 1)

    # map quantiles (§3.7) on the fit set
    m_l_raw, m_g_raw, _, _ = model.maps(r)
    model.q_st_start.copy_(torch.quantile(m_l_raw[fit].flatten(), 0.9))
    model.q_st_end.copy_(torch.quantile(m_l_raw[fit].flatten(), 0.995))
    model.q_ae_start.copy_(torch.quantile(m_g_raw[fit].flatten(), 0.9))
    model.q_ae_end.copy_(torch.quantile(m_g_raw[fit].flatten(), 0.995))

    # segmentor head: standardise each class logit over the fit set (w' = w/sd, b' = (b − mean)/sd)
    # so that the argmax of a random-weight network spreads over all classes instead of one
    lg = r["logits"][fit]
    lmean = lg.mean(dim=(0, 2, 3))
    lsd = lg.std(dim=(0, 2, 3)).clamp_min(1e-6)
    head = model.segmentor.fc2.conv3
    head.weight.copy_(head.weight / lsd.reshape(-1, 1, 1, 1))
    head.bias.copy_((head.bias - lmean) / lsd)
    r["logits"] = model.segmentor(r["feats"])

    # detector: histogram mean and pseudo-inverse covariance on the hist set (official fit)
    det = model.patch_hist_detector
    n = cfg["segmentor"]["classes"]
    label, hist, patch = det.histograms(r["logits"])
    hist_fit, patch_fit = [hist[fit, :, 0]], [patch[fit, :, 0]]
    for _ in range(max(n_hist - n_fit, 0)):
        xe = torch.randn(1, 3, s, s, generator=gen)
        _, he, pe = det.histograms(model.segmentor(model.encoder(xe)))
        hist_fit.append(he[:, :, 0])
        patch_fit.append(pe[:, :, 0])
    hm, hi = pinv_cov(torch.cat(hist_fit), n)
    pm, pi = pinv_cov(torch.cat(patch_fit), n)
    det.hist_mean.copy_(hm)
    det.hist_invcov.copy_(hi)
    det.patch_hist_mean.copy_(pm)
    det.patch_hist_invcov.copy_(pi)

    # z-normalisers: d256 / d128 statistics on the val set; the outer ph and lgst statistics on all
    # calibration images (fit ∪ val: with a val set of 2, the z-scores of the val set itself are ±1
    # and the statistics of their sum degenerate). Plain mean / ddof-0 std with the export floor.
    d = det.detail(r["logits"][val])
    det.hist_val_mean.copy_(d["d256"].mean())
    det.hist_val_std.copy_(floored(std0(d["d256"])))
    det.patch_hist_val_mean.copy_(d["d128"].mean())
    det.patch_hist_val_std.copy_(floored(std0(d["d128"])))
    ph = det.detail(r["logits"])["ph"]
    model.patch_hist_mean.copy_(ph.mean())
    model.patch_hist_std.copy_(floored(std0(ph)))
    _, _, m_l, m_g = model.maps(r)
    lgst = torch.amax(m_l + m_g, dim=(1, 2))
    model.lgst_mean.copy_(lgst.mean())
    model.lgst_std.copy_(floored(std0(lgst)))

    for k in ("d256", "d128"):
        assert torch.isfinite(d[k]).all(), f"calibration {k} not finite: {d[k]}"
    if verbose:
        log(f"  detector fitted on {sum(len(h) for h in hist_fit)} images; Σ⁺ ranks "
            f"{int(np.linalg.matrix_rank(hi.double().numpy()))}/{hi.shape[0]}, "
            f"{int(np.linalg.matrix_rank(pi.double().numpy()))}/{pi.shape[0]}; "
            f"exactly symmetric: {torch.equal(hi, hi.t())}, {torch.equal(pi, pi.t())}")
        counts = torch.bincount(label.flatten(), minlength=n).tolist()
        log(f"  calibration label counts per class: {counts}")
        log("  normalisers: " + ", ".join(f"{k}={float(getattr(model, k)):.5g}" for k in csad_ref.SCALARS))
        log("  detector: " + ", ".join(
            f"{k}={float(getattr(det, k)):.5g}"
            for k in ("hist_val_mean", "hist_val_std", "patch_hist_val_mean", "patch_hist_val_std")))
    return model


def check_state_dict(model, cfg):
    sd = model.state_dict()
    keys = list(sd)
    tops = []
    for k in keys:
        top = k.split(".")[0]
        if not tops or tops[-1] != top:
            tops.append(top)
    assert tops == csad_ref.expected_state_dict_prefixes(), tops
    n = cfg["segmentor"]["classes"]
    tc = cfg["teacher_channels"]
    assert sd["teacher_mean"].shape == (1, tc, 1, 1)
    for k in csad_ref.SCALARS:
        assert sd[k].shape == () and sd[k].dtype == torch.float32, k
    assert sd["segmentor.fc2.conv3.weight"].shape[0] == n
    assert sd["patch_hist_detector.hist_mean"].shape == (n, 1)
    assert sd["patch_hist_detector.patch_hist_invcov"].shape == (4 * n, 4 * n)
    for k, v in sd.items():
        want = torch.int64 if k.endswith("num_batches_tracked") else torch.float32
        assert v.dtype == want, (k, v.dtype)
    enc = [k for k in keys if k.startswith("encoder.")]
    blocks = cfg["encoder"]["blocks"]
    # exact count: stem 6 + per stage (block 0: 3 convs + 3 BN(5) + ds conv + ds BN(5) = 24;
    # other blocks 18)
    assert len(enc) == 6 + sum(24 + 18 * (b - 1) for b in blocks), len(enc)
    counts = {p: sum(1 for k in keys if k.startswith(p + ".")) for p in
              ("teacher", "local_st", "autoencoder", "segmentor", "patch_hist_detector")}
    assert counts == {"teacher": 2, "local_st": 14, "autoencoder": 28, "segmentor": 56,
                      "patch_hist_detector": 8}, counts
    return len(keys)


@torch.no_grad()
def check_torchvision_trunk():
    """ResNetTrunk(paper config) == torchvision wide_resnet50_2 layers 1–3, bit for bit."""
    import torchvision
    t0 = time.time()
    torch.manual_seed(99)
    tv = torchvision.models.wide_resnet50_2()   # random init, no download
    gen = torch.Generator().manual_seed(100)
    randomise_bn(tv, gen)
    tv.eval()
    sd = {k: v for k, v in tv.state_dict().items() if not k.startswith(("layer4.", "fc."))}
    trunk = csad_ref.ResNetTrunk(csad_ref.paper_config())
    trunk.load_state_dict(sd, strict=True)
    trunk.eval()
    assert list(trunk.state_dict()) == list(sd), "key order differs from torchvision"
    assert len(sd) == 258, len(sd)
    x = torch.randn(1, 3, 256, 256, generator=gen)
    h = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
    l1 = tv.layer1(h)
    l2 = tv.layer2(l1)
    l3 = tv.layer3(l2)
    ours = trunk(x)
    for i, (a, b) in enumerate(zip(ours, (l1, l2, l3))):
        assert a.shape == b.shape and torch.equal(a, b), f"layer{i + 1} differs"
    log(f"torchvision wide_resnet50_2 check: 258 keys, same order, layer1-3 outputs torch.equal "
        f"(shapes {[tuple(o.shape) for o in ours]}) [{time.time() - t0:.1f} s]")


@torch.no_grad()
def generate(cfg, batch, pth_path, st_path, n_fit, n_val, n_hist, pdn_cfg, outputs_only=False):
    torch.set_grad_enabled(False)
    t_all = time.time()
    t0 = time.time()
    if outputs_only:
        # The committed checkpoint; only the outputs are computed (on the machine under test).
        model = csad_ref.CSAD(cfg)
        model.load_state_dict(torch.load(pth_path), strict=True)
        model.eval()
    else:
        model = make_model(cfg, MODEL_SEED, n_fit=n_fit, n_val=n_val, n_hist=n_hist)
        nkeys = check_state_dict(model, cfg)
        log(f"make_model: {nkeys} state-dict entries [{time.time() - t0:.1f} s]")
        os.makedirs(os.path.dirname(pth_path), exist_ok=True)
        torch.save(model.state_dict(), pth_path)
        back = torch.load(pth_path)
        assert list(back) == list(model.state_dict())

    torch.manual_seed(INPUT_SEED)
    x = torch.randn(batch, 3, cfg["image_size"], cfg["image_size"])
    t0 = time.time()
    out = model.detail(x)
    log(f"forward batch {batch}: {time.time() - t0:.1f} s")
    for k in ("d256", "d128", "output"):
        assert torch.isfinite(out[k]).all(), f"golden {k} not finite: {out[k]}"

    # each sample alone must give the same per-sample outputs
    t0 = time.time()
    worst = {}
    for i in range(batch):
        one = model.detail(x[i:i + 1])
        for k, v in one.items():
            ref = out[k][i:i + 1]
            if k == "seg":
                diff = float((v != ref).sum())
            else:
                diff = float((v - ref).abs().max())
            worst[k] = max(worst.get(k, 0.0), diff)
    same = all(v == 0 for v in worst.values())
    log(f"per-sample forwards [{time.time() - t0:.1f} s]: " +
        ("identical to the batched outputs (torch.equal for every key)" if same else
         "max |diff| vs batched: " + ", ".join(f"{k}={v:.3g}" for k, v in worst.items())))

    # PDN_M, separately seeded
    torch.manual_seed(PDN_SEED)
    pdn = csad_ref.PDN_M(pdn_cfg).eval()
    pst, pae = pdn(x[0:1])

    tensors = [("seg", out["seg"].to(torch.uint8))]
    for k in ("d256", "d128", "ph", "m_l", "m_g", "lgst", "output"):
        tensors.append((k, out[k].contiguous()))
    for k, v in pdn.state_dict().items():
        tensors.append((f"pdn/state/{k}", v))
    tensors += [("pdn/st", pst.contiguous()), ("pdn/ae", pae.contiguous())]
    meta = {"config": json.dumps(cfg, separators=(",", ":")),
            "torch_version": torch.__version__,
            "num_threads": str(torch.get_num_threads()),
            "input_seed": str(INPUT_SEED),
            "input_shape": ",".join(str(d) for d in x.shape),
            "model_seed": str(MODEL_SEED),
            "pdn_seed": str(PDN_SEED),
            "pdn_config": json.dumps(pdn_cfg, separators=(",", ":")),
            "pdn_input": "x[0:1]",
            "per_sample_identical": "true" if same else "false"}
    write_safetensors(st_path, tensors, meta)

    n = cfg["segmentor"]["classes"]
    log("golden values:")
    log(f"  seg class counts: {torch.bincount(out['seg'].flatten(), minlength=n).tolist()}")
    for k in ("d256", "d128", "ph", "lgst", "output"):
        log(f"  {k} = {[round(float(v), 5) for v in out[k]]}")
    for k in ("m_l", "m_g"):
        v = out[k]
        log(f"  {k}: min {float(v.min()):.4g} mean {float(v.mean()):.4g} max {float(v.max()):.4g}")
    log(f"  pdn st mean|.| {float(pst.abs().mean()):.4g}, ae mean|.| {float(pae.abs().mean()):.4g}")
    for p in (pth_path, st_path):
        log(f"wrote {p} ({os.path.getsize(p)} bytes)")
    log(f"total {time.time() - t_all:.1f} s (torch {torch.__version__}, {torch.get_num_threads()} threads)")


def small_pdn_config():
    """The small config with teacher_channels 8 (instead of 16): halves the stored PDN outputs so
    the committed goldens stay under 1 MB. Stored as metadata "pdn_config"."""
    c = csad_ref.small_config(5)
    c["teacher_channels"] = 8
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", metavar="OUTDIR", help="paper config into OUTDIR instead of the small goldens")
    ap.add_argument("--outputs", action="store_true",
                    help="only the outputs of the committed model_small.pth, into $CSAD_GOLDEN_OUT "
                         "(the Go tests run this on the machine under test: LibTorch's CPU kernels "
                         "round differently on different instruction sets)")
    a = ap.parse_args()
    if a.full:
        t0 = time.time()
        check_torchvision_trunk()
        generate(csad_ref.paper_config(5), 2, os.path.join(a.full, "model_full.pth"),
                 os.path.join(a.full, "model_full.safetensors"), n_fit=2, n_val=2, n_hist=8,
                 pdn_cfg=csad_ref.paper_config(5))
        log(f"--full done in {time.time() - t0:.1f} s")
    elif a.outputs:
        out = os.environ.get("CSAD_GOLDEN_OUT") or os.path.join(HERE, "golden")
        generate(csad_ref.small_config(5), 3, os.path.join(HERE, "golden", "model_small.pth"),
                 os.path.join(out, "model_small.safetensors"), n_fit=4, n_val=4, n_hist=24,
                 pdn_cfg=small_pdn_config(), outputs_only=True)
    else:
        gold = os.path.join(HERE, "golden")
        generate(csad_ref.small_config(5), 3, os.path.join(gold, "model_small.pth"),
                 os.path.join(gold, "model_small.safetensors"), n_fit=4, n_val=4, n_hist=24,
                 pdn_cfg=small_pdn_config())


if __name__ == "__main__":
    main()
