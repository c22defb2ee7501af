"""mnist, fashion_mnist, cifar10 from tiny files in the real on-disk formats."""

import os
import pickle
import struct

import numpy as np
import pytest
import torch

from cnntrain.config import DataSettings
from cnntrain.data import load_data
from cnntrain.errors import DataError


def config(root, dataset, **overrides) -> DataSettings:
    """The config's data section as load_data receives it: every default, then these values."""
    return DataSettings(**{"dataset": dataset, "root": str(root), "image_size": None, "val_fraction": 0.25,
                           **overrides})


def write_idx(path, array):
    """The idx format: magic (0, 0, type 0x08 = ubyte, ndim), big-endian dims, raw
    bytes."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, array.ndim]))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def tiny_idx_set(root, folder, n_train=20, n_test=10):
    """Images whose every pixel equals 10 * label + index-in-split % 10, labels 0..9
    cycling."""
    raw = os.path.join(root, folder, "raw")
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.empty((n, 28, 28), np.uint8)
        images[:] = (labels * 20 + np.arange(n) % 7)[:, None, None]
        images[:, 0, 0] = 255  # one bright corner, to check orientation
        write_idx(os.path.join(raw, f"{split}-images-idx3-ubyte"), images)
        write_idx(os.path.join(raw, f"{split}-labels-idx1-ubyte"), labels)
    return raw


@pytest.mark.parametrize(
    "dataset,folder,first_class",
    [("mnist", "MNIST", "0 - zero"), ("fashion_mnist", "FashionMNIST", "T-shirt/top")],
)
def test_idx_sets_load_with_labels_and_pixels(tmp_path, dataset, folder, first_class):
    tiny_idx_set(tmp_path, folder)
    s = load_data(config(tmp_path, dataset), seed=0)
    assert s.classes[0] == first_class and len(s.classes) == 10
    # val: 1 of each class's 2
    assert len(s.train) == 10 and len(s.val) == 10 and len(s.test) == 10
    assert s.train.x.shape == (10, 1, 28, 28) and s.train.x.dtype == torch.uint8
    for split in (s.train, s.val, s.test):
        # pixels belong to their labels
        assert torch.equal(split.x[:, 0, 5, 5] // 20, split.y)
        assert (split.x[:, 0, 0, 0] == 255).all() and (
            split.x[:, 0, 27, 27] < 255
        ).all()
    assert sorted(s.test.y.tolist()) == list(range(10))


def test_idx_conversion_to_rgb_and_resize(tmp_path):
    tiny_idx_set(tmp_path, "MNIST")
    s = load_data(config(tmp_path, "mnist", channels=3, image_size=14), seed=0)
    assert s.train.x.shape == (10, 3, 14, 14)
    assert torch.equal(s.train.x[:, 0], s.train.x[:, 2])
    assert torch.equal(s.train.x[:, 0, 7, 7] // 20, s.train.y)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError) as err:
        load_data(config(tmp_path / "data", "mnist"), seed=0)
    message = str(err.value)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        assert os.path.join(str(tmp_path / "data"), "MNIST", "raw", name) in message
    assert "--set data.download=true" in message


def test_num_classes_must_agree(tmp_path):
    tiny_idx_set(tmp_path, "MNIST")
    with pytest.raises(DataError, match="num_classes is 5 but mnist .* has 10 classes"):
        load_data(config(tmp_path, "mnist", num_classes=5), seed=0)


def test_broken_idx_file(tmp_path):
    raw = tiny_idx_set(tmp_path, "MNIST")
    with open(os.path.join(raw, "train-images-idx3-ubyte"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(DataError, match="not valid idx files"):
        load_data(config(tmp_path, "mnist"), seed=0)


# --- CIFAR-10 -------------------------------------------------------------------------

CIFAR_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def tiny_cifar(root, n=10, protocol=2, bytes_keys=False):
    """Batches as the official files: dict with data (N, 3072) uint8 [R plane, G plane,
    B plane] and labels."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        labels = [(i + b) % 10 for i in range(n)]
        images = np.zeros((n, 3, 32, 32), np.uint8)
        images[:, 0] = np.array(labels)[:, None, None] * 20  # red encodes the label
        images[:, 1] = b * 10  # green encodes the batch
        images[:, 2, 0, :] = 255  # blue top row, to check the layout
        batch = {
            key("batch_label"): f"batch {b}",
            key("labels"): labels,
            key("data"): images.reshape(n, 3072),
            key("filenames"): [f"{i}.png" for i in range(n)],
        }
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump(
            {key("label_names"): [key(c) for c in CIFAR_NAMES], key("num_vis"): 3072},
            f,
            protocol=protocol,
        )
    return folder


@pytest.mark.parametrize("protocol,bytes_keys", [(2, False), (4, True), (5, False)])
def test_cifar_loads_with_labels_and_pixels(tmp_path, protocol, bytes_keys):
    tiny_cifar(tmp_path, protocol=protocol, bytes_keys=bytes_keys)
    s = load_data(config(tmp_path, "cifar10", channels=3, val_fraction=0.2), seed=0)
    assert s.classes == CIFAR_NAMES
    assert len(s.train) == 40 and len(s.val) == 10 and len(s.test) == 10
    assert s.train.x.shape == (40, 3, 32, 32)
    for split in (s.train, s.val, s.test):
        assert torch.equal(split.x[:, 0, 9, 9].long() // 20, split.y)
        assert (split.x[:, 2, 0] == 255).all() and (split.x[:, 2, 1] == 0).all()
    assert (s.test.x[:, 1] == 50).all()  # test_batch, not a training batch
    assert sorted(set(s.train.x[:, 1, 5, 5].tolist())) == [0, 10, 20, 30, 40]


def test_cifar_to_gray(tmp_path):
    tiny_cifar(tmp_path)
    s = load_data(config(tmp_path, "cifar10", channels=1, image_size=[16, 16]), seed=0)
    assert s.train.x.shape[1:] == (1, 16, 16)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("victim", ["test_batch", "batches.meta", "data_batch_3"])
def test_hostile_cifar_pickle_is_refused_and_never_runs(tmp_path, victim):
    folder = tiny_cifar(tmp_path)
    marker = tmp_path / "pwned"
    with open(os.path.join(folder, victim), "wb") as f:
        pickle.dump({"data": _Exploit(marker), "labels": [0]}, f, protocol=2)
    with pytest.raises(
        DataError,
        match=f"refusing to load .*{victim}.*forbidden global (posix|os|nt).system",
    ):
        load_data(config(tmp_path, "cifar10", channels=3), seed=0)
    assert not marker.exists()


def test_cifar_missing_files_message(tmp_path):
    folder = tiny_cifar(tmp_path)
    os.remove(os.path.join(folder, "data_batch_2"))
    os.remove(os.path.join(folder, "batches.meta"))
    with pytest.raises(DataError) as err:
        load_data(config(tmp_path, "cifar10", channels=3), seed=0)
    message = str(err.value)
    assert (
        os.path.join(folder, "data_batch_2") in message
        and os.path.join(folder, "batches.meta") in message
    )
    assert os.path.join(folder, "data_batch_1") not in message
    assert "--set data.download=true" in message


def test_cifar_batch_with_wrong_content(tmp_path):
    folder = tiny_cifar(tmp_path)
    with open(os.path.join(folder, "data_batch_1"), "wb") as f:
        pickle.dump({"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]}, f)
    with pytest.raises(DataError, match="data_batch_1 does not hold CIFAR-10 images"):
        load_data(config(tmp_path, "cifar10", channels=3), seed=0)


def test_download_goes_through_torchvision(tmp_path, monkeypatch):
    """download=true asks torchvision to fetch; here its download writes tiny files."""
    from types import SimpleNamespace

    from torchvision import datasets

    from cnntrain.data import torchvision_sets

    def download(self):
        tiny_idx_set(self.root, "MNIST")

    # Named MNIST: torchvision derives the folder, root/MNIST/raw, from the class name.
    offline = type("MNIST", (datasets.MNIST,), {"download": download})
    fake = SimpleNamespace(MNIST=offline)
    monkeypatch.setattr(torchvision_sets, "_tv_datasets", lambda: fake)
    s = load_data(config(tmp_path, "mnist", download=True), seed=0)
    assert len(s.train) + len(s.val) == 20 and len(s.test) == 10


def test_failed_download_is_a_data_error(tmp_path, monkeypatch):
    from urllib.error import URLError

    from cnntrain.data import torchvision_sets

    def offline(root):
        raise URLError("no network")

    monkeypatch.setattr(torchvision_sets, "_download_cifar", offline)
    with pytest.raises(DataError, match="downloading cifar10 .* failed .*no network"):
        load_data(config(tmp_path, "cifar10", channels=3, download=True), seed=0)
