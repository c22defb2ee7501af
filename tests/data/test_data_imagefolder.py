"""imagefolder: layouts, stratified splits, the decode-once cache, user errors."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from cnntrain.config import DataSettings
from cnntrain.data import decode, load_data
from cnntrain.errors import DataError


def config(root, **overrides) -> DataSettings:
    """The config's data section as load_data receives it: every default, then these values."""
    return DataSettings(**{"dataset": "imagefolder", "root": str(root), "image_size": [8, 8], "val_fraction": 0.2,
                           **overrides})


def make_images(folder, n, start=0, size=(8, 8)):
    """n uniform gray PNGs whose gray level (start + i) identifies each file."""
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        Image.new("L", size, start + i).save(os.path.join(folder, f"img{i:03d}.png"))


def level(path):
    with Image.open(path) as img:
        return img.getpixel((0, 0))


def check_pixels_follow_paths(split):
    """Every row holds the image its path names (gray level), so labels, paths and
    pixels agree."""
    for x, path in zip(split.x, split.paths):
        assert int(x[0, 0, 0]) == level(path)


@pytest.fixture
def flat(tmp_path):
    root = tmp_path / "flat"
    for k, name in enumerate(["cat", "dog", "eel"]):
        make_images(root / name, 20, start=50 * k)
    return root


def test_flat_folder_is_split_per_class(flat):
    s = load_data(config(flat), seed=0)
    assert s.classes == ["cat", "dog", "eel"]
    for split, n in ((s.train, 14), (s.val, 4), (s.test, 2)):
        assert torch.equal(torch.bincount(split.y, minlength=3), torch.full((3,), n))
        assert split.x.shape == (3 * n, 1, 8, 8) and split.x.dtype == torch.uint8
        check_pixels_follow_paths(split)
        for label, path in zip(split.y.tolist(), split.paths):
            assert os.path.basename(os.path.dirname(path)) == s.classes[label]
    every = s.train.paths + s.val.paths + s.test.paths
    assert len(set(every)) == 60
    assert s.warnings == []


def test_writing_the_cache_into_the_data_folder_is_said_once(flat, tmp_path):
    first = load_data(config(flat), seed=0).notes
    assert len(first) == 1 and str(flat / ".cnntrain-cache") in first[0] and "data.cache_dir" in first[0]
    assert load_data(config(flat), seed=0).notes == []  # read back, not written
    elsewhere = load_data(config(flat, cache_dir=str(tmp_path / "c")), seed=0).notes
    assert len(elsewhere) == 1 and str(tmp_path / "c") in elsewhere[0] and "data folder" not in elsewhere[0]


def test_split_is_seeded(flat):
    a, b, c = (load_data(config(flat), seed=k) for k in (0, 0, 1))
    assert a.val.paths == b.val.paths and a.fingerprint == b.fingerprint
    assert a.val.paths != c.val.paths and a.fingerprint != c.fingerprint


def test_split_folders_are_used_as_given(tmp_path):
    root = tmp_path / "r"
    make_images(root / "train" / "a", 5)
    make_images(root / "train" / "b", 5, start=100)
    make_images(root / "val" / "a", 2, start=20)
    make_images(root / "test" / "b", 3, start=200)
    s = load_data(config(root), seed=0)
    assert s.classes == ["a", "b"]
    assert (
        len(s.train) == 10
        and s.val.y.tolist() == [0, 0]
        and s.test.y.tolist() == [1, 1, 1]
    )
    assert all("/val/" in p for p in s.val.paths) and all(
        "/test/" in p for p in s.test.paths
    )
    for split in (s.train, s.val, s.test):
        check_pixels_follow_paths(split)


def test_missing_val_and_test_folders_are_split_off_train(tmp_path):
    root = tmp_path / "r"
    make_images(root / "train" / "a", 10)
    make_images(root / "train" / "b", 10, start=100)
    s = load_data(config(root, val_fraction=0.2, test_fraction=0.1), seed=0)
    assert torch.bincount(s.val.y).tolist() == [2, 2] and torch.bincount(
        s.test.y
    ).tolist() == [1, 1]
    assert len(s.train) == 14 and all("/train/" in p for p in s.test.paths)
    make_images(root / "val" / "a", 3, start=30)  # now only test is carved out of train
    s = load_data(config(root, val_fraction=0.2, test_fraction=0.0), seed=0)
    assert len(s.val) == 3 and len(s.test) == 0 and len(s.train) == 20
    assert s.test.x.shape == (0, 1, 8, 8)


def test_cache_is_reused_without_decoding(flat, monkeypatch):
    first = load_data(config(flat), seed=0)

    def no_decoding(*args, **kwargs):
        raise AssertionError("an image was decoded although the cache is valid")

    monkeypatch.setattr(Image, "open", no_decoding)
    again = load_data(config(flat), seed=0)
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(first, part).x, getattr(again, part).x)
        assert getattr(first, part).paths == getattr(again, part).paths
    # the splits are slices of one memory map, not copies
    ptr = again.train.x.untyped_storage().data_ptr()
    assert (
        again.val.x.untyped_storage().data_ptr()
        == ptr
        == again.test.x.untyped_storage().data_ptr()
    )
    cache = os.listdir(flat / ".cnntrain-cache")
    assert sorted(f.rsplit(".", 1)[1] for f in cache) == [
        "json",
        "npy",
    ]  # no temp files left


def test_other_seed_reuses_decoded_pixels(flat, monkeypatch):
    load_data(config(flat), seed=0)
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("decoded"))
    # new split order, pixels copied from the old cache
    s = load_data(config(flat), seed=1)
    monkeypatch.undo()
    check_pixels_follow_paths(s.train)


def test_changed_file_rebuilds_the_cache_and_decodes_only_it(flat, monkeypatch):
    load_data(config(flat), seed=0)
    target = flat / "dog" / "img003.png"
    Image.new("L", (8, 8), 222).save(target)
    # a different mtime even on coarse clocks
    os.utime(target, ns=(1, 1_000_000_000_000))
    calls = []
    real = decode.decode
    monkeypatch.setattr(
        decode, "decode", lambda path, *a: calls.append(path) or real(path, *a)
    )
    s = load_data(config(flat), seed=0)
    assert calls == [str(target)]
    every = {
        p: x for split in (s.train, s.val, s.test) for p, x in zip(split.paths, split.x)
    }
    assert int(every[str(target)][0, 0, 0]) == 222
    # the superseded cache is gone
    assert len(os.listdir(flat / ".cnntrain-cache")) == 2


def test_cache_dir_option_and_preprocessing_in_the_key(flat, tmp_path):
    cache = tmp_path / "elsewhere"
    s8 = load_data(config(flat, cache_dir=str(cache)), seed=0)
    s4 = load_data(config(flat, cache_dir=str(cache), image_size=4, channels=3), seed=0)
    assert s8.input_shape == (1, 8, 8) and s4.input_shape == (3, 4, 4)
    assert not (flat / ".cnntrain-cache").exists()
    # one cache per preprocessing, they do not evict each other
    assert len(os.listdir(cache)) == 4


def test_a_crash_while_decoding_leaves_no_cache(flat, monkeypatch):
    calls = []
    real = decode.decode

    def crash_on_third(path, *a):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, *a)

    monkeypatch.setattr(decode, "decode", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        load_data(config(flat), seed=0)
    assert os.listdir(flat / ".cnntrain-cache") == []
    monkeypatch.setattr(decode, "decode", real)
    assert len(load_data(config(flat), seed=0).train) == 42


@pytest.fixture
def with_corrupt(flat):
    bad = flat / "dog" / "broken.png"
    good = (flat / "dog" / "img000.png").read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # truncated PNG
    (flat / "eel" / "notes.png").write_text("not an image")
    return flat


def test_corrupt_file_is_an_error_naming_it(with_corrupt):
    with pytest.raises(
        DataError, match=r"dog/broken\.png is not a readable image.*on_corrupt=skip"
    ):
        load_data(config(with_corrupt), seed=0)


def test_corrupt_files_can_be_skipped_with_warnings(with_corrupt, monkeypatch):
    s = load_data(config(with_corrupt, on_corrupt="skip"), seed=0)
    assert len(s.warnings) == 2
    assert any("dog/broken.png" in w for w in s.warnings) and any(
        "eel/notes.png" in w for w in s.warnings
    )
    every = s.train.paths + s.val.paths + s.test.paths
    assert len(every) == 60 and not any("broken" in p or "notes" in p for p in every)
    for split in (s.train, s.val, s.test):
        check_pixels_follow_paths(split)
    # The cache remembers what was skipped: the same warnings, and the error, without
    # decoding.
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("decoded"))
    assert (
        load_data(config(with_corrupt, on_corrupt="skip"), seed=0).warnings
        == s.warnings
    )
    with pytest.raises(DataError, match="broken.png"):
        load_data(config(with_corrupt), seed=0)


def test_missing_root(tmp_path):
    with pytest.raises(
        DataError, match=r"nowhere does not exist.*one folder per class"
    ):
        load_data(config(tmp_path / "nowhere"), seed=0)


def test_images_without_class_folders(tmp_path):
    make_images(tmp_path / "r", 3)
    with pytest.raises(DataError, match="no class folders.*3 images directly"):
        load_data(config(tmp_path / "r"), seed=0)


def test_empty_class_folder_is_named(flat):
    os.makedirs(flat / "fox")
    (flat / "fox" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder .*fox has no images"):
        load_data(config(flat), seed=0)


def test_val_folder_with_unknown_class(tmp_path):
    make_images(tmp_path / "r" / "train" / "a", 3)
    make_images(tmp_path / "r" / "val" / "zebra", 1)
    with pytest.raises(DataError, match="zebra is not a class"):
        load_data(config(tmp_path / "r"), seed=0)


def test_val_folder_without_train(tmp_path):
    make_images(tmp_path / "r" / "val" / "a", 3)
    with pytest.raises(DataError, match="train does not"):
        load_data(config(tmp_path / "r"), seed=0)


def test_num_classes_must_match_the_folders(flat):
    with pytest.raises(DataError, match="num_classes is 5 but .* has 3 classes"):
        load_data(config(flat, num_classes=5), seed=0)


def test_image_size_must_be_2d(flat):
    with pytest.raises(DataError, match=r"\[H, W\]"):
        load_data(config(flat, image_size=[8, 8, 8]), seed=0)


def test_native_size_when_image_size_is_null(tmp_path):
    make_images(tmp_path / "r" / "a", 4, size=(6, 5))
    make_images(tmp_path / "r" / "b", 4, size=(6, 5))
    s = load_data(config(tmp_path / "r", image_size=None), seed=0)
    assert s.input_shape == (1, 5, 6)  # PIL sizes are (W, H)
    Image.new("L", (7, 7)).save(tmp_path / "r" / "b" / "odd.png")
    with pytest.raises(
        DataError,
        match="odd.png is 7x7 while earlier ones are 6x5; set data.image_size",
    ):
        load_data(config(tmp_path / "r", image_size=None), seed=0)


# above the limit (PIL warns) and above twice it (PIL raises)
@pytest.mark.parametrize("side", [11, 30])
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, side):
    make_images(tmp_path / "r" / "a", 2)
    Image.new("L", (side, side)).save(tmp_path / "r" / "a" / "bomb.png")
    monkeypatch.setattr(decode, "MAX_IMAGE_PIXELS", 100)
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(DataError, match=r"bomb\.png is larger than cnntrain's limit"):
        load_data(config(tmp_path / "r", on_corrupt="skip"), seed=0)
    assert Image.MAX_IMAGE_PIXELS == before


def _save(img, path):
    img.save(path)
    return path


def test_pixel_modes_are_converted(tmp_path):
    root = tmp_path / "r"
    os.makedirs(root / "m")
    deep = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))  # 16-bit gray
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 1 is red
    clear = Image.new("RGBA", (8, 8), (255, 255, 255, 0))  # fully transparent white
    files = {
        "a_16bit.png": deep,
        "b_palette.png": palette,
        "c_rgba.png": clear,
        "d_la.png": Image.new("LA", (8, 8), (200, 255)),
        "e_bilevel.png": Image.new("1", (8, 8), 1),
        "f_cmyk.jpg": Image.new("CMYK", (8, 8), (0, 0, 0, 0)),  # white
    }
    for name, img in files.items():
        _save(img, root / "m" / name)
    gray = load_data(config(root, val_fraction=0.0, test_fraction=0.0), seed=0)
    rgb = load_data(
        config(root, val_fraction=0.0, test_fraction=0.0, channels=3), seed=0
    )
    got = {os.path.basename(p): x for p, x in zip(gray.train.paths, gray.train.x)}
    got_rgb = {os.path.basename(p): x for p, x in zip(rgb.train.paths, rgb.train.x)}
    assert int(got["a_16bit.png"].min()) == 255  # scaled, not clipped or wrapped
    assert got_rgb["b_palette.png"][:, 0, 0].tolist() == [255, 0, 0]
    assert int(got["c_rgba.png"].max()) == 0  # transparent over black
    assert int(got["d_la.png"][0, 0, 0]) == 200
    assert int(got["e_bilevel.png"].min()) == 255
    assert int(got_rgb["f_cmyk.jpg"].min()) > 240
    assert rgb.train.x.shape == (6, 3, 8, 8)


@pytest.mark.parametrize("damage", ["json", "npy"])
def test_a_damaged_cache_is_rebuilt(flat, damage):
    # A copy: damaging the file in place also changes what is mapped from it (cnntrain
    # itself never rewrites a cache file, it replaces it with a new one).
    expected = load_data(config(flat), seed=0).train.x.clone()
    cache = flat / ".cnntrain-cache"
    (target,) = [p for p in cache.iterdir() if p.suffix == f".{damage}"]
    target.write_bytes(target.read_bytes()[:50])  # truncated, as by a full disk
    again = load_data(config(flat), seed=0)
    assert torch.equal(again.train.x, expected)
