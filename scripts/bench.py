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
  default thread count fixed for the run (exact) and with the opt-in train.threads_follow_load
  (run/device.py, CoreShare: the count follows the free cores, trading exactness).
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
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# isort: off
import cnntrain  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read once as torch loads
# isort: on

from bench_arrays import bench_arrays
from bench_tune import bench_tune
from benchkit.busy import bench_busy
from benchkit.denormals import bench_denormals
from benchkit.imagefolder import bench_imagefolder
from benchkit.machine import CPU, machine
from benchkit.peers import bench_peers
from benchkit.report import markdown, table, targets
from benchkit.shapes import bench_shapes
from benchkit.startup import bench_eval, bench_memory, bench_startup
from benchkit.train import bench_train
from cnntrain.run.device import configure

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
                 "memory": lambda: bench_memory(s, tmp), "peers": lambda: bench_peers(s, tmp),
                 # not a default section: its 20-trial studies take most of an hour on 2 cores
                 "tune": lambda: bench_tune(trials=6 if quick else 20, quick=quick, workers_trials=4 if quick else 8,
                                            log=log),
                 "arrays": lambda: bench_arrays(quick)}
        for name, step in steps.items():
            if name in (sections or DEFAULT_SECTIONS):
                log(f"{name} ...")
                t = time.perf_counter()
                results[name] = step()
                results[name]["seconds"] = round(time.perf_counter() - t, 1)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets(results)
    return results



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sets (under 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument("--only", action="append", help="run only these sections (repeatable): "
                        + ", ".join(DEFAULT_SECTIONS) + ", peers, tune, arrays (a user's arrays: load time and peak "
                        "RSS of a 1 GB .npy and 1,000 .nii.gz; scripts/bench_arrays.py)")
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
