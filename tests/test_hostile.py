"""Hostile and broken input, through the command line: each is one clear line and exit status 2, and
nothing in it ever runs.

- a checkpoint carrying a pickle payload, refused by `evaluate`, `featuremaps` and `train --resume`
  (real subprocesses, as a user runs them);
- a config with a `!!python/...` tag;
- image folders: corrupt, truncated, empty, missing, odd pixel modes, decompression bombs;
- user errors versus bugs: a bug keeps its traceback.

The data package's own tests (tests/data/) cover these cases function by function; here they go
through `cnntrain train`, `cnntrain.cli.app.main` in this process (cheap) unless said otherwise.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from cnntrain.errors import CnntrainError, DataError
from conftest import ROOT

# A tiny model that accepts any 8x8 RGB input: a second of training, most of it start-up.
IMAGE_CONFIG = """\
name: folder
data: {dataset: imagefolder, channels: 3, image_size: 8, val_fraction: 0.2, test_fraction: 0.2}
model:
  layers:
    - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - flatten
    - linear: num_classes
train: {epochs: 1, batch_size: 8, featuremap_every: 0, device: cpu}
"""


def cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """Run `cnntrain ARGS` through cli.main() in this process: (exit status, stdout, stderr)."""
    from cnntrain.cli.app import main

    monkeypatch.setattr(sys, "argv", ["cnntrain", *args])
    try:
        main()
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, out: str, err: str, *fragments: str) -> str:
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --- checkpoints carrying code ----------------------------------------------------------------------


class Payload:
    """Unpickling this object calls open(marker, "w"): the marker file proves that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def hostile_run(tmp_path):
    """A run directory whose last.pt and best.pt look like checkpoints but carry a payload (--resume reads
    last.pt, the other commands best.pt)."""
    import torch

    marker = tmp_path / "pwned"
    run = tmp_path / "downloaded_run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"model": {}, "config": {"name": "x"}, "epoch": 1, "extra": Payload(marker)},
               run / "checkpoints" / "last.pt")
    shutil.copy(run / "checkpoints" / "last.pt", run / "checkpoints" / "best.pt")
    torch.load(run / "checkpoints" / "last.pt", weights_only=False)  # sanity: the payload does work...
    assert marker.exists()
    marker.unlink()  # ...so its absence below means cnntrain never ran it
    image = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(image)
    return run, marker, image


def _command_exists(name: str) -> bool:
    from cnntrain.cli.app import app

    return any((c.name or c.callback.__name__) == name for c in app.registered_commands)


@pytest.mark.parametrize("command", ["train", "evaluate", "featuremaps"])
def test_checkpoint_with_pickle_payload_is_refused_and_never_runs(hostile_run, command):
    if not _command_exists(command):
        pytest.skip(f"`cnntrain {command}` does not exist yet (not in `cnntrain --help`)")
    run, marker, image = hostile_run
    args = {"train": ["--resume", str(run)],
            "evaluate": ["--checkpoint", str(run / "checkpoints" / "last.pt")],
            "featuremaps": ["--checkpoint", str(run), "--image", str(image), "--out", str(run.parent / "maps")],
            }[command]
    result = subprocess.run([sys.executable, "-m", "cnntrain", command, *args], capture_output=True, text=True,
                            cwd=run.parent, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    read = "best.pt" if command == "featuremaps" else "last.pt"  # a run directory means best.pt but to --resume
    line = assert_one_error_line(result.returncode, result.stdout, result.stderr, read, "refused")
    assert "weights_only" in line or "code" in line
    assert not marker.exists(), "the checkpoint's pickle payload ran"


# --- configs carrying code --------------------------------------------------------------------------


def test_config_with_python_tag_is_refused_by_train(tmp_path, capsys, monkeypatch):
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text((ROOT / "configs" / "cnn.yaml").read_text()
                      + f"extra: !!python/object/apply:os.system ['touch {marker}']\n")
    code, out, err = cli(capsys, monkeypatch, "train", "--config", str(config), "--out", str(tmp_path / "run"))
    assert_one_error_line(code, out, err, "evil.yaml", "python/object/apply", "not allowed")
    assert not marker.exists() and not (tmp_path / "run").exists()


# --- image folders ----------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb(path, side: int = 10_000) -> None:
    """A valid 1-bit PNG of side x side pixels (100 megapixels) in a few kilobytes."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte, then the packed row
    pixels = zlib.compress(row * side, 9)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels)
                     + _png_chunk(b"IEND", b""))


def odd_mode_images(folder, shade: int) -> None:
    """One image of each awkward kind a photo folder holds, all decodable: cnntrain converts them."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), shade * 257, np.uint16)).save(folder / "deep16.png")  # 16-bit gray
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, shade, shade, 0] + [0] * 762)
    palette.save(folder / "palette.png", transparency=0)
    Image.new("CMYK", (8, 8), (shade, 0, 0, 0)).save(folder / "cmyk.jpg")
    Image.new("RGBA", (8, 8), (shade, shade, 0, 128)).save(folder / "rgba.png")
    Image.new("LA", (8, 8), (shade, 200)).save(folder / "gray_alpha.png")
    Image.new("1", (8, 8), 1).save(folder / "bilevel.bmp")
    for i in range(4):
        Image.new("RGB", (12, 10), (shade, i * 40, 0)).save(folder / f"plain{i}.jpg")


@pytest.fixture
def image_config(tmp_path):
    config = tmp_path / "folder.yaml"
    config.write_text(IMAGE_CONFIG)
    return config


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    odd_mode_images(root / "cats", 60)
    odd_mode_images(root / "dogs", 180)
    return root


def train_on(capsys, monkeypatch, config, root, *extra):
    return cli(capsys, monkeypatch, "train", "--config", str(config), "--set", f"data.root={root}",
               "--out", str(root.parent / "run"), "--quiet", *extra)


def test_odd_pixel_modes_train_and_a_skipped_corrupt_file_is_named(capsys, monkeypatch, image_config, folder):
    (folder / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    code, out, err = train_on(capsys, monkeypatch, image_config, folder, "--set", "data.on_corrupt=skip")
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(folder / "dogs" / "broken.png") in warning[0], err  # even with --quiet
    assert "Traceback" not in err and "run directory:" in out


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_image_is_an_error_naming_it(capsys, monkeypatch, image_config, folder, damage):
    bad = folder / "cats" / "plain2.jpg"
    data = bad.read_bytes()
    bad.write_bytes(b"definitely not a JPEG" if damage == "garbage" else data[: len(data) // 2])
    code, out, err = train_on(capsys, monkeypatch, image_config, folder)
    assert_one_error_line(code, out, err, str(bad), "on_corrupt")


def test_decompression_bomb_is_an_error_naming_it(capsys, monkeypatch, image_config, folder):
    write_bomb(folder / "dogs" / "bomb.png")
    code, out, err = train_on(capsys, monkeypatch, image_config, folder, "--set", "data.on_corrupt=skip")
    assert_one_error_line(code, out, err, str(folder / "dogs" / "bomb.png"), "pixels")


def test_empty_class_folder_is_named(capsys, monkeypatch, image_config, folder):
    (folder / "eels").mkdir()
    code, out, err = train_on(capsys, monkeypatch, image_config, folder)
    assert_one_error_line(code, out, err, str(folder / "eels"), "no images")


def test_missing_root_is_named(capsys, monkeypatch, image_config, tmp_path):
    code, out, err = train_on(capsys, monkeypatch, image_config, tmp_path / "nowhere")
    assert_one_error_line(code, out, err, str(tmp_path / "nowhere"), "does not exist")


def test_images_outside_class_folders(capsys, monkeypatch, image_config, tmp_path):
    root = tmp_path / "loose"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(root / "a.png")
    code, out, err = train_on(capsys, monkeypatch, image_config, root)
    assert_one_error_line(code, out, err, str(root), "class folders")


# --- user errors and bugs ---------------------------------------------------------------------------


def test_user_error_is_one_line_and_status_2(capsys, monkeypatch):
    import cnntrain.run.train

    def fail(*args, **kwargs):
        raise DataError("the data is [not] what you think: `x` [/x]")  # brackets must survive as text

    monkeypatch.setattr(cnntrain.run.train, "train", fail)
    code, out, err = cli(capsys, monkeypatch, "train", "--config", "any.yaml")
    assert assert_one_error_line(code, out, err) == "error: the data is [not] what you think: `x` [/x]"


def test_a_bug_keeps_its_traceback(capsys, monkeypatch):
    """Anything but a CnntrainError leaves cli.main() unchanged: Python prints its traceback."""
    import cnntrain.run.train

    bug = ZeroDivisionError("a bug in cnntrain")

    def crash(*args, **kwargs):
        raise bug

    monkeypatch.setattr(cnntrain.run.train, "train", crash)
    with pytest.raises(ZeroDivisionError) as caught:
        cli(capsys, monkeypatch, "train", "--config", "any.yaml")
    assert caught.value is bug and not issubclass(ZeroDivisionError, CnntrainError)
    assert "error:" not in capsys.readouterr().err  # not dressed up as a user mistake
