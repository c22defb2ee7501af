"""Section 1: training throughput, bf16 speed-up, model FLOP utilisation."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
from pathlib import Path

import torch

from benchkit.loops import BareLoop, cnntrain_engine, matmul_turn, random_images
from benchkit.machine import MNIST_CNN, ROOT, Busy, interleave
from benchkit.startup import cnntrain_command
from cnntrain.config.loader import load_config
from cnntrain.model.summary import summarize
from cnntrain.run.device import cpu_has_fast_bf16
from cnntrain.run.progress import Progress

# --- 1. training throughput, bf16 speed-up, model FLOP utilisation ------------------------------


def bench_train(s: dict) -> dict:
    config = load_config(MNIST_CNN, ["train.epochs=1000"])  # steps the real schedule, never runs out
    x, y = random_images(s["epoch_images"])
    precisions = ("fp32", "bf16") if cpu_has_fast_bf16() else ("fp32",)
    engines = {p: cnntrain_engine(config, x, y, p) for p in precisions}
    bare = {p: BareLoop(x, y, config.train.batch_size, config.train.lr, bf16=p == "bf16") for p in precisions}
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
    with Busy() as busy:
        every = interleave(turns, s["train_rounds"], s["warmup_rounds"], s["train_budget_s"])
    rounds = every.quiet()
    macs = summarize(config).macs
    flops = 3 * 2 * macs  # forward, and a backward of twice the forward; 2 FLOPs per multiply-add
    out = {
        "images_per_epoch": s["epoch_images"], "batch_size": config.train.batch_size,
        "optimizer": config.train.optimizer, "rounds": len(every.background), "rounds_used": len(rounds.background),
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


