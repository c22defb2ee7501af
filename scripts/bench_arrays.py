"""Loading a user's arrays (`data.dataset: arrays`): time and memory for a 1 GB float32 .npy and for a
folder of 1,000 .nii.gz volumes.

    python scripts/bench_arrays.py            # both, as JSON
    python scripts/bench_arrays.py --quick    # 128 MB and 200 volumes

Each load runs `load_data` in a fresh process, so its peak RSS (VmHWM) is the load's own;
`import_rss_mb` is that process before any data (Python, torch, cnntrain). The .npy is memory-mapped:
its pages count in RSS as the load reads them (the finite check and the fingerprint read the whole file
once), but they are the file's (`mapped_mb`), shared with the page cache and dropped under memory
pressure; `anon_mb` is the memory the process itself holds at the end of the load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, sys, time

def status():  # this process's own memory (ru_maxrss would carry the parent's peak across exec)
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmHWM", "RssAnon", "RssFile")}

start = time.perf_counter()
from cnntrain.config import DataSettings
from cnntrain.data import load_data
imported, before = time.perf_counter(), status()
splits = load_data(DataSettings(**json.loads(sys.argv[1])), seed=0)
done, after = time.perf_counter(), status()
print(json.dumps({"load_s": done - imported, "samples": len(splits.train) + len(splits.val) + len(splits.test),
                  "shape": list(splits.input_shape), "import_rss_mb": before["VmHWM"], "peak_rss_mb": after["VmHWM"],
                  "anon_mb": after["RssAnon"], "mapped_mb": after["RssFile"]}))
"""


def bench_arrays(quick: bool = False) -> dict:
    """{"npy": {...}, "nifti": {...}}: load seconds, peak RSS and the data's size, each in MB."""
    with tempfile.TemporaryDirectory(prefix="cnntrain-bench-arrays-") as tmp:
        tmp = Path(tmp)
        npy_mb = 128 if quick else 1024
        return {"npy": _npy(tmp / "npy", npy_mb), "nifti": _nifti(tmp / "nifti", 200 if quick else 1000)}


def _npy(root: Path, megabytes: int) -> dict:
    """x_train.npy of `megabytes` float32 series of 4096 samples, written row block by row block."""
    root.mkdir()
    length, rows = 4096, megabytes * 2**20 // (4096 * 4)
    x = np.lib.format.open_memmap(root / "x_train.npy", mode="w+", dtype=np.float32, shape=(rows, length))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 1024):
        x[start:start + 1024] = rng.standard_normal((min(1024, rows - start), length), dtype=np.float32)
    x.flush()
    del x
    np.save(root / "y_train.npy", np.arange(rows) % 2)
    data = {"dataset": "arrays", "root": str(root), "channels": 1, "image_size": [length], "num_classes": None,
            "val_fraction": 0.1, "test_fraction": 0.1, "resize": None}
    return {"size_mb": megabytes, **_load(data)}


def _nifti(root: Path, count: int) -> dict:
    """`count` 32^3 CT-like volumes (air, tissue, noise) in two class folders, as .nii.gz."""
    import nibabel

    rng = np.random.default_rng(0)
    total = 0
    for i in range(count):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        volume = np.full((32, 32, 32), -1000.0, np.float32)
        volume[4:28, 4:28, 4:28] = 40.0 + 600 * (i % 2)
        volume += rng.normal(0, 10, volume.shape).astype(np.float32)
        path = folder / f"{i:04d}.nii.gz"
        nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), str(path))
        total += path.stat().st_size
    data = {"dataset": "arrays", "root": str(root), "channels": 1, "image_size": [32, 32, 32], "num_classes": None,
            "val_fraction": 0.1, "test_fraction": 0.1, "resize": None}
    return {"files": count, "size_mb": total / 2**20, **_load(data)}


def _load(data: dict) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(data)], capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout), "process_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 MB and 200 volumes")
    print(json.dumps(bench_arrays(parser.parse_args().quick), indent=1))


if __name__ == "__main__":
    main()
