"""Section 6: a busy machine, the default fixed thread count (exact) against the opt-in threads_follow_load."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time

import torch

from benchkit.loops import cnntrain_engine, random_images
from benchkit.machine import CPU, MNIST_CNN, OWN_PIDS, Busy, interleave
from cnntrain.config.loader import load_config
from cnntrain.run.device import CORES
from cnntrain.run.progress import Progress

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
    """mnist_cnn's epochs with and without a neighbour: the default, a thread count fixed for the run
    (exact: the same weights whatever the load), against the opt-in train.threads_follow_load
    (CoreShare: the count follows the free cores, and the weights with it)."""
    config = load_config(MNIST_CNN, ["train.epochs=1000"])
    x, y = random_images(s["busy_images"])
    engine = cnntrain_engine(config, x, y, "fp32")
    engine.train_epoch(1, Progress())  # warm-up, instead of a warm-up round with two neighbours
    epoch, threads = [1], {}

    def turn(follow: bool, neighbour: bool, name: str):
        def run() -> tuple[int, float]:
            with contextlib.ExitStack() as stack:
                if neighbour:
                    stack.enter_context(Neighbour())
                CORES.start(CPU, follow_load=follow)
                epoch[0] += 1
                stats = engine.train_epoch(epoch[0], Progress())
                threads.setdefault(name, []).extend(CORES.chosen if follow else [torch.get_num_threads()])
            return stats.images, stats.seconds
        return run

    turns = {f"{kind}_{load}": turn(kind == "follow", load == "busy", f"{kind}_{load}")
             for kind in ("follow", "fixed") for load in ("quiet", "busy")}
    try:
        with Busy() as busy:
            every = interleave(turns, s["busy_rounds"], 0, s["busy_budget_s"])
    finally:
        CORES.start(CPU, follow_load=False)
    rounds = every.quiet()
    return {"images_per_epoch": s["busy_images"], "neighbour": "python -c 'while True: pass' (one core)",
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "rounds": len(every.background), "rounds_used": len(rounds.background),
            **{f"{k}_img_s": round(rounds.median(k), 1) for k in turns},
            "busy_over_quiet": round(rounds.ratio("fixed_busy", "fixed_quiet"), 3),
            "follow_busy_over_quiet": round(rounds.ratio("follow_busy", "follow_quiet"), 3),
            "busy_follow_vs_fixed": round(rounds.ratio("follow_busy", "fixed_busy"), 3),
            "quiet_follow_vs_fixed": round(rounds.ratio("follow_quiet", "fixed_quiet"), 3),
            "threads_chosen": {k: statistics.mode(v) for k, v in threads.items()},
            "per_round": {k: [round(v, 1) for v in r] for k, r in every.rates.items()},
            "per_round_background_cores": every.background, "background_cores": busy.cores}


