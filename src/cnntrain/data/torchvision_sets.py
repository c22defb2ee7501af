"""`mnist`, `fashion_mnist`, `cifar10`: the classic sets, downloaded by torchvision.

Files live where torchvision puts them (root/MNIST/raw/, root/FashionMNIST/raw/,
root/cifar-10-batches-py/). Without them and without data.download, the DataError
lists every missing file. MNIST-style idx files are parsed by torchvision (no
pickle involved). CIFAR-10's batch files are pickles, so cnntrain reads them
itself with an unpickler that can only build numpy arrays (safe_pickle.py):
torchvision's own reader would run any code a tampered file asks for, and would
also insist on the official checksums.

The official test set is the test split; val is split off the training set per
class by data.val_fraction (seeded). Channels are converted (gray <-> RGB) and
images resized when data.image_size differs from the native 28 / 32.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import torch

from cnntrain.config import DataSettings
from cnntrain.data import options, safe_pickle
from cnntrain.data.convert import resize, to_channels
from cnntrain.data.datasets import register
from cnntrain.data.splits import Split, Splits, digest, stratified_split
from cnntrain.data.synthetic import derive_seed
from cnntrain.errors import DataError

IDX_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
IDX_WHAT = "the four uncompressed idx files (gunzip the .gz downloads)"
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_FILES = [*CIFAR_TRAIN, "test_batch", "batches.meta"]
CIFAR_WHAT = (
    "the contents of cifar-10-python.tar.gz"
    " (https://www.cs.toronto.edu/~kriz/cifar.html)"
)
# What torchvision's idx reader raises on a malformed file (it checks with assert).
IDX_ERRORS = (AssertionError, ValueError, TypeError, RuntimeError, OSError, IndexError)
CIFAR_ERRORS = (EOFError, ValueError, TypeError, AttributeError, IndexError, OSError)


@register("mnist")
def load_mnist(data: DataSettings, seed: int) -> Splits:
    return _idx_dataset("mnist", "MNIST", data, seed)


@register("fashion_mnist")
def load_fashion_mnist(data: DataSettings, seed: int) -> Splits:
    return _idx_dataset("fashion_mnist", "FashionMNIST", data, seed)


@register("cifar10")
def load_cifar10(data: DataSettings, seed: int) -> Splits:
    folder = os.path.join(str(data.root), CIFAR_FOLDER)
    _ensure_files("cifar10", folder, CIFAR_FILES, data, _download_cifar, CIFAR_WHAT)
    meta = _unpickle(os.path.join(folder, "batches.meta"))
    classes = [_text(c) for c in _field(meta, "label_names", folder)]
    train = [_cifar_batch(os.path.join(folder, f), len(classes)) for f in CIFAR_TRAIN]
    x_train, y_train = (
        torch.cat([b[0] for b in train]),
        torch.cat([b[1] for b in train]),
    )
    x_test, y_test = _cifar_batch(os.path.join(folder, "test_batch"), len(classes))
    return _assemble(
        "cifar10", data, seed, classes, (x_train, y_train), (x_test, y_test)
    )


# --- MNIST and Fashion-MNIST ----------------------------------------------------------


def _idx_dataset(name: str, tv_class: str, data: DataSettings, seed: int) -> Splits:
    root = str(data.root)
    folder = os.path.join(root, tv_class, "raw")

    def download(into: str) -> None:
        getattr(_tv_datasets(), tv_class)(into, train=True, download=True)

    _ensure_files(name, folder, IDX_FILES, data, download, IDX_WHAT)
    cls = getattr(_tv_datasets(), tv_class)
    try:
        train = cls(root, train=True, download=False)
        test = cls(root, train=False, download=False)
    except IDX_ERRORS as err:
        raise DataError(
            f"the {name} files in {folder} are not valid idx files ({err!r});"
            " delete them and run with --set data.download=true, or put the"
            " original files back"
        ) from None
    for prefix, part in (("train", train), ("t10k", test)):
        labels_ok = len(part.targets) == 0 or int(part.targets.max()) < len(cls.classes)
        if len(part.data) != len(part.targets) or not labels_ok:
            labels = os.path.join(folder, f"{prefix}-labels-idx1-ubyte")
            raise DataError(
                f"{labels} does not match its images (count, or labels >="
                f" {len(cls.classes)}); put the original files back"
            )
    x_train, x_test = train.data.unsqueeze(1), test.data.unsqueeze(1)  # (N, 1, 28, 28)
    return _assemble(
        name,
        data,
        seed,
        list(cls.classes),
        (x_train, train.targets),
        (x_test, test.targets),
    )


def _tv_datasets():
    # Imported on use: torchvision is slow to import and only these sets need it.
    from torchvision import datasets

    return datasets


# --- CIFAR-10 -------------------------------------------------------------------------


def _download_cifar(root: str) -> None:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    # Only the archive (md5-checked) comes from torchvision; the reading is ours.
    download_and_extract_archive(
        CIFAR10.url, root, filename=CIFAR10.filename, md5=CIFAR10.tgz_md5
    )


def _cifar_batch(path: str, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file -> x (N, 3, 32, 32) uint8, y (N,) int64, after checking both."""
    batch = _unpickle(path)
    pixels, labels = _field(batch, "data", path), _field(batch, "labels", path)
    shape_ok = isinstance(pixels, np.ndarray) and pixels.ndim == 2
    if not shape_ok or pixels.dtype != np.uint8 or pixels.shape[1] != 3072:
        raise DataError(
            f"{path} does not hold CIFAR-10 images (a uint8 array of shape"
            " (N, 3072)); replace it with the original file"
        )
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    in_range = len(y) == 0 or (int(y.min()) >= 0 and int(y.max()) < n_classes)
    if y.shape != (pixels.shape[0],) or not in_range:
        raise DataError(
            f"{path} has labels that do not match its {pixels.shape[0]} images;"
            " replace it with the original file"
        )
    # Each row holds the R, then G, then B plane of one 32x32 image.
    x = torch.from_numpy(np.ascontiguousarray(pixels)).view(-1, 3, 32, 32)
    return x, y


def _unpickle(path: str) -> object:
    try:
        return safe_pickle.load(path)
    except pickle.UnpicklingError as err:
        raise DataError(
            f"refusing to load {path}: {err}. A CIFAR-10 batch holds only arrays and"
            " lists; this file may have been tampered with. Delete it and download the"
            " data again"
        ) from None
    except CIFAR_ERRORS as err:
        raise DataError(
            f"{path} is not a readable CIFAR-10 file ({err!r}); delete it and"
            " download again"
        ) from None


def _field(obj: object, key: str, path: str):
    """obj[key]: Python 2 pickles read as latin1 have str keys, others maybe bytes."""
    if isinstance(obj, dict):
        for k in (key, key.encode()):
            if k in obj:
                return obj[k]
    raise DataError(f"{path} has no {key!r} entry; it is not a CIFAR-10 file")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- shared ---------------------------------------------------------------------------


def _ensure_files(name, folder, files, data, download, what) -> None:
    """Download missing files when allowed; otherwise name every file and its folder."""
    if not _missing(folder, files):
        return
    if data.download:
        try:
            download(str(data.root))
        except Exception as err:  # network, HTTP, disk, checksum: all said the same way
            raise DataError(
                f"downloading {name} into {data.root} failed ({err}); check the"
                f" network, or put {what} into {folder}/: {', '.join(files)}"
            ) from None
    missing = _missing(folder, files)
    if missing:
        raise DataError(
            f"{name} files are missing: {', '.join(missing)}. Run with"
            f" --set data.download=true to download them, or put {what} into {folder}/"
        )


def _missing(folder: str, files: list[str]) -> list[str]:
    paths = [os.path.join(folder, f) for f in files]
    return [p for p in paths if not os.path.isfile(p)]


def _assemble(name, data, seed, classes, train, test) -> Splits:
    """Check classes, convert channels and size, split val off train, fingerprint."""
    (x_train, y_train), (x_test, y_test) = train, test
    options.check_num_classes(data, classes, f"{name} in {data.root}")
    channels = options.channels(data, image=True)
    size = options.spatial_size(data, 2, minimum=1, allow_none=True)
    size = size or tuple(x_train.shape[2:])
    x_train, x_test = (
        resize(to_channels(x, channels), size) for x in (x_train, x_test)
    )
    gen = torch.Generator().manual_seed(derive_seed(seed, name, "split"))
    val_fraction = options.fraction(data.val_fraction, "val_fraction")
    train_idx, val_idx, _ = stratified_split(y_train, val_fraction, 0.0, gen)
    parts = {
        "train": Split(x_train[train_idx], y_train[train_idx]),
        "val": Split(x_train[val_idx], y_train[val_idx]),
        "test": Split(x_test.contiguous(), y_test.to(torch.int64)),
    }
    tensors = [t for p in parts.values() for t in (p.x, p.y)]
    fingerprint = digest(name, classes, *tensors)
    return Splits(**parts, classes=classes, fingerprint=fingerprint, warnings=[])
