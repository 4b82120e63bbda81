#!/usr/bin/python3
"""Goldens for the LGST branch's training (spec §1.4, §3.5–3.7) on the small config, computed by
Debian's PyTorch 1.13 and Pillow 9.4 with one thread:

    /usr/bin/python3 testdata/gen_lgst_golden.py     # → testdata/golden/lgst.safetensors
    (the tests run it themselves, on the machine under test: torchtest.GoldenDir)

(CSAD_GOLDEN_OUT, if set, names another output folder.)

Networks: after torch.manual_seed(MODEL_SEED), csad_ref's ResNetTrunk, TeacherHead, LocalStudent
and AutoEncoder of small_config(5) are built in that order; the encoder's BatchNorms are then
randomised from a generator seeded MODEL_SEED + 1. Stored as init/encoder.*, init/teacher.*,
init/local_st.*, init/autoencoder.*. The encoder and teacher run in eval mode throughout.

Inputs: after torch.manual_seed(INPUT_SEED) these are drawn in this order with torch.randn (not
stored; the Go test draws the same stream): train (5,3,256,256), val (3,3,256,256), then for
steps 1 and 2 image (2,3,256,256), aug (2,3,256,256), and for step 1 only penalty (1,3,256,256).
input_head holds the first 8 values of train (checks the shared stream).

Teacher statistics (§3.6): mean pass over train in the order stats/perm_mean, std pass in the
order stats/perm_std (int64 permutations: the two passes of a shuffled loader), batches of 2,
the last one of 1. stats/mean, stats/std (1,C,1,1).

Steps (§3.5): student and autoencoder in train mode, Adam(lr 2e-4, weight_decay 1e-4) over
student then autoencoder parameters, StepLR(step_size int(0.95·ITERATIONS) = 1, gamma 0.1), so
step 2 runs at lr 2e-5. torch.manual_seed(DROPOUT_SEED + k) right before step k fixes the
autoencoder's dropout masks. Step 1 has a penalty image, step 2 none.
    step<k>/<loss>           hard, penalty (step 1), st, ae, stae, total (0-dim float32)
    step<k>/local_st.<key>, step<k>/autoencoder.<key>    the weights after the step
Metadata lr_after_step<k> is the scheduler's rate after the step (repr of the float).

Map quantiles (§3.7): after step 2, student and autoencoder in eval mode, the local and global
maps of the val images one by one (batch 1), concatenated; quantiles 0.9 and 0.995 by
torch.quantile (linear): q/st_start, q/st_end, q/ae_start, q/ae_end.

Colour jitter (§1.4): jitter/image is a (24,32,3) uint8 fixture; jitter/<enhancer>/<i> is
ImageEnhance.<Brightness|Contrast|Color>(image).enhance(f_i) for the factors of metadata
jitter_factors (repr of Python floats; the first ones are the float32 values torchvision's
uniform_(0.8, 1.2) gives, then range ends and extrapolations).

Penalty images (§1.4): penalty/image is a (12,10,3) uint8 fixture (H, W, C); for S in
PENALTY_SIZES, penalty/<S>/colour and penalty/<S>/grey are torchvision's
Resize((2S, 2S)) → [rgb_to_grayscale(·, 3) for grey] → CenterCrop(S) → ToTensor → Normalize
(float32 (3,S,S)).
"""

import json
import os
import sys

# As in gen_train_golden_seg.py: OpenBLAS (the backward of 1×1 convolutions) rounds differently
# with another thread count, which it reads when it loads.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageEnhance  # noqa: E402
from torchvision import transforms  # noqa: E402
import torchvision.transforms.functional as TF  # noqa: E402

sys.dont_write_bytecode = True   # no testdata/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csad_ref  # noqa: E402
from gen_golden import write_safetensors  # noqa: E402
from gen_model_golden import randomise_bn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.environ.get("CSAD_GOLDEN_OUT") or os.path.join(HERE, "golden"), "lgst.safetensors")
MODEL_SEED = 515
INPUT_SEED = 2025
DROPOUT_SEED = 90
ITERATIONS = 2
N_TRAIN, N_VAL = 5, 3
PENALTY_SIZES = (32, 33)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def teacher_out(enc, teacher, x):
    return teacher(enc(x))


@torch.no_grad()
def teacher_stats(enc, teacher, train, perm_mean, perm_std):
    """The official teacher_normalization over two shuffled passes (batch 2)."""
    def batches(perm):
        return [train[perm[i:i + 2]] for i in range(0, len(perm), 2)]
    means = [torch.mean(teacher_out(enc, teacher, x), dim=[0, 2, 3]) for x in batches(perm_mean)]
    mean = torch.mean(torch.stack(means), dim=0)[None, :, None, None]
    dists = [torch.mean((teacher_out(enc, teacher, x) - mean) ** 2, dim=[0, 2, 3]) for x in batches(perm_std)]
    var = torch.mean(torch.stack(dists), dim=0)[None, :, None, None]
    return mean, torch.sqrt(var)


def step(enc, teacher, student, ae, opt, sched, mean, std, image, aug, penalty):
    """One iteration of the official training loop (CSAD.py train), op for op."""
    with torch.no_grad():
        t = teacher_out(enc, teacher, image)
        t = (t - mean) / std
    st, _ = student(image)
    dist_st = torch.pow(t - st, 2)
    d_hard = torch.quantile(dist_st, q=0.999)
    loss_hard = torch.mean(dist_st[dist_st >= d_hard])
    r = {"hard": loss_hard}
    if penalty is not None:
        sp, _ = student(penalty)
        r["penalty"] = torch.mean(sp ** 2)
        loss_st = loss_hard + r["penalty"]
    else:
        loss_st = loss_hard
    with torch.no_grad():
        ta = teacher_out(enc, teacher, aug)
        ta = (ta - mean) / std
    _, sae = student(aug)
    a = ae(aug)
    loss_ae = torch.mean(torch.pow(ta - a, 2))
    loss_stae = torch.mean(torch.pow(a - sae, 2))
    total = loss_st * 1.0 + loss_ae * 1.0 + loss_stae * 1.0
    opt.zero_grad()
    total.backward()
    opt.step()
    sched.step()
    r.update(st=loss_st, ae=loss_ae, stae=loss_stae, total=total)
    return {k: v.detach().clone() for k, v in r.items()}


@torch.no_grad()
def quantiles(enc, teacher, student, ae, mean, std, val):
    maps_st, maps_ae = [], []
    for i in range(val.shape[0]):
        x = val[i:i + 1]
        t = (teacher_out(enc, teacher, x) - mean) / std
        st, sae = student(x)
        a = ae(x)
        maps_st.append(torch.mean((t - st) ** 2, dim=1, keepdim=True))
        maps_ae.append(torch.mean((a - sae) ** 2, dim=1, keepdim=True))
    ms, ma = torch.cat(maps_st), torch.cat(maps_ae)
    return {"st_start": torch.quantile(ms, q=0.9), "st_end": torch.quantile(ms, q=0.995),
            "ae_start": torch.quantile(ma, q=0.9), "ae_end": torch.quantile(ma, q=0.995)}


def lgst(T, meta):
    cfg = csad_ref.small_config(5)
    torch.manual_seed(MODEL_SEED)
    enc = csad_ref.ResNetTrunk(cfg)
    teacher = csad_ref.TeacherHead(cfg)
    student = csad_ref.LocalStudent(cfg)
    ae = csad_ref.AutoEncoder(cfg)
    randomise_bn(enc, torch.Generator().manual_seed(MODEL_SEED + 1))
    for prefix, m in (("encoder", enc), ("teacher", teacher), ("local_st", student), ("autoencoder", ae)):
        for k, v in m.state_dict().items():
            T.append((f"init/{prefix}.{k}", v.clone()))
    enc.eval()
    teacher.eval()

    torch.manual_seed(INPUT_SEED)
    train = torch.randn(N_TRAIN, 3, 256, 256)
    val = torch.randn(N_VAL, 3, 256, 256)
    inputs = []
    for k in (1, 2):
        image, aug = torch.randn(2, 3, 256, 256), torch.randn(2, 3, 256, 256)
        penalty = torch.randn(1, 3, 256, 256) if k == 1 else None
        inputs.append((image, aug, penalty))
    T.append(("input_head", train.flatten()[:8].clone()))

    g = torch.Generator().manual_seed(INPUT_SEED + 1)
    perm_mean, perm_std = torch.randperm(N_TRAIN, generator=g), torch.randperm(N_TRAIN, generator=g)
    mean, std = teacher_stats(enc, teacher, train, perm_mean, perm_std)
    T += [("stats/perm_mean", perm_mean), ("stats/perm_std", perm_std),
          ("stats/mean", mean), ("stats/std", std)]
    print(f"  teacher stats: order {perm_mean.tolist()} / {perm_std.tolist()}, "
          f"mean[:3] {mean.flatten()[:3].tolist()}, std[:3] {std.flatten()[:3].tolist()}")

    student.train()
    ae.train()
    opt = torch.optim.Adam(list(student.parameters()) + list(ae.parameters()), lr=2e-4, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=int(0.95 * ITERATIONS), gamma=0.1)
    for k, (image, aug, penalty) in enumerate(inputs, start=1):
        torch.manual_seed(DROPOUT_SEED + k)
        r = step(enc, teacher, student, ae, opt, sched, mean, std, image, aug, penalty)
        for name, v in r.items():
            T.append((f"step{k}/{name}", v))
        for prefix, m in (("local_st", student), ("autoencoder", ae)):
            for key, v in m.state_dict().items():
                T.append((f"step{k}/{prefix}.{key}", v.clone()))
        meta[f"lr_after_step{k}"] = repr(sched.get_last_lr()[0])
        print(f"  step{k}: " + ", ".join(f"{n} {float(v):.6g}" for n, v in r.items()) +
              f"; lr now {sched.get_last_lr()[0]!r}")

    student.eval()
    ae.eval()
    q = quantiles(enc, teacher, student, ae, mean, std, val)
    for name, v in q.items():
        T.append((f"q/{name}", v))
    print("  quantiles: " + ", ".join(f"{n} {float(v):.6g}" for n, v in q.items()))


def fixture(h, w, seed):
    """A smooth colour gradient with noise: every byte value range, non-grey pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([255 * x / (w - 1), 255 * y / (h - 1), 128 + 100 * np.sin((x + y) / 3)], axis=2)
    return np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)


def jitter(T, meta):
    img = fixture(24, 32, 7)
    T.append(("jitter/image", torch.from_numpy(img)))
    g = torch.Generator().manual_seed(11)
    factors = [float(torch.empty(1).uniform_(0.8, 1.2, generator=g)) for _ in range(4)]
    factors += [0.8, 1.2, 1.0, 0.0, 0.37, 1.9, -0.25]
    meta["jitter_factors"] = json.dumps([repr(f) for f in factors])
    pil = Image.fromarray(img, "RGB")
    for name, cls in (("brightness", ImageEnhance.Brightness), ("contrast", ImageEnhance.Contrast),
                      ("saturation", ImageEnhance.Color)):
        for i, f in enumerate(factors):
            out = np.asarray(cls(pil).enhance(f))
            T.append((f"jitter/{name}/{i}", torch.from_numpy(out.copy())))
    # torchvision's own functions reach the same enhancers
    assert (np.asarray(TF.adjust_saturation(pil, factors[0])) ==
            np.asarray(ImageEnhance.Color(pil).enhance(factors[0]))).all()


def penalty(T):
    img = fixture(12, 10, 8)
    T.append(("penalty/image", torch.from_numpy(img)))
    pil = Image.fromarray(img, "RGB")
    norm = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    for s in PENALTY_SIZES:
        big = transforms.Resize((2 * s, 2 * s))(pil)
        T.append((f"penalty/{s}/colour", norm(transforms.CenterCrop(s)(big))))
        grey = TF.rgb_to_grayscale(big, num_output_channels=3)
        T.append((f"penalty/{s}/grey", norm(transforms.CenterCrop(s)(grey))))


def main():
    torch.set_num_threads(1)
    T, meta = [], {}
    print("LGST:")
    lgst(T, meta)
    jitter(T, meta)
    penalty(T)
    meta.update({"torch_version": torch.__version__, "pillow_version": Image.__version__,
                 "num_threads": str(torch.get_num_threads()),
                 "openblas_num_threads": os.environ["OPENBLAS_NUM_THREADS"],
                 "config": json.dumps(csad_ref.small_config(5), separators=(",", ":")),
                 "model_seed": str(MODEL_SEED), "input_seed": str(INPUT_SEED),
                 "dropout_seed": str(DROPOUT_SEED), "iterations": str(ITERATIONS),
                 "penalty_sizes": json.dumps(PENALTY_SIZES)})
    write_safetensors(OUT, T, meta)
    print(f"{len(T)} tensors, {os.path.getsize(OUT)} bytes -> {OUT} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} thread)")


if __name__ == "__main__":
    main()
