"""Checkpoints round-trip as plain data; anything else is refused clearly."""

import pathlib
import pickle
import random
from collections import OrderedDict

import numpy as np
import pytest
import torch

from cnntrain.errors import CheckpointError
from cnntrain.run.checkpoint import (
    load_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
)


class _Touch:
    """Unpickling this would create the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _training_state():
    """The kind of state a trainer really stores, optimizer and scheduler included."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 1, 5, 5)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "plateau": plateau.state_dict(),
        "config": {"model": {"layers": [{"type": "conv", "out": 2}]}, "lr": 1e-3},
        "epoch": 3,
        "best": None,
        "history": [{"epoch": 1, "loss": 0.5, "ok": True}],
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        "extras": (torch.Size([1, 28, 28]), torch.float32, torch.device("cpu"), b"raw"),
    }


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def test_round_trip(tmp_path):
    state = _training_state()
    path = save_checkpoint(state, tmp_path / "run" / "checkpoints" / "last.pt")
    assert path.is_file()
    loaded = load_checkpoint(path)
    _assert_same(state, loaded)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp files left


def test_run_dir_resolves_to_last(tmp_path):
    last = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint({"model": {}, "config": {"a": 1}}, last)
    assert resolve_checkpoint_path(tmp_path) == last
    assert resolve_checkpoint_path(last) == last
    assert load_checkpoint(tmp_path)["config"] == {"a": 1}


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint not found"):
        load_checkpoint(missing)


def test_directory_without_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match=r"directory but has no checkpoints/last"):
        load_checkpoint(tmp_path)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint at all\n" * 20)
    with pytest.raises(CheckpointError, match="garbage.pt: unreadable"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"\x80\x02}q\x00(X"])
def test_empty_or_cut_pickle(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)


def test_truncated_checkpoint(tmp_path):
    state = {"model": {"w": torch.randn(64, 64)}, "config": {}}
    path = save_checkpoint(state, tmp_path / "c.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="c.pt: unreadable.*interrupted"):
        load_checkpoint(path)


@pytest.mark.parametrize("writer", ["torch", "pickle", "pickle2"])
def test_hostile_checkpoint_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "MARKER"
    payload = {"model": _Touch(marker), "config": {}}
    path = tmp_path / "evil.pt"
    if writer == "torch":
        torch.save(payload, path)
    else:
        protocol = 2 if writer == "pickle2" else pickle.DEFAULT_PROTOCOL
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value) == (
        f"{path}: refused: it contains Python objects that could run code; "
        "cnntrain only loads plain checkpoints it wrote (weights_only=True)."
    )
    assert not marker.exists()
    # The payload is live: an unsafe load does run it (only touching a temp file).
    if writer == "torch":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize(
    "obj", [[1, 2, 3], torch.zeros(2), {"model": {}}, {"config": {}}]
)
def test_not_a_cnntrain_checkpoint(tmp_path, obj):
    path = tmp_path / "other.pt"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="other.pt: not a cnntrain checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "bad",
    [
        {"model": torch.nn.Linear(2, 2), "config": {}},  # a module, not its state_dict
        {"model": {}, "config": {}, "loss": np.float64(0.5)},  # float subclass
        {"model": {}, "config": {"path": pathlib.Path("x")}},
        {"model": {}, "config": {}, "rng": np.random.get_state()},
        {"model": {}, "config": {(1, 2): "tuple key"}},
        {"model": {}, "config": {"s": {1, 2}}},
    ],
)
def test_save_rejects_non_plain_state(tmp_path, bad):
    path = tmp_path / "x.pt"
    with pytest.raises(TypeError):
        save_checkpoint(bad, path)
    assert not path.exists()


def test_save_rejects_cycles_and_non_dicts(tmp_path):
    loop = {"model": {}, "config": {}}
    loop["config"]["self"] = loop
    with pytest.raises(TypeError, match="nested"):
        save_checkpoint(loop, tmp_path / "x.pt")
    with pytest.raises(TypeError):
        save_checkpoint([1, 2], tmp_path / "x.pt")


def test_save_error_names_the_offending_entry(tmp_path):
    state = {"model": {}, "config": {}, "history": [{"loss": np.float32(1)}]}
    where = r"state\['history'\]\[0\]\['loss'\] is a numpy"
    with pytest.raises(TypeError, match=where):
        save_checkpoint(state, tmp_path / "x.pt")


def test_ordered_dict_state_dict_is_plain(tmp_path):
    state = {"model": OrderedDict(w=torch.ones(1)), "config": {}}
    loaded = load_checkpoint(save_checkpoint(state, tmp_path / "o.pt"))
    assert torch.equal(loaded["model"]["w"], torch.ones(1))
