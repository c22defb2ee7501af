"""Section 5: start-up, evaluation, memory."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchkit.loops import bare_mnist_cnn, random_images
from benchkit.machine import CPU, MNIST_CNN, ROOT, Busy, interleave
from cnntrain.config import DataSettings
from cnntrain.config.loader import load_config
from cnntrain.data import channel_stats, load_data
from cnntrain.model.builder import build_model
from cnntrain.run.device import cpu_has_fast_bf16
from cnntrain.run.inference import predict_logits
from cnntrain.run.normalize import Normalizer

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
    batch = config.train.eval_batch_size
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
    splits = load_data(DataSettings(dataset="shapes", image_size=28, channels=1, num_classes=None,
                                    train_size=n, val_size=0, test_size=0), 0)
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


