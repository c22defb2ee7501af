"""`cnntrain doctor` on 10,000 generated images: how long the data checks take, and what --folds adds.

    python scripts/bench_doctor.py                 # 10,000 64x64 PNGs in 10 classes, as JSON
    python scripts/bench_doctor.py --images 2000   # fewer
    python scripts/bench_doctor.py --folds 3       # also time the label check (3 trainings of a small CNN)

Each doctor runs as `cnntrain doctor --data ROOT --json` in a fresh process, so its time includes starting
Python and importing torch: what a user waits for. `cold` decodes every image into the cache first (the
first doctor, or train, on a folder); `warm` finds the cache. The folder holds 20 exact copies across
train and test and 20 re-encoded near copies, so the grouping work is timed too, and the result is checked.
`background_cores` says how busy the rest of the machine was (the machines this runs on are shared).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchkit.machine import Busy, cpu_model

SIDE = 64
CLASSES = 10


def write_folder(root: Path, images: int, seed: int = 0) -> None:
    """root/train/<class>/*.png (90%) and root/test/<class>/*.png: a shape per class, anywhere, on noise;
    then 20 exact copies of training images in test/ and 20 JPEG near copies beside their originals."""
    rng = np.random.default_rng(seed)
    for i in range(images):
        k = i % CLASSES
        split = "test" if (i // CLASSES) % 10 == 9 else "train"
        folder = root / split / f"class_{k}"
        folder.mkdir(parents=True, exist_ok=True)
        _draw(k, rng).save(folder / f"{i:05d}.png")
    originals = sorted((root / "train").rglob("*.png"))[:40]
    for i, path in enumerate(originals):
        if i < 20:
            (root / "test" / path.parent.name / f"copy_{path.name}").write_bytes(path.read_bytes())
        else:
            buffer = io.BytesIO()
            Image.open(path).resize((SIDE + 2, SIDE + 2)).save(buffer, "JPEG", quality=80)
            (path.parent / f"near_{path.stem}.jpg").write_bytes(buffer.getvalue())


def _draw(k: int, rng: np.random.Generator) -> Image.Image:
    noise = rng.normal(rng.uniform(30, 120), 12, (SIDE, SIDE, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(noise)
    pen = ImageDraw.Draw(image)
    for _ in range(4):
        pen.line(list(rng.uniform(0, SIDE, 4)), fill=tuple(int(v) for v in rng.integers(0, 256, 3)), width=2)
    r = rng.uniform(SIDE / 8, SIDE / 3)
    cx, cy = rng.uniform(r, SIDE - r, 2)
    corners = 3 + k % 5  # a polygon per class: triangle to heptagon, filled or outlined
    angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * 2 * np.pi / corners
    points = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
    colour = tuple(int(v) for v in rng.integers(60, 256, 3))
    pen.polygon(points, fill=colour) if k < 5 else pen.polygon(points, outline=colour, width=3)
    return image


def run_doctor(root: Path, out: Path, *extra: str) -> dict:
    """One `cnntrain doctor --data root --json` in a fresh process: its seconds and its report."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnntrain", "doctor", "--data", str(root), "--json", "--out",
                           str(out), *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"doctor failed ({done.returncode}): {done.stderr}")
    return {"seconds": round(seconds, 2), "report": json.loads(done.stdout)}


def bench_doctor(images: int, folds: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="cnntrain-bench-doctor-") as tmp:
        root = Path(tmp) / "images"
        started = time.perf_counter()
        write_folder(root, images)
        result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average_before": _load()},
                  "images": images, "side": SIDE, "write_seconds": round(time.perf_counter() - started, 1)}
        with Busy() as busy:
            cold = run_doctor(root, Path(tmp) / "cold")
            warm = run_doctor(root, Path(tmp) / "warm")
        result |= {"cold_seconds": cold["seconds"], "warm_seconds": warm["seconds"],
                   "background_cores": busy.cores, "found": _found(warm["report"])}
        if folds:
            with Busy() as busy:
                labelled = run_doctor(root, Path(tmp) / "folds", "--folds", str(folds))
            result["folds"] = {"k": folds, "seconds": labelled["seconds"], "background_cores": busy.cores,
                               "accuracy": labelled["report"]["label_check"]["accuracy"],
                               "label_issues": len(labelled["report"]["label_issues"])}
        result["machine"]["load_average_after"] = _load()
        return result


def _found(report: dict) -> dict:
    groups = report["duplicates"]
    return {"exact_groups": sum(g["kind"] == "exact" for g in groups), "near_groups": sum(g["kind"] == "near"
                                                                                            for g in groups),
            "across_splits": sum(g["across_splits"] for g in groups), "findings": report["findings"]}


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--folds", type=int, default=None, help="also time doctor --folds K")
    args = parser.parse_args()
    print(json.dumps(bench_doctor(args.images, args.folds), indent=2))


if __name__ == "__main__":
    main()
