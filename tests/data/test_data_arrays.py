"""Tests for `data.dataset: arrays` (cnntrain.data.arrays and friends): every format written here in its
real form (.npy, .npz, UCR .tsv, sktime .ts, NIfTI .nii/.nii.gz), float values kept, and each bad input
refused with one line naming the file, exit 2, nothing written."""

from __future__ import annotations

import gzip

import nibabel
import numpy as np
import pytest
import torch

from cnntrain.config import DataSettings
from cnntrain.data import load_data
from cnntrain.data.array_resize import fit
from cnntrain.data.augment import augment_batch

BASE = {"dataset": "arrays", "channels": 1, "num_classes": None, "val_fraction": 0.25, "test_fraction": 0.25,
        "resize": None}


def data(root, size, **extra) -> DataSettings:
    return DataSettings(**{**BASE, "root": str(root), "image_size": list(size), **extra})


def write_npy_folders(root, shape=(32,), per_class=6, classes=("a", "b"), scale=1e-3):
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            np.save(root / name / f"{i}.npy", (1000 + k * scale + rng.normal(0, scale / 10, shape)).astype(np.float64))
    return root


def write_nifti(path, array):
    nibabel.save(nibabel.Nifti1Image(np.asarray(array, np.float32), np.eye(4)), str(path))
    return path


def write_tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(str(v) for v in row) for row in rows) + "\n")
    return path


TS_HEADER = "#comment\n@problemName Toy\n@timeStamps false\n@univariate false\n@classLabel true up down\n@data\n"


def test_npy_class_folders_keep_float_values(tmp_path):
    splits = load_data(data(write_npy_folders(tmp_path / "d"), [32]), seed=0)
    assert splits.classes == ["a", "b"]
    assert splits.train.x.dtype == torch.float32 and splits.input_shape == (1, 32)
    # the classes differ by 1e-3 on a level of 1000: float32 keeps it (uint8 would not)
    x = torch.cat([splits.train.x, splits.val.x, splits.test.x])
    y = torch.cat([splits.train.y, splits.val.y, splits.test.y])
    means = [x[y == k].mean().item() for k in (0, 1)]
    assert means[1] - means[0] == pytest.approx(1e-3, rel=0.2)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 12


def test_npz_with_splits_and_string_labels(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 2, 5, 6, 7)).astype(np.float32)
    np.savez(tmp_path / "v.npz", x_train=x, y_train=np.array(["p", "q"] * 5), x_test=x[:4],
             y_test=np.array(["q", "p", "q", "p"]), x_val=x[:2], y_val=np.array(["p", "q"]))
    splits = load_data(data(tmp_path / "v.npz", [5, 6, 7], channels=2), seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 2, 4)
    assert torch.equal(splits.train.x, torch.from_numpy(x))  # values exactly as saved
    assert splits.test.y.tolist() == [1, 0, 1, 0]


def test_ucr_tsv_pads_short_rows_with_the_training_mean(tmp_path):
    rows = [[1, 1.0, 2.0, 3.0, 4.0], [2, 5.0, 6.0, "NaN", "NaN"], [1, 1.5, 2.5, 3.5, 4.5], [2, 5.5, 6.5, 7.5, "NaN"]]
    write_tsv(tmp_path / "Toy_TRAIN.tsv", rows)
    write_tsv(tmp_path / "Toy_TEST.tsv", [[2, 9.0, 9.0], [1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    splits = load_data(data(tmp_path, [4], val_fraction=0.0), seed=0)
    assert splits.classes == ["1", "2"]
    real = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]
    mean = float(np.mean(real))
    train = {tuple(np.round(r.tolist(), 4)) for r in splits.train.x[:, 0]}
    assert (5.0, 6.0, round(mean, 4), round(mean, 4)) in train  # the padding is the mean, standardised to 0
    assert splits.test.x[0, 0].tolist() == pytest.approx([9.0, 9.0, mean, mean])
    assert splits.test.x[1, 0].tolist() == [0.0] * 4  # a longer row is cut at its end


def test_sktime_ts_multivariate(tmp_path):
    body = "1,2,3,4:5,6,7,8:up\n2,3,4,5:6,7,8,9:down\n0,1,2,3:4,5,6,7:up\n9,9,9,9:1,1,1,1:down\n"
    (tmp_path / "Toy_TRAIN.ts").write_text(TS_HEADER + body)
    (tmp_path / "Toy_TEST.ts").write_text(TS_HEADER + "1,2,3,4:5,6,7,8:down\n")
    splits = load_data(data(tmp_path / "Toy_TRAIN.ts", [4], channels=2, val_fraction=0.0), seed=0)
    assert splits.classes == ["down", "up"] and splits.input_shape == (2, 4)
    assert splits.test.x[0].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_folders_resampled_to_the_input_size(tmp_path, suffix):
    for k, name in enumerate(["air", "bone"]):
        (tmp_path / name).mkdir()
        for i in range(4):
            write_nifti(tmp_path / name / f"{i}{suffix}", np.full((6 + i, 8, 4), -1000.0 + 4000 * k))
    splits = load_data(data(tmp_path, [4, 4, 4]), seed=0)
    x = torch.cat([splits.train.x, splits.val.x, splits.test.x])
    y = torch.cat([splits.train.y, splits.val.y, splits.test.y])
    assert x.shape[1:] == (1, 4, 4, 4)
    assert set(x[y == 0].unique().tolist()) == {-1000.0} and set(x[y == 1].unique().tolist()) == {3000.0}


def test_npy_files_are_memory_mapped(tmp_path):
    np.save(tmp_path / "x_train.npy", np.arange(40 * 8, dtype=np.float32).reshape(40, 8))
    np.save(tmp_path / "y_train.npy", np.repeat([0, 1], 20))
    np.save(tmp_path / "x_test.npy", np.zeros((4, 8), np.float32))
    np.save(tmp_path / "y_test.npy", np.array([0, 1, 0, 1]))
    splits = load_data(data(tmp_path, [8], val_fraction=0.1), seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (36, 4, 4)
    assert splits.val.x[0, 0, 0].item() == 36 * 8  # the last rows validate
    # a view of the file, not a copy in memory: a change on disk shows through
    np.lib.format.open_memmap(tmp_path / "x_train.npy", mode="r+")[3, 0] = -7.0
    assert splits.train.x[3, 0, 0].item() == -7.0


@pytest.mark.parametrize("mode,want", [("pad", [1, 2, 3, np.nan]), ("crop", [1, 2, 3, np.nan]),
                                       ("interpolate", [1.0, 1.625, 2.375, 3.0])])
def test_resize_modes_for_a_shorter_series(mode, want):
    out = fit(np.array([[1.0, 2.0, 3.0]], np.float32), (4,), mode, "x")
    assert out[0].tolist() == pytest.approx(want, nan_ok=True)


def test_crop_keeps_the_centre():
    out = fit(np.arange(6, dtype=np.float32)[None], (2,), "crop", "x")
    assert out[0].tolist() == [2.0, 3.0]


def test_signal_augmentations_are_seeded_and_change_values():
    x = torch.arange(2 * 1 * 4 * 5 * 6, dtype=torch.float32).view(2, 1, 4, 5, 6)
    augment = {"shift": [1, 0, 2], "flip_axes": [0, 2], "scale": 0.2, "noise": 0.1}
    a = augment_batch(x, augment, torch.Generator().manual_seed(3))
    b = augment_batch(x, augment, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, x) and a.shape == x.shape


# --- bad input: one line naming the file, exit 2, nothing written ---------------------------------------

def _object_npy(root):
    write_npy_folders(root)
    np.save(root / "a" / "0.npy", np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    return root / "a" / "0.npy"


def _truncated_npy(root):
    write_npy_folders(root)
    path = root / "b" / "1.npy"
    path.write_bytes(path.read_bytes()[:100])
    return path


def _corrupt_nifti(root):
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            write_nifti(root / name / f"{i}.nii.gz", np.zeros((4, 4, 4)))
    path = root / "b" / "2.nii.gz"
    path.write_bytes(gzip.compress(b"not a nifti header at all" * 20)[:60])
    return path


def _nan_inside(root):
    write_npy_folders(root)
    values = np.ones(32)
    values[5] = np.nan
    np.save(root / "a" / "3.npy", values)
    return root / "a" / "3.npy"


def _nan_inside_row(root):
    write_tsv(root / "Toy_TRAIN.tsv", [[1, 1.0, 2.0, 3.0], [2, 1.0, "NaN", 3.0]] * 3)
    return root / "Toy_TRAIN.tsv"


def _missing_label(root):
    write_tsv(root / "Toy_TRAIN.tsv", [[1, 1.0, 2.0, 3.0], ["", 1.0, 2.0, 3.0], [2, 3.0, 2.0, 1.0]])
    return root / "Toy_TRAIN.tsv"


def _different_shapes(root):
    write_npy_folders(root)
    np.save(root / "b" / "2.npy", np.ones(40))
    return root / "b" / "2.npy"


def _too_many_dims(root):
    write_npy_folders(root, shape=(2, 3, 32))
    return root / "a" / "0.npy"


def _npz_without_xy(root):
    root.mkdir(parents=True)
    np.savez(root / "d.npz", data=np.ones((4, 32)), labels=np.arange(4))
    return root / "d.npz"


def _mixed_images(root):
    write_npy_folders(root)
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "a" / "photo.png")
    return root / "a"


BAD = {
    "object array": (_object_npy, "Python objects", {}),
    "truncated npy": (_truncated_npy, "truncated", {}),
    "corrupt nii.gz": (_corrupt_nifti, "NIfTI", {"image_size": [4, 4, 4]}),
    "NaN in a file": (_nan_inside, "index [5]", {}),
    "NaN inside a row": (_nan_inside_row, ":2: value nan at position 2", {"image_size": [3]}),
    "missing label": (_missing_label, ":2: the row has no class label", {"image_size": [3]}),
    "different shapes": (_different_shapes, "data.resize", {"resize": "none"}),
    "too many dims": (_too_many_dims, "3 axes", {}),
    "npz without x/y": (_npz_without_xy, "needs x and y", {}),
    "images and arrays": (_mixed_images, "mixes 2D images", {}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_naming_the_file(tmp_path, write_config, cli, case):
    make, words, extra = BAD[case]
    named = make(tmp_path / "d")
    root = named if named.suffix == ".npz" or named.name.endswith(".tsv") else tmp_path / "d"
    size = extra.get("image_size", [32])
    resize = extra.get("resize")
    config = write_config(f"""
        name: bad
        data: {{dataset: arrays, root: "{root}", channels: 1, image_size: {size}, resize: {resize or 'null'}}}
        model: {{layers: [flatten, linear: num_classes]}}
        train: {{epochs: 1, device: cpu}}
        """)
    code, out, err = cli("train", "--config", config, "--out", tmp_path / "run")
    assert code == 2, (out, err)
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err
    assert str(named) in line and words in line
    assert not (tmp_path / "run").exists()

