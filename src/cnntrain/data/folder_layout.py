"""Finding an image folder's files: class folders, optional train/val/test folders, and the
stratified, seeded carving of validation and test sets where the folder has none."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from cnntrain.config import DataSettings
from cnntrain.data import options
from cnntrain.data.cache import FileId
from cnntrain.data.splits import stratified_split
from cnntrain.data.synthetic import SPLITS, derive_seed
from cnntrain.data.walk import EXTENSIONS, walk_images
from cnntrain.errors import DataError

LAYOUT_HELP = (
    "expected one folder per class (root/<class>/<image>.png) or train/, val/,"
    " test/ folders that each hold class folders (root/train/<class>/<image>.png)"
)

@dataclass
class Entry:
    rel: str  # path relative to root, "/"-separated
    size: int
    mtime_ns: int
    label: int

    @property
    def id(self) -> FileId:
        return (self.rel, self.size, self.mtime_ns)


def arrange(
    root: str, data: DataSettings, seed: int
) -> tuple[list[str], dict[str, list[Entry]]]:
    """Class names and the files of each split, each split in path order."""
    if not os.path.isdir(root):
        raise DataError(f"image folder {root} does not exist; {LAYOUT_HELP}")
    val_fraction, test_fraction = (
        options.fraction(data.val_fraction, "val_fraction"),
        options.fraction(data.test_fraction, "test_fraction"),
    )
    gen = torch.Generator().manual_seed(derive_seed(seed, "imagefolder", "split"))
    if not os.path.isdir(os.path.join(root, "train")):
        for name in ("val", "test"):
            if os.path.isdir(os.path.join(root, name)):
                train = os.path.join(root, "train")
                raise DataError(
                    f"{os.path.join(root, name)} exists but {train} does not;"
                    f" {LAYOUT_HELP}"
                )
        classes = _class_folders(root)
        pool = _files(root, "", classes)
        return classes, _split(pool, val_fraction, test_fraction, gen)
    classes = _class_folders(os.path.join(root, "train"))
    blocks = {"train": _files(root, "train", classes)}
    for name in ("val", "test"):
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            extra = sorted(set(_subfolders(folder)) - set(classes))
            if extra:
                raise DataError(
                    f"{os.path.join(folder, extra[0])} is not a class of"
                    f" {os.path.join(root, 'train')} (classes: {', '.join(classes)});"
                    " rename or remove it"
                )
            present = [c for c in classes if os.path.isdir(os.path.join(folder, c))]
            blocks[name] = _files(root, name, classes, only=present)
    fractions = (
        0.0 if "val" in blocks else val_fraction,
        0.0 if "test" in blocks else test_fraction,
    )
    carved = _split(blocks["train"], *fractions, gen)
    blocks["train"] = carved["train"]
    for name in ("val", "test"):
        blocks.setdefault(name, carved[name])
    return classes, blocks


def _class_folders(folder: str) -> list[str]:
    classes = _subfolders(folder)
    if not classes:
        images = [f for f in os.listdir(folder) if f.lower().endswith(EXTENSIONS)]
        hint = (
            f" (it holds {len(images)} images directly: move them into class folders)"
            if images
            else ""
        )
        raise DataError(f"{folder} has no class folders{hint}; {LAYOUT_HELP}")
    return classes


def _subfolders(folder: str) -> list[str]:
    return sorted(
        n
        for n in os.listdir(folder)
        if not n.startswith(".") and os.path.isdir(os.path.join(folder, n))
    )


def _files(
    root: str, split: str, classes: list[str], only: list[str] | None = None
) -> list[Entry]:
    """Every image under root/split/<class>, sorted by path, with its size and mtime."""
    entries = []
    for label, name in enumerate(classes):
        if only is not None and name not in only:
            continue
        folder = os.path.join(root, split, name) if split else os.path.join(root, name)
        found = []
        for path in walk_images(folder):
            st = _stat(path)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            found.append(Entry(rel, st.st_size, st.st_mtime_ns, label))
        if not found:
            raise DataError(
                f"class folder {folder} has no images ({' '.join(EXTENSIONS)});"
                " add images or remove the folder"
            )
        entries += sorted(found, key=lambda e: e.rel)
    return entries


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as err:  # a broken link, or no permission
        raise DataError(
            f"cannot read {path} ({err.strerror}); fix or remove it"
        ) from None


def _split(
    pool: list[Entry], val_fraction: float, test_fraction: float, gen
) -> dict[str, list[Entry]]:
    labels = torch.tensor([e.label for e in pool], dtype=torch.int64)
    parts = stratified_split(labels, val_fraction, test_fraction, gen)
    return {s: [pool[i] for i in idx.tolist()] for s, idx in zip(SPLITS, parts)}
