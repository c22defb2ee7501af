"""Section 3: accuracy of bf16 against fp32, and late epochs against early ones."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from benchkit.imagefolder import _metrics
from benchkit.loops import BareLoop, random_images
from benchkit.machine import MNIST_CNN, Busy, wait_quiet
from cnntrain.run.device import cpu_has_fast_bf16
from cnntrain.run.progress import Progress
from cnntrain.run.train import train

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


