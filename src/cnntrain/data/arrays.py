"""`data.dataset: arrays`: a user's own signals, images or volumes as float numbers, kept as they are.

Values stay float32 in their own units (volts, Hounsfield units): no 8-bit quantisation, so classes
that differ by less than 1/256 of the range stay apart. The trainer standardises them per channel with
the training split's mean and std, and the checkpoint records those (run/normalize.py, `unit` 1).
float16 would halve memory but keeps 11 significant bits: a CT volume's 3000 HU then steps by 2 HU, and
a small difference on a large offset (a sensor's 1.000 V vs 1.001 V) is lost, so float32 it is.

The network's input is (data.channels, *data.image_size); `data.resize` says how a sample of another
size gets there (data/array_resize.py). Where the data has no val or test split, stratified, seeded
fractions of train are held out, as for image folders; memory-mapped `.npy` files keep their rows in
place instead, so there the last rows of x_train are held out (shuffle a file sorted by class first).
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import torch

from cnntrain.config import DataSettings
from cnntrain.data import options
from cnntrain.data.array_files import finite, read_sample
from cnntrain.data.array_resize import fit, resize_mode
from cnntrain.data.array_sources import Part, find_parts
from cnntrain.data.datasets import register
from cnntrain.data.splits import Split, Splits, digest, stratified_split
from cnntrain.data.synthetic import derive_seed
from cnntrain.errors import DataError

CHUNK = 4096  # samples checked at a time, so a memory-mapped set is never read whole


@register("arrays")
def load_arrays(data: DataSettings, seed: int) -> Splits:
    size = array_size(data)
    mode, channels = resize_mode(data, len(size)), options.channels(data)
    parts = find_parts(data.root)
    classes = class_names(parts["train"].labels)
    options.check_num_classes(data, classes, f"data.root {data.root}")
    tensors = {s: _tensor(part, channels, size, mode) for s, part in parts.items()}
    labels = {s: labels_of(part, classes) for s, part in parts.items()}
    mapped = isinstance(parts["train"].samples, np.memmap)  # .npy files: the tensors view the files
    if not mapped:
        _fill_padding(tensors)
    splits = _carve(tensors, labels, {s: p.names for s, p in parts.items()}, data, seed, mapped)
    if mapped:  # the files' bytes, read once past the map (see _scan), and how the rows were split
        content = [_scan(part) for part in parts.values()] + [len(s) for s in splits]
    else:
        content = [s.x for s in splits]
    fingerprint = digest("arrays", size, mode, channels, *content, *[s.y for s in splits])
    return Splits(*splits, classes=classes, fingerprint=fingerprint)


def array_size(data: DataSettings) -> tuple[int, ...]:
    """data.image_size as (L,), (H, W) or (D, H, W): it also says how many spatial axes a sample has."""
    value = data.image_size
    if not isinstance(value, list):
        raise DataError(f"data.dataset arrays needs data.image_size as a list: [L] for series, [H, W] for "
                        f"images, [D, H, W] for volumes; got {value!r}")
    return options.spatial_size(data, len(value))


def class_names(labels: list[str]) -> list[str]:
    """Sorted class names: numerically where every label is an integer (UCR's 1, 2, ..., 10)."""
    unique = set(labels)
    if all(_is_int(v) for v in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def as_channels_first(sample: np.ndarray, dims: int, channels: int, where: str) -> np.ndarray:
    """[*spatial] or [C, *spatial] -> [C, *spatial], checked against data.channels."""
    if sample.ndim == dims:
        sample = sample[None]
    if sample.ndim != dims + 1:
        raise DataError(f"{where} has shape {list(sample.shape)}: {sample.ndim} axes, but this config's "
                        f"convolutions take {dims} spatial axes (plus an optional channel axis first); "
                        "check data.image_size")
    if sample.shape[0] != channels:
        raise DataError(f"{where} has {sample.shape[0]} channels (shape {list(sample.shape)}, channels first) "
                        f"but data.channels is {channels}")
    return sample


def _tensor(part: Part, channels: int, size: tuple[int, ...], mode: str) -> torch.Tensor:
    """(N, C, *size) float32; NaN where padding went (filled later)."""
    if isinstance(part.samples, np.ndarray):
        return _stacked(part, channels, size, mode)
    out = torch.empty((len(part.samples), channels, *size), dtype=torch.float32)
    for i, (sample, name) in enumerate(zip(part.samples, part.names)):
        if not isinstance(sample, np.ndarray):  # a file path
            sample = read_sample(sample)
        sample = as_channels_first(sample, len(size), channels, name)
        out[i] = torch.from_numpy(fit(sample, size, mode, name))
    return out


def _stacked(part: Part, channels: int, size: tuple[int, ...], mode: str) -> torch.Tensor:
    x = part.samples
    if x.dtype.kind not in "biuf":
        raise DataError(f"{part.source} holds {x.dtype} values; x must hold numbers")
    if x.ndim == len(size) + 1:
        x = x[:, None]  # one channel without its axis
    mapped = isinstance(x, np.memmap) or isinstance(getattr(x, "base", None), np.memmap)
    if x.ndim >= 2 and tuple(x.shape[2:]) != tuple(size) and not mapped:
        return _tensor(Part(list(x), part.labels, part.names, part.source), channels, size, mode)
    if x.ndim >= 1 and len(x):
        as_channels_first(np.asarray(x[0]), len(size), channels, part.names[0])
    if tuple(x.shape[2:]) != tuple(size):
        raise DataError(f"{part.source} holds samples of size {list(x.shape[2:])} but data.image_size is "
                        f"{list(size)}; a memory-mapped .npy is used as it is: save it at that size")
    for start in range(0, len(x) if not mapped else 0, CHUNK):  # a mapped file is checked by _scan
        chunk = np.asarray(x[start:start + CHUNK])
        if not np.isfinite(chunk).all():
            _first_bad(chunk, part, start)
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=np.float32)
    with warnings.catch_warnings():  # a read-only memory map: torch warns, and nothing writes to it
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(x)


def _scan(part: Part) -> str:
    """The finite check and a content digest of a memory-mapped .npy in one pass of read() calls: reading
    through the map would leave every page of the file counted in this process's memory (RSS)."""
    x = part.samples
    row = int(np.prod(x.shape[1:], dtype=np.int64))
    h = hashlib.sha256()
    with open(x.filename, "rb") as f:
        f.seek(x.offset)
        for start in range(0, len(x), CHUNK):
            chunk = np.fromfile(f, dtype=x.dtype, count=min(CHUNK, len(x) - start) * row)
            if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
                _first_bad(chunk.reshape(-1, *x.shape[1:]), part, start)
            h.update(chunk.data)
    return h.hexdigest()


def _first_bad(chunk: np.ndarray, part: Part, start: int) -> None:
    i = int(np.flatnonzero(~np.isfinite(chunk.reshape(len(chunk), -1)).all(1))[0])
    finite(chunk[i], part.names[start + i])


def labels_of(part: Part, classes: list[str]) -> torch.Tensor:
    """Class indices of a part's labels; a label training never saw is an error naming its sample."""
    index = {c: i for i, c in enumerate(classes)}
    for label, name in zip(part.labels, part.names):
        if label not in index:
            raise DataError(f"{name}: its label {label!r} is not a class of the training data "
                            f"({', '.join(classes)})")
    return torch.tensor([index[v] for v in part.labels], dtype=torch.int64)


def _fill_padding(tensors: dict[str, torch.Tensor]) -> None:
    """NaN padding -> the training split's channel mean (ignoring padding), which standardises to 0."""
    train = tensors["train"]
    if not any(t.isnan().any() for t in tensors.values()):
        return
    mean = train.transpose(0, 1).reshape(train.shape[1], -1).nanmean(1)  # (C,)
    mean = torch.nan_to_num(mean, nan=0.0)
    for t in tensors.values():
        pad = t.isnan()
        t[pad] = mean.view(1, -1, *[1] * (t.dim() - 2)).expand_as(t)[pad]


def _carve(tensors, labels, names, data: DataSettings, seed: int, mapped: bool) -> tuple[Split, Split, Split]:
    """train, val, test: where the data lacks val or test, fractions of train are held out."""
    fractions = (0.0 if "val" in tensors else options.fraction(data.val_fraction, "val_fraction"),
                 0.0 if "test" in tensors else options.fraction(data.test_fraction, "test_fraction"))
    x, y, n = tensors["train"], labels["train"], names["train"]
    if mapped:
        held = [round(len(y) * f) for f in fractions]
        bounds = (0, len(y) - sum(held), len(y) - held[1], len(y))  # slices of a map are views: no copy
        carved = [Split(x[a:b], y[a:b], n[a:b]) for a, b in zip(bounds, bounds[1:])]
    else:
        gen = torch.Generator().manual_seed(derive_seed(seed, "arrays", "split"))
        parts = stratified_split(y, *fractions, gen)
        carved = [Split(x[p], y[p], [n[i] for i in p.tolist()]) for p in parts]
    given = {s: Split(tensors[s], labels[s], names[s]) for s in ("val", "test") if s in tensors}
    return carved[0], given.get("val", carved[1]), given.get("test", carved[2])


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False
