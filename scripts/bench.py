"""How fast is cnntrain next to hand-written PyTorch on this machine?

    python scripts/bench.py            # full run (under 15 minutes), a Rich table
    python scripts/bench.py --quick    # under 2 minutes, fewer rounds and smaller sets
    python scripts/bench.py --json     # one JSON object: every figure and the raw numbers behind it
    python scripts/bench.py --peers    # cnntrain against PyTorch Lightning and Keras (pip install -e '.[bench]')
    python scripts/bench.py --no-bf16  # as on a CPU without bf16 units (CNNTRAIN_CPU_BF16=0)

Every speed is a ratio measured side by side in this one process, because the machines this runs on
are shared: another process taking a core slows a 2-thread PyTorch step 5-15x (OpenMP threads wait
on each other at every barrier). So the competitors run in short turns, interleaved round after
round in a shuffled order, and each figure is the median over rounds of the per-round ratio; the
first rounds are warm-up and dropped. Each round waits briefly for a quiet machine, and rounds in
which other processes kept more than 0.3 cores busy are left out when at least 3 quiet ones remain.
`background_cores` says how busy the rest of the machine was.

What runs:
- train: mnist_cnn's network through cnntrain's real Engine (fp32, and bf16 autocast with
  channels_last as `train.precision: bf16` sets it) against a bare PyTorch loop of the same network,
  batch size and optimizer, on random 28x28 uint8 images; plus a large fp32 (and bf16) matmul, the
  peak behind model FLOP utilisation. bf16 is timed only on CPUs with bf16 units (AVX512-BF16, AMX,
  ARM BF16); elsewhere it is emulated, 10x slower than fp32, and the bench only checks that
  `cnntrain train` warns about it.
- busy: the same epochs while a neighbour process burns one core, beside quiet ones, with cnntrain's
  thread count following the free cores (run/device.py, CoreShare) and fixed at the start.
- imagefolder: 6000 28x28 PNGs from cnntrain's shapes generator; `cnntrain.run.train.train` against
  torchvision's ImageFolder + DataLoader(num_workers=2), same small model, epochs after the first.
- accuracy and stable epochs: mnist_cnn's network on shapes, fp32 and bf16, through `train()`, with
  mnist_cnn's step schedule (gamma 0.7); after every epoch a fixed bare-loop turn measures the
  machine, so a slow late epoch can be told apart from a busy machine.
- denormals, start-up (subprocesses), evaluation (predict_logits) and memory (uint8 cache, peak RSS).
- peers (--peers, alone): cnntrain's `train()`, the bare loop, PyTorch Lightning's Trainer and Keras 3
  on torch, each in a process of its own (scripts/bench_peers.py), one epoch per turn, interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnntrain.config.loader import config_from_dict, load_config
from cnntrain.data import channel_stats, load_data
from cnntrain.model.builder import build_model
from cnntrain.model.summary import summarize
from cnntrain.run.device import CORES, autocast_dtype, configure, cpu_flags, cpu_has_fast_bf16
from cnntrain.run.engine import Engine
from cnntrain.run.inference import predict_logits
from cnntrain.run.normalize import Normalizer
from cnntrain.run.progress import Progress
from cnntrain.run.train import train

ROOT = Path(__file__).resolve().parents[1]
MNIST_CNN = ROOT / "configs" / "mnist_cnn.yaml"
CPU = torch.device("cpu")
QUIET_CORES = 0.3  # other processes using less than this: a round counts as quiet
OWN_PIDS: set[int] = set()  # our child processes still running (peers, the neighbour): not "other processes"

# Targets, as ratios or limits; `met` in the output compares against these.
TARGETS = {
    "train_fp32_vs_bare": (">=", 0.95),
    "imagefolder_vs_torchvision": (">=", 10.0),
    "bf16_vs_bare_fp32": (">=", 1.5),
    "bf16_accuracy_gap_points": ("<=", 0.5),
    "mfu": (">=", 0.5),
    "late_over_early_epochs": (">=", 0.8),
    "busy_over_quiet": (">=", 0.4),
    "quiet_adaptive_vs_fixed_threads": (">=", 0.95),
    "peers_vs_lightning": (">=", 1.2),
    "peers_vs_keras": (">=", 1.2),
    "help_seconds": ("<=", 0.3),
    "summary_seconds": ("<=", 3.0),
    "cache_60k_megabytes": ("<=", 50.0),
}

SIZES = {  # quick / full
    "train_rounds": (6, 36), "warmup_rounds": (2, 2), "train_budget_s": (20, 150), "epoch_images": (640, 640),
    "png_images": (4000, 6000), "folder_epochs": (2, 4),
    # mnist_cnn needs ~100k shapes images to converge (>97%): only then does an accuracy gap mean much.
    "shapes_train": (2000, 16000), "shapes_epochs": (2, 8), "shapes_test": (1000, 2000),
    "eval_images": (1000, 10000), "eval_rounds": (2, 5), "help_runs": (3, 7), "summary_runs": (2, 5),
    "quiet_wait_s": (3, 20), "cache_images": (10000, 60000), "rss_train": (1000, 10000),
    "busy_images": (320, 640), "busy_rounds": (3, 10), "busy_budget_s": (15, 90),
    "peer_images": (3000, 10000), "peer_rounds": (3, 6), "peer_budget_s": (150, 600),
}


# --- the machine ---------------------------------------------------------------------------------


# the vector extensions that decide how fast torch's kernels run: x86, then ARM
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "asimd", "sve",
                "sve2", "bf16", "i8mm")


def machine() -> dict:
    flags = cpu_flags()
    forced = os.environ.get("CNNTRAIN_CPU_BF16")
    return {"cpu": cpu_model(), "arch": platform.machine(), "cores": os.cpu_count(),
            "vector_extensions": [f for f in VECTOR_FLAGS if f in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "fast_bf16": cpu_has_fast_bf16(), "fast_bf16_forced": forced if forced in ("0", "1") else None,
            "torch": torch.__version__, "torch_build": torch_build(), "python": platform.python_version(),
            "load_average": os.getloadavg()}


def cpu_model() -> str:
    """x86's `model name`; ARM Linux names the implementer and part only (e.g. 0x41 / 0xd40: Neoverse V1)."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" in fields:
        return fields["model name"]
    if "CPU part" in fields:
        return f"{platform.machine()} CPU implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']}"
    return platform.processor() or platform.machine() or "unknown"


def torch_build() -> str:
    kind = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    parallel = next((line.split(":", 1)[1].strip() for line in torch.__config__.parallel_info().splitlines()
                     if line.startswith("ATen parallel backend")), "?")
    return f"{kind}; {parallel}; oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"


class Busy:
    """Cores the rest of the machine kept busy while a section ran (0 on a quiet machine)."""

    def __enter__(self):
        self.start = _cpu_ticks()
        return self

    def __exit__(self, *exc):
        total, ours, wall = (b - a for a, b in zip(self.start, _cpu_ticks()))
        self.cores = round(max(total - ours, 0.0) / wall, 2) if wall > 0 else None


def _cpu_ticks() -> tuple[float, float, float]:
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        busy = (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        busy = 0.0
    t = os.times()
    ours = t.user + t.system + t.children_user + t.children_system + sum(_process_seconds(p) for p in list(OWN_PIDS))
    return busy, ours, time.perf_counter()


def _process_seconds(pid: int) -> float:
    """CPU seconds a running child used (it counts in os.times() only once waited for)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def others_now(seconds: float = 0.25) -> float:
    """Cores other processes are using right now (we sleep meanwhile)."""
    with Busy() as busy:
        time.sleep(seconds)
    return busy.cores or 0.0


def wait_quiet(max_wait_s: float, limit: float = QUIET_CORES) -> float:
    """Wait (up to max_wait_s) for the other processes to leave the CPUs; -> seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait_s and others_now() > limit:
        time.sleep(0.25)
    return time.perf_counter() - start


class Rounds:
    """Units per second of each turn, round by round, and how busy the machine was in each round."""

    def __init__(self, names):
        self.rates, self.background = {n: [] for n in names}, []

    def quiet(self) -> "Rounds":
        """Only the rounds the rest of the machine left alone, when there are at least 3 of them."""
        keep = [i for i, b in enumerate(self.background) if b <= QUIET_CORES]
        if len(keep) < 3:
            return self
        picked = Rounds(self.rates)
        picked.rates = {n: [r[i] for i in keep] for n, r in self.rates.items()}
        picked.background = [self.background[i] for i in keep]
        return picked

    def median(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def ratio(self, a: str, b: str, scale: float = 1.0) -> float:
        """Median over rounds of the per-round ratio a / b: both saw the same machine."""
        return statistics.median(scale * x / y for x, y in zip(self.rates[a], self.rates[b]))


def interleave(turns: dict, rounds: int, warmup: int, budget_s: float) -> Rounds:
    """Run every turn once per round, in a shuffled order.

    A turn is a function returning how many units (images, FLOPs) it processed, or (units, seconds)
    when it times itself (a peer's epoch inside its framework, a turn that first starts a neighbour).
    Before each round we wait a little for a quiet machine; warm-up rounds are dropped; the budget
    (waits included) stops early on a crowded machine, never before 3 measured rounds.
    """
    names, out = list(turns), Rounds(turns)
    started = time.perf_counter()
    for r in range(warmup + rounds):
        wait_quiet(min(5.0, max(budget_s - (time.perf_counter() - started), 0.0) / 4))
        order = random.Random(r).sample(names, len(names))  # neither first place nor a neighbour is fixed
        with Busy() as busy:
            for name in order:
                t = time.perf_counter()
                done = turns[name]()
                units, seconds = done if isinstance(done, tuple) else (done, time.perf_counter() - t)
                if r >= warmup:
                    out.rates[name].append(units / seconds)
        if r >= warmup:
            out.background.append(busy.cores or 0.0)
        if r >= warmup + 2 and time.perf_counter() - started > budget_s:
            break
    return out


# --- the bare loop the targets compare against --------------------------------------------------


def bare_mnist_cnn(num_classes: int = 10) -> nn.Sequential:
    """pytorch/examples' MNIST network, written by hand."""
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, num_classes))


class BareLoop:
    """The plain loop: a pre-normalized float tensor, randperm indexing, zero_grad/backward/step."""

    def __init__(self, x_uint8: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float, bf16: bool = False):
        torch.manual_seed(0)
        mean, std = channel_stats(x_uint8)
        self.x = (x_uint8.float() / 255 - mean[0]) / std[0]  # (N, 1, 28, 28)
        self.y, self.batch_size, self.bf16 = y, batch_size, bf16
        self.model = bare_mnist_cnn(int(y.max()) + 1)
        if bf16:  # what a hand-written bf16 loop on a CPU would do
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adadelta(self.model.parameters(), lr=lr)

    def epoch(self) -> int:
        self.model.train()
        order = torch.randperm(len(self.y))
        for i in range(0, len(order), self.batch_size):
            index = order[i:i + self.batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                loss = F.cross_entropy(self.model(self.x[index]), self.y[index])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return len(order)


def random_images(n: int, classes: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    return x, torch.randint(0, classes, (n,), generator=g)


def cnntrain_engine(config, x: torch.Tensor, y: torch.Tensor, precision: str) -> Engine:
    """cnntrain's Engine as `train()` builds it (Session._engine): bf16 brings channels_last along."""
    amp = autocast_dtype(precision, CPU)
    memory_format = torch.channels_last if amp is not None else None
    torch.manual_seed(0)
    model = build_model(config, num_classes=int(y.max()) + 1).model
    model = model.to(CPU, memory_format=memory_format or torch.preserve_format)
    normalize = Normalizer(*channel_stats(x)).to(CPU, 2)
    return Engine(model=model, core=model, train_x=x, train_y=y, normalize=normalize, train_cfg=config.train,
                  augment={}, device=CPU, amp_dtype=amp, memory_format=memory_format)


def matmul_turn(dtype: torch.dtype, size: int = 2048, repeats: int = 4):
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)

    def turn() -> float:
        for _ in range(repeats):
            torch.mm(a, b)
        return 2.0 * size**3 * repeats  # FLOPs

    return turn


# --- 1. training throughput, bf16 speed-up, model FLOP utilisation ------------------------------


def bench_train(s: dict) -> dict:
    config = load_config(MNIST_CNN, ["train.epochs=1000"])  # steps the real schedule, never runs out
    x, y = random_images(s["epoch_images"])
    precisions = ("fp32", "bf16") if cpu_has_fast_bf16() else ("fp32",)
    engines = {p: cnntrain_engine(config, x, y, p) for p in precisions}
    bare = {p: BareLoop(x, y, config.train["batch_size"], config.train["lr"], bf16=p == "bf16") for p in precisions}
    epochs = {p: 0 for p in precisions}

    def engine_turn(precision):
        def turn() -> int:
            epochs[precision] += 1
            return engines[precision].train_epoch(epochs[precision], Progress()).images
        return turn

    turns = {}
    for p in precisions:
        dtype = torch.float32 if p == "fp32" else torch.bfloat16
        turns |= {f"bare_{p}": bare[p].epoch, f"cnntrain_{p}": engine_turn(p), f"matmul_{p}": matmul_turn(dtype)}
    with Busy() as busy, threads_fixed():
        every = interleave(turns, s["train_rounds"], s["warmup_rounds"], s["train_budget_s"])
    rounds = every.quiet()
    macs = summarize(config).macs
    flops = 3 * 2 * macs  # forward, and a backward of twice the forward; 2 FLOPs per multiply-add
    out = {
        "images_per_epoch": s["epoch_images"], "batch_size": config.train["batch_size"],
        "optimizer": config.train["optimizer"], "rounds": len(every.background), "rounds_used": len(rounds.background),
        "background_cores": busy.cores, "background_cores_used_rounds": round(statistics.mean(rounds.background), 2),
        **{f"{k}_img_s": round(rounds.median(k), 1) for k in turns if not k.startswith("matmul")},
        **{f"matmul_{p}_gflops": round(rounds.median(f"matmul_{p}") / 1e9, 1) for p in precisions},
        "ratio_fp32_vs_bare": round(rounds.ratio("cnntrain_fp32", "bare_fp32"), 3),
        "forward_macs": macs, "train_flops_per_image": flops,
        "mfu_fp32": round(rounds.ratio("cnntrain_fp32", "matmul_fp32", flops), 3),
        "per_round": {k: [round(v, 1) for v in r] for k, r in every.rates.items() if not k.startswith("matmul")},
        "per_round_background_cores": every.background,
    }
    if "bf16" in precisions:
        out |= {"bf16": "timed",
                "ratio_bf16_vs_bare_fp32": round(rounds.ratio("cnntrain_bf16", "bare_fp32"), 3),
                "ratio_bf16_vs_bare_bf16": round(rounds.ratio("cnntrain_bf16", "bare_bf16"), 3),
                "mfu_bf16_vs_fp32_peak": round(rounds.ratio("cnntrain_bf16", "matmul_fp32", flops), 3),
                "mfu_bf16_vs_bf16_peak": round(rounds.ratio("cnntrain_bf16", "matmul_bf16", flops), 3)}
    else:
        out |= {"bf16": "emulated here, not timed", "train_warns_about_bf16": train_warns_about_bf16()}
    return out


@contextlib.contextmanager
def threads_fixed():
    """cnntrain's Engine with the bare loop's thread count: in a busy round CoreShare would take fewer
    threads than the loops it is compared with (the busy section measures that)."""
    enabled, CORES.enabled = CORES.enabled, False
    try:
        yield
    finally:
        CORES.enabled = enabled


def train_warns_about_bf16() -> bool:
    """On a CPU without bf16 units, does `cnntrain train --set train.precision=bf16` say it will be slow?"""
    with tempfile.TemporaryDirectory(prefix="cnntrain-bench-") as out:
        command = cnntrain_command() + ["train", "--config", str(MNIST_CNN), "--out", str(Path(out) / "run"), "--quiet",
                                        "--set", "data.dataset=shapes", "--set", "data.num_classes=null",
                                        "--set", "data.train_size=64", "--set", "data.val_size=16",
                                        "--set", "data.test_size=16", "--set", "train.epochs=1",
                                        "--set", "train.precision=bf16"]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    return done.returncode == 0 and "bf16 is emulated" in done.stderr


# --- 2. image folder: cnntrain's decoded cache against ImageFolder + DataLoader -----------------

# Small enough that feeding it is the work (data-bound): one strided conv and a linear layer.
SMALL_LAYERS = [{"conv2d": {"out_channels": 8, "kernel_size": 3, "stride": 2}}, "relu", "flatten",
                {"linear": "num_classes"}]


def write_png_folder(root: Path, n: int) -> list[str]:
    """n 28x28 grayscale PNGs, root/<class>/<i>.png, drawn by cnntrain's shapes generator."""
    from PIL import Image

    splits = load_data({"dataset": "shapes", "image_size": 28, "channels": 1, "num_classes": None,
                        "train_size": n, "val_size": 0, "test_size": 0}, 0)
    for name in splits.classes:
        (root / name).mkdir(parents=True)
    for i, (image, label) in enumerate(zip(splits.train.x[:, 0].numpy(), splits.train.y.tolist())):
        Image.fromarray(image, "L").save(root / splits.classes[label] / f"{i:05d}.png")
    return splits.classes


def torchvision_epochs(root: Path, classes: int, epochs: int, batch_size: int, persistent: bool = False) -> list[float]:
    """The usual torchvision pipeline, with the same small model; -> images/s of each epoch."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.Grayscale(1), transforms.ToTensor(), transforms.Normalize((0.5,), (0.25,))])
    loader = DataLoader(datasets.ImageFolder(str(root), transform=tf), batch_size=batch_size, shuffle=True,
                        num_workers=2, persistent_workers=persistent)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 13 * 13, classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    for _ in range(epochs):
        seen, start = 0, time.perf_counter()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(yb)
        rates.append(seen / (time.perf_counter() - start))
    return rates


def bench_imagefolder(s: dict, tmp: Path) -> dict:
    root = tmp / "pngs"
    t = time.perf_counter()
    classes = write_png_folder(root, s["png_images"])
    write_seconds = time.perf_counter() - t
    epochs, batch_size = s["folder_epochs"], 128
    raw = {"name": "bench_imagefolder",
           "data": {"dataset": "imagefolder", "root": str(root), "channels": 1, "image_size": 28,
                    "cache_dir": str(tmp / "cache")},  # outside root: ImageFolder would take it for a class
           "model": {"layers": SMALL_LAYERS},
           "train": {"epochs": epochs, "batch_size": batch_size, "optimizer": "adam", "lr": 1e-3, "device": "cpu",
                     "featuremap_every": 0}}
    with Busy() as busy:
        wait_quiet(s["quiet_wait_s"])
        t = time.perf_counter()
        result = train(config_from_dict(raw, source="bench"), out=tmp / "run_folder", progress=Progress())
        cnntrain_seconds = time.perf_counter() - t
        ours = [r["images_per_sec"] for r in _metrics(result.run_dir)]
        wait_quiet(s["quiet_wait_s"])
        theirs = torchvision_epochs(root, len(classes), epochs, batch_size)
        wait_quiet(s["quiet_wait_s"])
        kept = torchvision_epochs(root, len(classes), epochs, batch_size, persistent=True)
    ours_later, theirs_later = statistics.median(ours[1:]), statistics.median(theirs[1:])
    return {"images": s["png_images"], "epochs": epochs, "batch_size": batch_size,
            "write_pngs_seconds": round(write_seconds, 1),
            "cnntrain_run_seconds_incl_decode": round(cnntrain_seconds, 1),
            "cnntrain_img_s_per_epoch": [round(r) for r in ours],
            "torchvision_img_s_per_epoch": [round(r) for r in theirs],
            "cnntrain_img_s": round(ours_later), "torchvision_img_s": round(theirs_later),
            "ratio": round(ours_later / theirs_later, 2),
            "torchvision_persistent_workers_img_s": round(statistics.median(kept[1:])),
            "ratio_vs_persistent_workers": round(ours_later / statistics.median(kept[1:]), 2),
            "background_cores": busy.cores}


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line.strip()]


# --- 3. accuracy of bf16 against fp32, and late epochs against early ones -----------------------


class Reference(Progress):
    """After each epoch, one fixed bare-loop turn: how fast the machine itself is right now."""

    def __init__(self, bare: BareLoop):
        self.bare, self.rates = bare, []

    def epoch(self, record: dict) -> None:
        t = time.perf_counter()
        self.rates.append(self.bare.epoch() / (time.perf_counter() - t))


def bench_shapes(s: dict, tmp: Path) -> dict:
    x, y = random_images(s["epoch_images"] // 2)
    out = {"train_images": s["shapes_train"], "epochs": s["shapes_epochs"], "schedule": "step, gamma 0.7 per epoch"}
    precisions = ("fp32", "bf16") if cpu_has_fast_bf16() else ("fp32",)  # emulated bf16: 10x slower, not timed
    for precision in precisions:
        reference = Reference(BareLoop(x, y, 64, 1.0))
        overrides = ["data.dataset=shapes", "data.num_classes=null", f"data.train_size={s['shapes_train']}",
                     f"data.test_size={s['shapes_test']}", f"train.epochs={s['shapes_epochs']}",
                     "train.featuremap_every=0", "train.device=cpu", f"train.precision={precision}"]
        wait_quiet(s["quiet_wait_s"])
        with Busy() as busy:
            result = train(MNIST_CNN, overrides=overrides, out=tmp / f"run_{precision}", progress=reference)
        rates = [r["images_per_sec"] for r in _metrics(result.run_dir)]
        half = max(len(rates) // 2, 1)
        relative = [a / b for a, b in zip(rates, reference.rates)]
        out[precision] = {"test_acc": result.summary["test"]["acc"], "img_s_per_epoch": [round(r) for r in rates],
                          "bare_reference_img_s": [round(r) for r in reference.rates],
                          "late_over_early": round(statistics.median(rates[half:])
                                                   / statistics.median(rates[:half]), 3),
                          "late_over_early_vs_reference": round(statistics.median(relative[half:])
                                                                / statistics.median(relative[:half]), 3),
                          "background_cores": busy.cores}
    if "bf16" in out:
        out["acc_gap_points"] = round(abs(out["fp32"]["test_acc"] - out["bf16"]["test_acc"]) * 100, 2)
    # Two runs still learning differ by chance, whatever the precision: only a converged pair says much.
    out["converged"] = min(out[p]["test_acc"] for p in precisions) >= 0.97
    return out


# --- 4. denormals ---------------------------------------------------------------------------------


def flushed_fraction() -> float:
    """Share of denormal results flushed to zero by a parallel op: 1.0 when every thread flushes."""
    y = torch.full((1 << 22,), 1e-30) * 1e-10  # 1e-40 is denormal in float32
    return (y == 0).float().mean().item()


def bench_denormals() -> dict:
    """Adadelta's step when its running averages have decayed into denormals (weights whose gradient
    stayed zero: after ~700 steps of *0.9 they are there), with the CPU's flush-to-zero off and on.
    Single-threaded, so the switch (per thread) covers all the work."""
    configure(CPU, deterministic=False)
    fraction = flushed_fraction()
    # A library user may have run torch before cnntrain configures: its OpenMP threads exist already.
    probe = ("import torch; torch.ones(1 << 22).mul_(2)\n"
             "from cnntrain.run.device import configure; configure(torch.device('cpu'), deterministic=False)\n"
             "y = torch.full((1 << 22,), 1e-30) * 1e-10; print((y == 0).float().mean().item())")
    after = float(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = bare_mnist_cnn()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # creates the state

    def step_ms(fill: float, flush: bool) -> float:
        torch.set_flush_denormal(flush)
        times = []
        for _ in range(9):
            for state in optimizer.state.values():
                state["square_avg"].fill_(fill)
                state["acc_delta"].fill_(fill)
            t = time.perf_counter()
            optimizer.step()
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e3

    try:
        ms = {"normal": step_ms(1e-4, True), "denormal_flush_off": step_ms(1e-39, False),
              "denormal_flush_on": step_ms(1e-39, True)}
    finally:
        torch.set_flush_denormal(True)
        torch.set_num_threads(threads)
    return {"flushed_fraction_all_threads": fraction, "flushed_fraction_after_earlier_torch_work": after,
            **{f"adadelta_step_ms_{k}": round(v, 2) for k, v in ms.items()},
            "slowdown_without_flush": round(ms["denormal_flush_off"] / ms["normal"], 2),
            "slowdown_with_flush": round(ms["denormal_flush_on"] / ms["normal"], 2)}


# --- 5. start-up, evaluation, memory --------------------------------------------------------------


def cnntrain_command() -> list[str]:
    script = Path(sys.executable).with_name("cnntrain")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cnntrain"]


def bench_startup(s: dict) -> dict:
    def median_seconds(args: list[str], runs: int) -> float:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(cnntrain_command() + args, check=True, capture_output=True, cwd=ROOT)
            times.append(time.perf_counter() - t)
        return round(statistics.median(times), 3)

    with Busy() as busy:
        help_s = median_seconds(["--help"], s["help_runs"])
        summary_s = median_seconds(["summary", "--config", "configs/lenet5.yaml"], s["summary_runs"])
    return {"help_seconds": help_s, "summary_seconds": summary_s, "summary_config": "configs/lenet5.yaml",
            "background_cores": busy.cores}


def bench_eval(s: dict) -> dict:
    config = load_config(MNIST_CNN)
    x, _ = random_images(s["eval_images"])
    torch.manual_seed(0)
    model = build_model(config, num_classes=10).model.eval()
    bare = bare_mnist_cnn().eval()
    normalizer = Normalizer(*channel_stats(x))
    normalize = normalizer.to(CPU, 2)
    xf = (x.float() / 255 - normalizer.mean[0]) / normalizer.std[0]
    batch = config.train["eval_batch_size"]
    model_cl = build_model(config, num_classes=10).model.eval().to(memory_format=torch.channels_last)

    def bare_turn() -> int:
        with torch.inference_mode():
            for i in range(0, len(xf), batch):
                bare(xf[i:i + batch])
        return len(xf)

    turns = {"bare_fp32": bare_turn,
             "cnntrain_fp32": lambda: len(predict_logits(model, x, normalize, CPU, batch_size=batch)),
             # What suits a CPU better than mnist_cnn's eval_batch_size: batches whose activations fit in cache.
             "cnntrain_fp32_b64_channels_last": lambda: len(predict_logits(model_cl, x, normalize, CPU, batch_size=64,
                                                                           memory_format=torch.channels_last))}
    if cpu_has_fast_bf16():
        turns["cnntrain_bf16"] = lambda: len(predict_logits(model_cl, x, normalize, CPU, batch_size=batch,
                                                            dtype=torch.bfloat16, memory_format=torch.channels_last))
    with Busy() as busy:
        rounds = interleave(turns, s["eval_rounds"], 1, 60).quiet()
    return {"images": len(x), "batch_size": batch, **{f"{k}_img_s": round(rounds.median(k)) for k in turns},
            "bf16": "timed" if "cnntrain_bf16" in turns else "emulated here, not timed",
            "ratio_fp32_vs_bare": round(rounds.ratio("cnntrain_fp32", "bare_fp32"), 3),
            "background_cores": busy.cores}


def bench_memory(s: dict, tmp: Path) -> dict:
    n = s["cache_images"]
    splits = load_data({"dataset": "shapes", "image_size": 28, "channels": 1, "num_classes": None,
                        "train_size": n, "val_size": 0, "test_size": 0}, 0)
    megabytes = splits.train.x.nbytes / 1e6 * 60000 / n
    del splits
    # Peak RSS of a whole `cnntrain train` process, read by a parent that only waits for it.
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
               " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    command = cnntrain_command() + ["train", "--config", str(MNIST_CNN), "--out", str(tmp / "run_rss"), "--quiet",
                                    "--set", "data.dataset=shapes", "--set", "data.num_classes=null",
                                    "--set", f"data.train_size={s['rss_train']}", "--set", "train.epochs=1"]
    done = subprocess.run([sys.executable, "-c", wrapper, *command], check=True, capture_output=True, text=True)
    return {"cache_dtype": "uint8", "cache_60k_megabytes": round(megabytes, 2), "cache_measured_images": n,
            "train_peak_rss_megabytes": round(int(done.stdout.split()[-1]) / 1024, 1),  # Linux: KiB
            "rss_run": f"mnist_cnn on shapes, {s['rss_train']} training images, 1 epoch"}


# --- 6. a busy machine: a neighbour burning one core -------------------------------------------------


class Neighbour:
    """Another process keeping one core busy (a plain Python loop), as a user's other work would."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        OWN_PIDS.add(self.proc.pid)
        time.sleep(0.5)  # running, and seen by CoreShare's last 0.3 s
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        OWN_PIDS.discard(self.proc.pid)
        time.sleep(0.5)  # gone from CoreShare's window too: the next turn, maybe a quiet one, starts after


def bench_busy(s: dict) -> dict:
    """mnist_cnn's epochs with and without a neighbour, with cnntrain's thread count following the free
    cores (CoreShare, the default) and fixed at the start (as before it, or with train.deterministic)."""
    config = load_config(MNIST_CNN, ["train.epochs=1000"])
    x, y = random_images(s["busy_images"])
    engine = cnntrain_engine(config, x, y, "fp32")
    engine.train_epoch(1, Progress())  # warm-up, instead of a warm-up round with two neighbours
    epoch, threads = [1], {}

    def turn(adaptive: bool, neighbour: bool, name: str):
        def run() -> tuple[int, float]:
            with contextlib.ExitStack() as stack:
                if neighbour:
                    stack.enter_context(Neighbour())
                if not adaptive:
                    stack.enter_context(threads_fixed())
                epoch[0] += 1
                stats = engine.train_epoch(epoch[0], Progress())
                threads.setdefault(name, []).extend(CORES.chosen if adaptive else [torch.get_num_threads()])
            return stats.images, stats.seconds
        return run

    turns = {f"{kind}_{load}": turn(kind == "adaptive", load == "busy", f"{kind}_{load}")
             for kind in ("adaptive", "fixed") for load in ("quiet", "busy")}
    with Busy() as busy:
        every = interleave(turns, s["busy_rounds"], 0, s["busy_budget_s"])
    rounds = every.quiet()
    return {"images_per_epoch": s["busy_images"], "neighbour": "python -c 'while True: pass' (one core)",
            "rounds": len(every.background), "rounds_used": len(rounds.background),
            **{f"{k}_img_s": round(rounds.median(k), 1) for k in turns},
            "busy_over_quiet": round(rounds.ratio("adaptive_busy", "adaptive_quiet"), 3),
            "fixed_busy_over_quiet": round(rounds.ratio("fixed_busy", "fixed_quiet"), 3),
            "quiet_adaptive_vs_fixed": round(rounds.ratio("adaptive_quiet", "fixed_quiet"), 3),
            "threads_chosen": {k: statistics.mode(v) for k, v in threads.items()}, "core_share_on": CORES.enabled,
            "per_round": {k: [round(v, 1) for v in r] for k, r in every.rates.items()},
            "per_round_background_cores": every.background, "background_cores": busy.cores}


# --- 7. peers: Lightning and Keras, each in its own process ------------------------------------------

PEER_SCRIPT = Path(__file__).resolve().with_name("bench_peers.py")
PEER_NAMES = ("cnntrain", "bare", "lightning", "keras")
# cnntrain with CoreShare off (OMP_NUM_THREADS fixes its thread count, as the others' is): on a busy
# machine the difference between the two is CoreShare's, not the training loop's
FIXED = "cnntrain_fixed_threads"


class Peer:
    """One scripts/bench_peers.py process: `epoch()` has it train one epoch and say how long it took."""

    def __init__(self, name: str, images: int, log: Path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                         os.environ.get("PYTHONPATH")]))}
        if name == FIXED:
            env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
        self.name, self.log = name, log.open("w")
        peer = "cnntrain" if name == FIXED else name
        self.proc = subprocess.Popen([sys.executable, str(PEER_SCRIPT), peer, "--images", str(images)], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        OWN_PIDS.add(self.proc.pid)

    def wait_ready(self) -> None:
        self._line(lambda line: line == "ready")

    def epoch(self) -> tuple[int, float]:
        self.proc.stdin.write("epoch\n")
        self.proc.stdin.flush()
        done = json.loads(self._line(lambda line: line.startswith("{")))
        return done["images"], done["seconds"]

    def _line(self, wanted) -> str:
        """The next stdout line `wanted` accepts; a framework's own chatter on stdout is skipped."""
        for line in self.proc.stdout:
            if wanted(line.strip()):
                return line.strip()
        raise RuntimeError(f"peer {self.name} stopped; see {self.log.name}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        OWN_PIDS.discard(self.proc.pid)
        self.log.close()


def installed_peers() -> tuple[list[str], list[str]]:
    """(peers to run, peers missing): Lightning and Keras come with `pip install -e '.[bench]'`."""
    import importlib.util

    missing = [n for n in ("lightning", "keras") if importlib.util.find_spec(n) is None]
    return [n for n in PEER_NAMES if n not in missing], missing


def bench_peers(s: dict, tmp: Path) -> dict:
    names, missing = installed_peers()
    names.insert(1, FIXED)
    peers = {n: Peer(n, s["peer_images"], tmp / f"peer_{n}.log") for n in names}
    try:
        for peer in peers.values():
            peer.wait_ready()
        with Busy() as busy:
            every = interleave({n: p.epoch for n, p in peers.items()}, s["peer_rounds"], 1, s["peer_budget_s"])
    finally:
        for peer in peers.values():
            peer.close()
    rounds = every.quiet()
    return {"images_per_epoch": s["peer_images"], "data": "shapes, 28x28, 1 channel", "batch_size": 64,
            "optimizer": "adadelta", "missing": missing, "rounds": len(every.background),
            "rounds_used": len(rounds.background), **{f"{n}_img_s": round(rounds.median(n), 1) for n in names},
            **{f"cnntrain_vs_{n}": round(rounds.ratio("cnntrain", n), 3) for n in names if n != "cnntrain"},
            **{f"{FIXED}_vs_{n}": round(rounds.ratio(FIXED, n), 3) for n in names if "cnntrain" not in n},
            "per_round": {k: [round(v, 1) for v in r] for k, r in every.rates.items()},
            "per_round_background_cores": every.background, "background_cores": busy.cores}


# --- the report -----------------------------------------------------------------------------------


DEFAULT_SECTIONS = ("train", "busy", "denormals", "imagefolder", "shapes", "eval", "startup", "memory")


def run(quick: bool, sections: set[str] | None = None, log=lambda text: None) -> dict:
    s = {k: v[0] if quick else v[1] for k, v in SIZES.items()}
    configure(CPU, deterministic=False)
    results = {"machine": machine(), "quick": quick}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnntrain-bench-") as folder:
        tmp = Path(folder)
        steps = {"train": lambda: bench_train(s), "busy": lambda: bench_busy(s), "denormals": bench_denormals,
                 "imagefolder": lambda: bench_imagefolder(s, tmp), "shapes": lambda: bench_shapes(s, tmp),
                 "eval": lambda: bench_eval(s), "startup": lambda: bench_startup(s),
                 "memory": lambda: bench_memory(s, tmp), "peers": lambda: bench_peers(s, tmp)}
        for name, step in steps.items():
            if name in (sections or DEFAULT_SECTIONS):
                log(f"{name} ...")
                t = time.perf_counter()
                results[name] = step()
                results[name]["seconds"] = round(time.perf_counter() - t, 1)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets(results)
    return results


def targets(r: dict) -> dict:
    values = {
        "train_fp32_vs_bare": r.get("train", {}).get("ratio_fp32_vs_bare"),
        "imagefolder_vs_torchvision": r.get("imagefolder", {}).get("ratio"),
        "bf16_vs_bare_fp32": r.get("train", {}).get("ratio_bf16_vs_bare_fp32"),
        "bf16_accuracy_gap_points": r.get("shapes", {}).get("acc_gap_points"),
        "mfu": r.get("train", {}).get("mfu_fp32"),
        "late_over_early_epochs": r.get("shapes", {}).get("fp32", {}).get("late_over_early_vs_reference"),
        "busy_over_quiet": r.get("busy", {}).get("busy_over_quiet"),
        "quiet_adaptive_vs_fixed_threads": r.get("busy", {}).get("quiet_adaptive_vs_fixed"),
        "peers_vs_lightning": r.get("peers", {}).get("cnntrain_vs_lightning"),
        "peers_vs_keras": r.get("peers", {}).get("cnntrain_vs_keras"),
        "help_seconds": r.get("startup", {}).get("help_seconds"),
        "summary_seconds": r.get("startup", {}).get("summary_seconds"),
        "cache_60k_megabytes": r.get("memory", {}).get("cache_60k_megabytes"),
    }
    out = {}
    for name, value in values.items():
        if value is not None:
            op, limit = TARGETS[name]
            met = value >= limit if op == ">=" else value <= limit
            out[name] = {"value": value, "target": f"{op} {limit}", "met": met}
    if "bf16_accuracy_gap_points" in out and not r["shapes"]["converged"]:
        out["bf16_accuracy_gap_points"].update(met=None, note="not converged (--quick is too short): informational")
    return out


def rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, raw numbers, verdict) for each figure the run has."""
    out = []

    def add(label, value, raw, key=None):
        target = r["targets"].get(key) if key else None
        word = {True: "met", False: "missed", None: "n/a"}[target["met"]] if target else ""
        verdict = f"{word} ({target['target']})" if target else ""
        out.append((label, str(value), raw, verdict))

    if "train" in r:
        tr = r["train"]
        add("train fp32: cnntrain / bare loop", tr["ratio_fp32_vs_bare"],
            f"{tr['cnntrain_fp32_img_s']:.0f} vs {tr['bare_fp32_img_s']:.0f} img/s", "train_fp32_vs_bare")
        if tr.get("bf16", "timed") == "timed":
            add("train bf16 (cnntrain) / bare fp32", tr["ratio_bf16_vs_bare_fp32"],
                f"{tr['cnntrain_bf16_img_s']:.0f} img/s; bare bf16 loop {tr['bare_bf16_img_s']:.0f}",
                "bf16_vs_bare_fp32")
        else:
            add("train bf16", tr["bf16"], f"`cnntrain train` warns: {'yes' if tr['train_warns_about_bf16'] else 'NO'}")
        add("MFU fp32 (train FLOP/s / fp32 matmul)", tr["mfu_fp32"],
            f"{tr['train_flops_per_image'] / 1e6:.1f} MFLOP/img; matmul {tr['matmul_fp32_gflops']} GFLOP/s", "mfu")
        if "mfu_bf16_vs_fp32_peak" in tr:
            add("MFU bf16: vs fp32 peak / vs bf16 peak",
                f"{tr['mfu_bf16_vs_fp32_peak']} / {tr['mfu_bf16_vs_bf16_peak']}",
                f"bf16 matmul {tr['matmul_bf16_gflops']} GFLOP/s")
    if "busy" in r:
        b = r["busy"]
        add("busy: neighbour on 1 core / quiet", b["busy_over_quiet"],
            f"{b['adaptive_busy_img_s']:.0f} vs {b['adaptive_quiet_img_s']:.0f} img/s, threads "
            f"{b['threads_chosen'].get('adaptive_busy')}; fixed threads {b['fixed_busy_over_quiet']}",
            "busy_over_quiet")
        add("busy: quiet, following cores / fixed", b["quiet_adaptive_vs_fixed"],
            f"{b['adaptive_quiet_img_s']:.0f} vs {b['fixed_quiet_img_s']:.0f} img/s", "quiet_adaptive_vs_fixed_threads")
    if "peers" in r:
        p = r["peers"]
        for name in ("bare", "lightning", "keras"):
            if f"cnntrain_vs_{name}" in p:
                add(f"peers: cnntrain / {name}", p[f"cnntrain_vs_{name}"],
                    f"{p['cnntrain_img_s']:.0f} vs {p[f'{name}_img_s']:.0f} img/s; threads fixed "
                    f"{p[f'{FIXED}_img_s']:.0f} ({p[f'{FIXED}_vs_{name}']}x)",
                    {"lightning": "peers_vs_lightning", "keras": "peers_vs_keras"}.get(name))
        for name in p["missing"]:
            add(f"peers: cnntrain / {name}", "not installed", "pip install -e '.[bench]'")
    if "imagefolder" in r:
        f = r["imagefolder"]
        add("image folder: cnntrain / torchvision", f["ratio"],
            f"{f['cnntrain_img_s']} vs {f['torchvision_img_s']} img/s (epochs 2+); persistent workers "
            f"{f['torchvision_persistent_workers_img_s']} ({f['ratio_vs_persistent_workers']}x)",
            "imagefolder_vs_torchvision")
    if "shapes" in r:
        sh = r["shapes"]
        bf16 = f"{sh['bf16']['test_acc']:.2%}" if "bf16" in sh else "not timed"
        add("shapes test acc fp32 / bf16", f"{sh['fp32']['test_acc']:.2%} / {bf16}",
            f"{sh['epochs']} epochs of {sh['train_images']} images", "bf16_accuracy_gap_points")
        add("late / early epochs (vs machine)", sh["fp32"]["late_over_early_vs_reference"],
            f"img/s per epoch {sh['fp32']['img_s_per_epoch']}", "late_over_early_epochs")
    if "denormals" in r:
        d = r["denormals"]
        add("denormal Adadelta step: flush off / on", f"{d['slowdown_without_flush']}x / {d['slowdown_with_flush']}x",
            f"threads flushing: {d['flushed_fraction_all_threads']:.0%}, "
            f"after earlier torch work {d['flushed_fraction_after_earlier_torch_work']:.0%}")
    if "startup" in r:
        st = r["startup"]
        add("cnntrain --help", f"{st['help_seconds']} s", "median, subprocess", "help_seconds")
        add("cnntrain summary (lenet5)", f"{st['summary_seconds']} s", "median, subprocess", "summary_seconds")
    if "eval" in r:
        e = r["eval"]
        add("eval (predict_logits) fp32 / bf16",
            f"{e['cnntrain_fp32_img_s']} / {e.get('cnntrain_bf16_img_s', 'not timed')} img/s",
            f"batch {e['batch_size']}; bare loop {e['bare_fp32_img_s']}; fp32 batch 64 channels_last "
            f"{e['cnntrain_fp32_b64_channels_last_img_s']}")
    if "memory" in r:
        mem = r["memory"]
        add("60k 28x28 images, cached", f"{mem['cache_60k_megabytes']} MB", mem["cache_dtype"], "cache_60k_megabytes")
        add("peak RSS of a training run", f"{mem['train_peak_rss_megabytes']} MB", mem["rss_run"])
    return out


def title(r: dict) -> str:
    m = r["machine"]
    forced = " (forced by CNNTRAIN_CPU_BF16)" if m.get("fast_bf16_forced") else ""
    bf16 = "bf16 units: yes" if m["fast_bf16"] else "bf16 units: no, bf16 not timed"
    return (f"cnntrain bench{' --quick' if r['quick'] else ''}: {m['cpu']} ({m['arch']}, {m['cores']} cores; "
            f"{' '.join(m['vector_extensions']) or 'no vector extensions listed'}; {bf16}{forced}), "
            f"torch {m['torch']} ({m['torch_build']}; kernels {m['torch_cpu_capability']})")


def table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title(r), title_justify="left")
    for column in ("figure", "value", "raw numbers", "target"):
        t.add_column(column)
    colour = {"met": "green", "missed": "red", "n/a": "yellow"}
    for label, value, raw, verdict in rows(r):
        word = verdict.split(" ")[0]
        t.add_row(label, value, raw, f"[{colour[word]}]{verdict}[/]" if verdict else "")
    console = Console()
    console.print(t)
    busy = {k: v.get("background_cores") for k, v in r.items() if isinstance(v, dict) and "background_cores" in v}
    console.print(f"other processes kept busy (cores): {busy}; total {r['seconds']} s")


def markdown(r: dict) -> str:
    lines = [title(r), "", "| figure | value | raw numbers | target |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows(r)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sets (under 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument("--only", action="append", help="run only these sections (repeatable): "
                        + ", ".join(DEFAULT_SECTIONS) + ", peers")
    parser.add_argument("--peers", action="store_true", help="only cnntrain against the bare loop, PyTorch Lightning "
                        "and Keras, each in its own process (pip install -e '.[bench]')")
    parser.add_argument("--no-bf16", action="store_true", help="treat this CPU as one without bf16 units "
                        "(CNNTRAIN_CPU_BF16=0): the path bf16-less CPUs take")
    parser.add_argument("--load", type=Path, help="show the results a --json run saved instead of measuring")
    args = parser.parse_args()
    log = (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr, flush=True))
    if args.no_bf16:
        os.environ["CNNTRAIN_CPU_BF16"] = "0"  # read by cnntrain here and in the `cnntrain train` it starts
    sections = {"peers"} if args.peers else set(args.only) if args.only else None
    if args.load:
        results = json.loads(args.load.read_text())
    else:
        results = run(args.quick, sections, log)
    if args.json:
        print(json.dumps(results, indent=2))
    elif args.markdown:
        print(markdown(results))
    else:
        table(results)


if __name__ == "__main__":
    main()
