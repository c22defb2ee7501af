"""What `data.root` points at, for `data.dataset: arrays`, as labelled parts (train, and maybe val, test).

- a folder of class folders (`root/<class>/*.npy|.nii|.nii.gz`, or `root/train|val|test/<class>/...`);
- an `.npz` with `x`, `y` or `x_train`, `y_train`, `x_test`, `y_test` (`x_val`, `y_val` optional);
- a folder of the same arrays as `.npy` files (`x.npy`, `y.npy`, or `x_train.npy` ...): memory-mapped,
  for data larger than memory;
- UCR/UEA tables: a folder holding `NAME_TRAIN.tsv|.ts` and `NAME_TEST.tsv|.ts`, or one of those files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnntrain.data.array_files import ARRAY_EXTENSIONS, read_npy, read_npz
from cnntrain.data.tables import TABLE_EXTENSIONS, read_table
from cnntrain.data.walk import EXTENSIONS as IMAGE_EXTENSIONS
from cnntrain.errors import DataError

SPLIT_NAMES = ("train", "val", "test")
DATA_FILES = (".npz", *TABLE_EXTENSIONS)  # a whole labelled set in one file
LAYOUT_HELP = ("data.root must be a folder of class folders of .npy/.nii/.nii.gz files, an .npz (x, y or "
               "x_train, y_train, x_test, y_test), a folder of such .npy files, or UCR/UEA tables "
               "(NAME_TRAIN.tsv and NAME_TEST.tsv, or .ts)")


@dataclass
class Part:
    """One split's samples: a stacked array (N, ...) or one file path (or row array) per sample."""

    samples: np.ndarray | list  # (N, [C,] *spatial) array, or a list of paths / (C, L) arrays
    labels: list[str]
    names: list[str]  # where each sample came from, for messages and predictions
    source: str  # the file the part came from, for messages


def find_parts(root: str | Path) -> dict[str, Part]:
    """The labelled parts under root: 'train' always, 'val' and 'test' where the data has them."""
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() == ".npz":
            return _npz_parts(root)
        if root.suffix.lower() in TABLE_EXTENSIONS:
            return _table_parts(_table_pair(root.parent, root.name))
        raise DataError(f"data.root {root} is a file cnntrain cannot read as data; {LAYOUT_HELP}")
    if not root.is_dir():
        raise DataError(f"data.root {root} does not exist; {LAYOUT_HELP}")
    tables = sorted(p.name for p in root.iterdir() if p.is_file() and _is_train_table(p.name))
    if tables:
        return _table_parts(_table_pair(root, tables[0]))
    if (root / "x.npy").is_file() or (root / "x_train.npy").is_file():
        return _npy_parts(root)
    return _folder_parts(root)


# --- tables ---

def _is_train_table(name: str) -> bool:
    stem, ext = os.path.splitext(name)
    return ext.lower() in TABLE_EXTENSIONS and stem.upper().endswith("_TRAIN")


def _table_pair(folder: Path, name: str) -> dict[str, Path]:
    stem, ext = os.path.splitext(name)
    base = stem.rsplit("_", 1)[0] if stem.upper().endswith(("_TRAIN", "_TEST")) else stem
    found = {s: folder / f"{base}_{s.upper()}{ext}" for s in ("train", "test")}
    if not found["train"].is_file():
        raise DataError(f"{folder / name}: expected its training table {found['train'].name} beside it "
                        "(UCR/UEA tables come as NAME_TRAIN and NAME_TEST)")
    return {s: p for s, p in found.items() if p.is_file()}


def _table_parts(files: dict[str, Path]) -> dict[str, Part]:
    parts = {}
    for split, path in files.items():
        table = read_table(path)
        parts[split] = Part(table.rows, table.labels, table.names, str(path))
    return parts


# --- stacked arrays: .npz, or .npy files memory-mapped ---

def _npz_parts(path: Path) -> dict[str, Part]:
    arrays = read_npz(path)
    return _stacked_parts(arrays, path, lambda name: f"{path}[{name!r}]")


def _npy_parts(root: Path) -> dict[str, Part]:
    arrays = {p.stem: p for p in root.glob("*.npy")}
    # x is memory-mapped (read as batches need it); labels are small and read whole
    loaded = {name: read_npy(p, mmap=name.startswith("x")) for name, p in arrays.items()
              if name in ("x", "y") or name[:2] in ("x_", "y_")}
    return _stacked_parts(loaded, root, lambda name: str(arrays[name]))


def _stacked_parts(arrays: dict, source: Path, where) -> dict[str, Part]:
    if "x" in arrays or "y" in arrays:
        names = {"train": ("x", "y")}
    else:
        names = {s: (f"x_{s}", f"y_{s}") for s in SPLIT_NAMES if f"x_{s}" in arrays or f"y_{s}" in arrays}
    if "train" not in names:
        raise DataError(f"{source} holds {', '.join(sorted(arrays)) or 'no arrays'}; it needs x and y "
                        "(or x_train, y_train, x_test, y_test, and optionally x_val, y_val)")
    parts = {}
    for split, (xn, yn) in names.items():
        missing = [n for n in (xn, yn) if n not in arrays]
        if missing:
            raise DataError(f"{source} has no array {missing[0]!r}; it needs x and y "
                            "(or x_train, y_train, x_test, y_test, and optionally x_val, y_val)")
        x, y = arrays[xn], arrays[yn]
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where(yn)}: labels must be one per sample, shape [{len(x)}], not {list(y.shape)}")
        if y.dtype.kind not in "iuUSb" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
            raise DataError(f"{where(yn)}: labels must be integers or strings, not {y.dtype}")
        labels = [str(int(v)) if y.dtype.kind in "iufb" else str(v) for v in y.tolist()]
        parts[split] = Part(x, labels, [f"{where(xn)}[{i}]" for i in range(len(x))], where(xn))
    return parts


# --- class folders of one-sample files ---

def _folder_parts(root: Path) -> dict[str, Part]:
    if (root / "train").is_dir():
        classes = _class_folders(root / "train")
        return {s: _class_files(root / s, classes, s != "train")
                for s in SPLIT_NAMES if (root / s).is_dir()}
    for name in ("val", "test"):
        if (root / name).is_dir():
            raise DataError(f"{root / name} exists but {root / 'train'} does not; {LAYOUT_HELP}")
    return {"train": _class_files(root, _class_folders(root), False)}


def _class_folders(folder: Path) -> list[str]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder} has no class folders; {LAYOUT_HELP}")
    return classes


def _class_files(folder: Path, classes: list[str], subset: bool) -> Part:
    paths, labels = [], []
    present = _class_folders(folder) if subset else classes
    unknown = sorted(set(present) - set(classes))
    if unknown:
        raise DataError(f"{folder / unknown[0]} is not a class of the training folder (classes: "
                        f"{', '.join(classes)}); rename or remove it")
    for name in present:
        found = _walk(folder / name)
        if not found:
            raise DataError(f"class folder {folder / name} has no .npy, .nii or .nii.gz files")
        paths += found
        labels += [name] * len(found)
    return Part(paths, labels, [str(p) for p in paths], str(folder))


def _walk(folder: Path) -> list[Path]:
    """Every array file under folder (sorted); images among them are an error: one kind per dataset."""
    found, images = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            lower = name.lower()
            if lower.endswith(ARRAY_EXTENSIONS):
                found.append(Path(dirpath) / name)
            elif lower.endswith(IMAGE_EXTENSIONS):
                images.append(Path(dirpath) / name)
    if found and images:
        raise DataError(f"{folder} mixes 2D images ({images[0].name}) with arrays ({found[0].name}); "
                        "keep one kind per dataset: data.dataset arrays reads .npy/.nii(.gz), imagefolder images")
    if images:
        raise DataError(f"{folder} holds images ({images[0].name}), not arrays; for images use "
                        "data.dataset: imagefolder")
    return sorted(found)
