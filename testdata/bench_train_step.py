#!/usr/bin/python3
"""Python twin of csad/train's BenchmarkTrainStep: one LGST step and one segmentor step of the
small config in eager PyTorch (csad_ref's modules), timed one at a time on command, so the Go
benchmark can alternate Go and Python step by step on the same machine state.

    /usr/bin/python3 testdata/bench_train_step.py [THREADS]     # started by the Go benchmark

Protocol (one line each way): on start-up the script builds both set-ups, runs one untimed
warm-up step of each kind and prints "ready <torch version>" (or "missing <reason>" and exits 0
when torch cannot be imported, so the benchmark can skip). Then for each line on stdin:
    lgst   one LGST iteration (§3.5) -> prints its wall time and the CPU time of the whole
           process (every thread), in seconds, and the minor page faults it took
    seg    one segmentor iteration (§4.3, full loss) -> the same
    conv5-wW-Ppx  one step of a plain 5-convolution net of width W on P×P images with Adam
           (csad/train's convNetBenchStep; W/P = 8/16, 32/64, 64/128) -> the same
    quit   exits
Anything else prints "error <message>" and exits 1.

The steps are the golden scripts' own: gen_lgst_golden.step (teacher statistics by
gen_lgst_golden.teacher_stats first) and the step of gen_train_golden_seg.steps, restated below
because that one is inline in a loop, with gen_train_golden_seg.seg_loss (intended CE, as the
Go side's DefaultSegTrainConfig). Batch 2 at 256 px; the LGST step has one penalty image, as
the pipeline's step with a penalty folder; Adam and StepLR as the official training
(DefaultLGSTTrainConfig: 60 000 iterations, so no rate drop here). Inputs are drawn once and
reused; only the step is timed (time.perf_counter), not the drawing.

OpenBLAS runs on one thread, as in the Go test binary (csad/train's TestMain): it serves the
backward of 1×1 convolutions, and a different thread count on one side would make the
comparison unfair. LibTorch's intra-op threads: THREADS (default 2). The OpenMP idle policy
comes from the environment, as the Go side's does: on a busy machine run both with
OMP_WAIT_POLICY=passive (see BenchmarkTrainStep).
"""

import os
import resource
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"   # read once, when OpenBLAS loads with torch

sys.dont_write_bytecode = True   # no testdata/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BATCH = 2
SIZE = 256
CLASSES = 5
SEED = 7
LGST_ITERATIONS = 60000   # DefaultLGSTTrainConfig: StepLR's step size int(0.95·60000)


def reply(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


try:
    import torch  # noqa: E402
    import csad_ref  # noqa: E402
    import gen_lgst_golden as lg  # noqa: E402
    import gen_train_golden_seg as sg  # noqa: E402
    from gen_model_golden import randomise_bn  # noqa: E402
except ImportError as e:   # the Go benchmark skips on this answer
    reply(f"missing {e}")
    sys.exit(0)


def lgst_setup(cfg):
    torch.manual_seed(SEED)
    enc = csad_ref.ResNetTrunk(cfg)
    teacher = csad_ref.TeacherHead(cfg)
    student = csad_ref.LocalStudent(cfg)
    ae = csad_ref.AutoEncoder(cfg)
    randomise_bn(enc, torch.Generator().manual_seed(SEED + 1))
    enc.eval()
    teacher.eval()
    stats_images = torch.randn(2 * BATCH, 3, SIZE, SIZE)
    order = torch.arange(2 * BATCH)
    mean, std = lg.teacher_stats(enc, teacher, stats_images, order, order)
    student.train()
    ae.train()
    opt = torch.optim.Adam(list(student.parameters()) + list(ae.parameters()), lr=2e-4, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=int(0.95 * LGST_ITERATIONS), gamma=0.1)
    image, aug = torch.randn(BATCH, 3, SIZE, SIZE), torch.randn(BATCH, 3, SIZE, SIZE)
    penalty = torch.randn(1, 3, SIZE, SIZE)

    def run():
        lg.step(enc, teacher, student, ae, opt, sched, mean, std, image, aug, penalty)
    return run


def seg_setup(cfg):
    torch.manual_seed(SEED + 2)
    enc = csad_ref.ResNetTrunk(cfg)
    seg = csad_ref.Segmentor(cfg)
    gen = torch.Generator().manual_seed(SEED + 3)
    randomise_bn(enc, gen)
    randomise_bn(seg, gen)
    enc.eval()
    opt = torch.optim.Adam(seg.parameters(), lr=0.01, weight_decay=1e-5)
    sup, unsup = torch.randn(BATCH, 3, SIZE, SIZE), torch.randn(BATCH, 3, SIZE, SIZE)
    low = SIZE // 8
    gt = sg.label_map(torch.randint(0, CLASSES, (BATCH, low, low), generator=gen))
    randgt = sg.label_map(torch.randint(0, CLASSES, (BATCH, low, low), generator=gen))

    def run():
        # gen_train_golden_seg.steps' iteration, full loss (sup_only False), intended CE
        seg.train()
        with torch.no_grad():
            fs = enc(sup)
            fu = enc(unsup)
        zs = seg(fs)
        zu = seg(fu)
        r = sg.seg_loss(zs, gt, zu, randgt, False, False)
        opt.zero_grad()
        r["total"].backward()
        opt.step()
    return run


CONV_SIZES = ((8, 16), (32, 64), (64, 128))   # (width, px): csad/train's convNetSizes


def conv_setup(width, px):
    """The Go benchmark's convNetBenchStep: five 3x3 convolutions with ReLUs between, MSE, Adam
    with PyTorch's defaults, gradients set to None before each step."""
    torch.manual_seed(11)
    w = width
    layers = []
    for cin, cout in ((3, w), (w, w), (w, w), (w, w), (w, 3)):
        layers += [torch.nn.Conv2d(cin, cout, 3, padding=1), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(net.parameters())
    x, y = torch.randn(BATCH, 3, px, px), torch.randn(BATCH, 3, px, px)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    return run


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    cfg = csad_ref.small_config(CLASSES)
    steps = {"lgst": lgst_setup(cfg), "seg": seg_setup(cfg)}
    for w, px in CONV_SIZES:
        steps[f"conv5-w{w}-{px}px"] = conv_setup(w, px)
    for run in steps.values():   # warm-up: first-call allocations and kernel selection
        run()
    reply(f"ready {torch.__version__}")
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            return
        run = steps.get(cmd)
        if run is None:
            reply(f"error unknown command {cmd!r}: want one of {', '.join(steps)} or quit")
            sys.exit(1)
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        c0, t0 = time.process_time(), time.perf_counter()
        run()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        reply(f"{dt!r} {dc!r} {resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0}")


if __name__ == "__main__":
    main()
