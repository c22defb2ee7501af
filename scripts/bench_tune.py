"""cnntrain tune, measured: what median pruning saves against none, and trials per hour with 2 workers against 1.

    python scripts/bench_tune.py [--trials 20] [--quick] [--json | --markdown]

A study of configs/cnn.yaml over the learning rate, the width of its middle layer and the first
kernel's size, run twice with the same sampler seed: with `--pruner median` and with `--pruner none`
(the epochs all trials trained, and the best validation accuracy each found). Then the same study
without pruning on `--workers 1` and `--workers 2` (each worker one of the 2 cores' threads against
one worker with both), as completed trials per hour of wall time. The data is smaller than the
config's (`SIZES`), so that the whole run fits in well under an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from cnntrain.tasks.tune import tune

ROOT = Path(__file__).resolve().parents[1]
CNN = ROOT / "configs" / "cnn.yaml"
SPACE = """\
train.lr: {float: [1e-4, 3e-2], log: true}
model.layers.conv2.out_channels: {int: [8, 64], step: 8}
model.layers.conv1.kernel_size: {choice: [3, 5, 7]}
"""
SIZES = ["data.image_size=32", "data.train_size=1000", "data.val_size=400", "data.test_size=200", "train.epochs=4",
         "train.featuremap_every=0", "train.device=cpu"]
QUICK = ["data.image_size=24", "data.train_size=300", "data.val_size=150", "data.test_size=60", "train.epochs=3",
         "train.featuremap_every=0", "train.device=cpu"]


def bench_tune(trials: int = 20, quick: bool = False, workers_trials: int = 8, log=print) -> dict:
    """The one entry point (scripts/bench.py calls it for its `tune` section): every figure and its raw numbers."""
    sizes = QUICK if quick else SIZES
    with tempfile.TemporaryDirectory(prefix="cnntrain-bench-tune-") as tmp:
        space = Path(tmp) / "space.yaml"
        space.write_text(SPACE, encoding="utf-8")
        studies = {}
        for name, pruner, n, workers in (("median", "median", trials, 1), ("none", "none", trials, 1),
                                         ("workers_1", "none", workers_trials, 1),
                                         ("workers_2", "none", workers_trials, 2)):
            log(f"study {name}: {n} trials, --pruner {pruner}, --workers {workers}")
            studies[name] = _study(Path(tmp) / name, space, sizes, pruner, n, workers)
    median, none = studies["median"], studies["none"]
    w1, w2 = studies["workers_1"], studies["workers_2"]
    return {
        "trials": trials, "sizes": sizes, "space": SPACE, "studies": studies,
        "epochs_saved": 1 - median["epochs"] / none["epochs"],
        "best_acc_difference_points": 100 * (median["best_value"] - none["best_value"]),
        "trials_per_hour": {"workers_1": w1["trials_per_hour"], "workers_2": w2["trials_per_hour"]},
        "workers_speedup": w2["trials_per_hour"] / w1["trials_per_hour"],
        "load_average": os.getloadavg(),
        "cores": len(os.sched_getaffinity(0)),
    }


def _study(out: Path, space: Path, sizes: list[str], pruner: str, trials: int, workers: int) -> dict:
    started = time.perf_counter()
    load = os.getloadavg()[0]
    result = tune(CNN, space, trials=trials, pruner=pruner, workers=workers, overrides=sizes, out=out, seed=0)
    seconds = time.perf_counter() - started
    rows = result.trials
    done = sum(r["state"] in ("complete", "pruned") for r in rows)
    return {"seconds": seconds, "epochs": sum(r["epochs"] for r in rows), "best_value": result.best_value,
            "best_params": result.best_params, "states": {s: sum(r["state"] == s for r in rows)
                                                           for s in ("complete", "pruned", "fail")},
            "trials_per_hour": 3600 * done / seconds, "load_before": load,
            "per_trial": [(r["number"], r["state"], r["value"], r["epochs"]) for r in rows]}


def markdown(r: dict) -> str:
    median, none = r["studies"]["median"], r["studies"]["none"]
    w1, w2 = r["studies"]["workers_1"], r["studies"]["workers_2"]
    return "\n".join([
        "| figure | value | raw numbers |",
        "| --- | --- | --- |",
        f"| epochs trained, median pruning / none | {median['epochs']} / {none['epochs']} "
        f"({r['epochs_saved']:.0%} saved) | {median['states']['pruned']} of {r['trials']} trials pruned; "
        f"{median['seconds']:.0f} s against {none['seconds']:.0f} s |",
        f"| best val_acc, median pruning / none | {median['best_value']:.2%} / {none['best_value']:.2%} | "
        f"difference {r['best_acc_difference_points']:+.2f} points |",
        f"| trials per hour, --workers 2 / 1 | {w2['trials_per_hour']:.0f} / {w1['trials_per_hour']:.0f} "
        f"({r['workers_speedup']:.2f}x) | {len(w2['per_trial'])} trials each, no pruning; "
        f"{w2['seconds']:.0f} s against {w1['seconds']:.0f} s |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials in each pruning study")
    parser.add_argument("--workers-trials", type=int, default=8, help="trials in each workers study")
    parser.add_argument("--quick", action="store_true", help="smaller images and sets (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    args = parser.parse_args()
    result = bench_tune(args.trials, args.quick, args.workers_trials,
                        log=lambda text: print(text, flush=True) if not args.json else None)
    print(json.dumps(result, indent=2) if args.json else markdown(result))


if __name__ == "__main__":
    main()
