"""Section 2: an image folder, cnntrain's decoded cache against ImageFolder + DataLoader."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchkit.machine import Busy, wait_quiet
from cnntrain.config import DataSettings
from cnntrain.config.loader import config_from_dict
from cnntrain.data import load_data
from cnntrain.run.progress import Progress
from cnntrain.run.train import train

# --- 2. image folder: cnntrain's decoded cache against ImageFolder + DataLoader -----------------

# Small enough that feeding it is the work (data-bound): one strided conv and a linear layer.
SMALL_LAYERS = [{"conv2d": {"out_channels": 8, "kernel_size": 3, "stride": 2}}, "relu", "flatten",
                {"linear": "num_classes"}]


def write_png_folder(root: Path, n: int) -> list[str]:
    """n 28x28 grayscale PNGs, root/<class>/<i>.png, drawn by cnntrain's shapes generator."""
    from PIL import Image

    splits = load_data(DataSettings(dataset="shapes", image_size=28, channels=1, num_classes=None,
                                    train_size=n, val_size=0, test_size=0), 0)
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


