#!/usr/bin/python3
"""Goldens for csad/train: the segmentor losses of spec §4.2 and two segmentor training steps
(§4.3) on the small config, computed by Debian's PyTorch with one thread.

    /usr/bin/python3 testdata/gen_train_golden_seg.py     # → testdata/golden/train_seg.safetensors
    (the tests run it themselves, on the machine under test: torchtest.GoldenDir; CSAD_GOLDEN_OUT,
    if set, names another output folder)

Losses (written from the spec, op for op in the order csad/train evaluates them, so the Go
results can be compared bit for bit). Two cases:
    full    B 2, N 5, 12×12, every class present
    absent  B 3, N 6, 8×8, class 4 absent from the target (Dice weight 1e5 before normalising)
For each case c:
    loss/c/z, loss/c/zu         logits (sup, unsup), float32 (B,N,H,W)
    loss/c/target, loss/c/randgt    uint8 (B,H,W) class maps (int64 for the losses)
    loss/c/<name>, loss/c/<name>/grad   value and d value / d logits for
        ce (intended: cross entropy on the logits), ce_official (on softmax(z): the double
        softmax, §8.2 item 4), focal, dice, entropy (on z, target); hist (on zu, randgt)
    seg/c/<variant>/<term>      SegLoss terms, weighted (total, ce, focal, dice, hist,
        entropy_sup, entropy_unsup); variants (sup_only|full)_(intended|official) CE for
        full, sup_only_intended and full_official for absent
    seg/c/<variant>/grad_z, seg/c/<variant>/grad_zu   d total / d logits

Threads: one intra-op thread and one OpenBLAS thread (see below); metadata num_threads and
openblas_num_threads record them.

Segmentor steps: encoder (eval, frozen) and segmentor (train mode) of csad_ref.small_config(5) built
after torch.manual_seed(MODEL_SEED), every BatchNorm randomised from a generator seeded
MODEL_SEED + 1, stored as init/encoder.* and init/segmentor.*. Adam(lr 0.01, weight_decay 1e-5).
After torch.manual_seed(INPUT_SEED) the images are drawn in this order (not stored; Go draws the
same stream): sup1, unsup1, sup2, unsup2, each torch.randn(4, 3, 256, 256). Label maps are stored
at 32×32 (step<k>/gt_low, step<k>/randgt_low, uint8) and enlarged ×8 by nearest interpolation.
    step1: sup_only, intended CE        step2: full loss, official CE
    step<k>/<term>              weighted loss terms as above
    step<k>/segmentor.<key>     the segmentor's whole state dict after the step (weights and
                                BatchNorm running statistics, momentum 0.999)
    step1/sup_image_head        the first 8 values of sup1 (checks the shared random stream)
"""

import json
import os
import sys

# OpenBLAS, which the backward of LibTorch's 1×1 convolutions calls, rounds its GEMMs differently
# with another thread count (by default one per core: a step's weights then differ by up to 0.5 %,
# Adam amplifying the last bits); its count is fixed when it loads, before torch is imported, and
# torch.set_num_threads does not reach it. One thread makes the goldens independent of the
# machine; csad/train's TestMain runs the Go side the same way.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True   # no testdata/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csad_ref  # noqa: E402
from gen_golden import write_safetensors  # noqa: E402
from gen_model_golden import randomise_bn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.environ.get("CSAD_GOLDEN_OUT") or os.path.join(HERE, "golden"), "train_seg.safetensors")
LOSS_SEED = 31
MODEL_SEED = 4242
INPUT_SEED = 2024
SMOOTH = 1e-5   # focal label smoothing, also its pt offset
WEIGHTS = {"ce": 0.5, "focal": 10.0, "dice": 1.0, "hist": 10.0, "entropy": 1.0}   # §4.3
TERMS = ("total", "ce", "focal", "dice", "hist", "entropy_sup", "entropy_unsup")


# ------------------------------------------------------------------------------------------
# §4.2 losses. z (B,N,H,W) logits, t (B,H,W) int64.
# ------------------------------------------------------------------------------------------

def one_hot_nchw(t, n):
    """(B,H,W) → float (B,N,H,W), a permuted view of F.one_hot (channels innermost in memory)."""
    return F.one_hot(t, n).permute(0, 3, 1, 2).to(torch.float32)


def ce(z, t):
    """Cross entropy on the logits: mean over pixels of −log softmax at the target class."""
    return F.cross_entropy(z, t)


def ce_official(z, t):
    """§4.2 as written: CrossEntropyLoss with probability targets applied to softmax(z)."""
    return F.cross_entropy(torch.softmax(z, 1), one_hot_nchw(t, z.shape[1]))


def focal(z, t):
    """γ 2, α 1, smoothing s: ŷ = clamp(y, s/(N−1), 1−s), pt = Σ ŷ p + s, mean −(1−pt)² log pt."""
    b, n = z.shape[0], z.shape[1]
    p = torch.softmax(z, 1).view(b, n, -1).permute(0, 2, 1).contiguous().view(-1, n)
    y = F.one_hot(t.reshape(-1), n).to(torch.float32).clamp(SMOOTH / (n - 1), 1.0 - SMOOTH)
    pt = (y * p).sum(1) + SMOOTH
    logpt = pt.log()
    return (-(1 - pt).pow(2) * logpt).mean()


def dice(z, t):
    """Class-balanced Dice: w_c ∝ 1/(count_c + 1e-5) over the batch, normalised to sum 1;
    dice = (2 Σ p y + 1e-5) / ((Σ p + Σ y + 1e-5) + 1e-5); mean over (b, c) of w_c (1 − dice)."""
    n = z.shape[1]
    p = torch.softmax(z, 1)
    y = one_hot_nchw(t, n)
    w = 1 / (y.sum((0, 2, 3)) + 1e-5)
    w = w / w.sum()
    inter = 2 * (p * y).sum((2, 3))
    union = p.sum((2, 3)) + y.sum((2, 3)) + 1e-5
    d = (inter + 1e-5) / (union + 1e-5)
    return (w.reshape(1, n) * (1 - d)).mean()


def hist(z, t):
    """Σ over b and c ≥ 1 of |mean_hw one-hot(t) − mean_hw softmax(z)|, divided by B."""
    n = z.shape[1]
    p = torch.softmax(z, 1)
    diff = (one_hot_nchw(t, n).mean((2, 3)) - p.mean((2, 3))).abs()
    return diff[:, 1:].contiguous().sum() / z.shape[0]


def entropy(z):
    p = torch.softmax(z, 1)
    return (-p * (p + 1e-5).log()).mean()


def seg_loss(zs, gt, zu, randgt, sup_only, official):
    """§4.3 steps 2–4; the terms are evaluated (and autograd's graph built) in the official order:
    CE, focal, Dice, entropy(z_s), hist(z_u), entropy(z_u)."""
    w = WEIGHTS
    r = {}
    r["ce"] = (ce_official(zs, gt) if official else ce(zs, gt)) * w["ce"]
    r["focal"] = focal(zs, gt) * w["focal"]
    r["dice"] = dice(zs, gt) * w["dice"]
    r["entropy_sup"] = entropy(zs) * w["entropy"]
    r["hist"] = hist(zu, randgt) * w["hist"]
    r["entropy_unsup"] = entropy(zu) * w["entropy"]
    sup = r["ce"] + r["focal"] + r["dice"]
    r["total"] = sup if sup_only else sup + (r["hist"] + r["entropy_unsup"]) + r["entropy_sup"]
    return r


# ------------------------------------------------------------------------------------------

def loss_case(T, name, b, n, hw, variants, absent=None):
    g = torch.Generator().manual_seed(LOSS_SEED + len(name))
    z = torch.randn(b, n, hw, hw, generator=g) * 3
    zu = torch.randn(b, n, hw, hw, generator=g) * 3
    t = torch.randint(0, n, (b, hw, hw), generator=g)
    rt = torch.randint(0, n, (b, hw, hw), generator=g)
    if absent is not None:
        t[t == absent] = 0
        rt[rt == absent] = 0
    counts = torch.bincount(t.flatten(), minlength=n).tolist()
    assert (absent is None) == all(c > 0 for c in counts), counts
    pre = f"loss/{name}/"
    T += [(pre + "z", z), (pre + "zu", zu), (pre + "target", t.to(torch.uint8)),
          (pre + "randgt", rt.to(torch.uint8))]
    fns = {"ce": lambda x: ce(x, t), "ce_official": lambda x: ce_official(x, t),
           "focal": lambda x: focal(x, t), "dice": lambda x: dice(x, t),
           "entropy": entropy, "hist": lambda x: hist(x, rt)}
    vals = {}
    for k, f in fns.items():
        x = (zu if k == "hist" else z).clone().requires_grad_(True)
        v = f(x)
        v.backward()
        T += [(pre + k, v.detach()), (pre + k + "/grad", x.grad)]
        vals[k] = float(v)
    print(f"  {name}: class counts {counts}; " + ", ".join(f"{k} {v:.6g}" for k, v in vals.items()))
    for sup_only, official in variants:
        var = ("sup_only" if sup_only else "full") + ("_official" if official else "_intended")
        x, xu = z.clone().requires_grad_(True), zu.clone().requires_grad_(True)
        r = seg_loss(x, t, xu, rt, sup_only, official)
        r["total"].backward()
        for k in TERMS:
            T.append((f"seg/{name}/{var}/{k}", r[k].detach()))
        T.append((f"seg/{name}/{var}/grad_z", x.grad))
        # sup_only: no gradient reaches z_u; PyTorch leaves .grad None, stored as zeros
        T.append((f"seg/{name}/{var}/grad_zu", xu.grad if xu.grad is not None else torch.zeros_like(zu)))
        print(f"    {var}: total {float(r['total']):.6g}")


def label_map(low):
    """32×32 int64 labels → 256×256 by nearest interpolation (an exact ×8 enlargement)."""
    return F.interpolate(low[:, None].to(torch.float32), size=(256, 256), mode="nearest")[:, 0].to(torch.int64)


def steps(T):
    cfg = csad_ref.small_config(5)
    torch.manual_seed(MODEL_SEED)
    enc = csad_ref.ResNetTrunk(cfg)
    seg = csad_ref.Segmentor(cfg)
    gen = torch.Generator().manual_seed(MODEL_SEED + 1)
    randomise_bn(enc, gen)
    randomise_bn(seg, gen)
    for k, v in enc.state_dict().items():
        T.append(("init/encoder." + k, v.clone()))
    for k, v in seg.state_dict().items():
        T.append(("init/segmentor." + k, v.clone()))
    enc.eval()
    opt = torch.optim.Adam(seg.parameters(), lr=0.01, weight_decay=1e-5)

    torch.manual_seed(INPUT_SEED)
    images = [torch.randn(4, 3, 256, 256) for _ in range(4)]   # sup1, unsup1, sup2, unsup2
    T.append(("step1/sup_image_head", images[0].flatten()[:8].clone()))
    lg = torch.Generator().manual_seed(INPUT_SEED + 1)
    for k, (sup_only, official) in enumerate(((True, False), (False, True)), start=1):
        # blocky label maps: class 0 background on about half the cells
        low = torch.randint(0, 5, (4, 32, 32), generator=lg) * (torch.rand(4, 32, 32, generator=lg) > 0.5)
        rlow = torch.randint(0, 5, (4, 32, 32), generator=lg) * (torch.rand(4, 32, 32, generator=lg) > 0.5)
        T += [(f"step{k}/gt_low", low.to(torch.uint8)), (f"step{k}/randgt_low", rlow.to(torch.uint8))]
        gt, randgt = label_map(low), label_map(rlow)
        sup, unsup = images[2 * k - 2], images[2 * k - 1]
        seg.train()
        with torch.no_grad():
            fs = enc(sup)
            fu = enc(unsup)
        zs = seg(fs)
        zu = seg(fu)
        r = seg_loss(zs, gt, zu, randgt, sup_only, official)
        opt.zero_grad()
        r["total"].backward()
        opt.step()
        for t in TERMS:
            T.append((f"step{k}/{t}", r[t].detach()))
        for key, v in seg.state_dict().items():
            T.append((f"step{k}/segmentor.{key}", v.clone()))
        print(f"  step{k} (sup_only {sup_only}, official CE {official}): " +
              ", ".join(f"{t} {float(r[t]):.6g}" for t in TERMS))


def main():
    torch.set_num_threads(1)
    T = []
    print("losses:")
    both = ((True, False), (True, True), (False, False), (False, True))
    loss_case(T, "full", 2, 5, 12, both)
    loss_case(T, "absent", 3, 6, 8, ((True, False), (False, True)), absent=4)
    print("segmentor steps:")
    steps(T)
    meta = {"torch_version": torch.__version__, "num_threads": str(torch.get_num_threads()),
            "openblas_num_threads": os.environ["OPENBLAS_NUM_THREADS"],
            "config": json.dumps(csad_ref.small_config(5), separators=(",", ":")),
            "model_seed": str(MODEL_SEED), "input_seed": str(INPUT_SEED),
            "weights": json.dumps(WEIGHTS, separators=(",", ":"))}
    write_safetensors(OUT, T, meta)
    print(f"{len(T)} tensors, {os.path.getsize(OUT)} bytes -> {OUT} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} thread)")


if __name__ == "__main__":
    main()
