"""Shared fixtures: writing small configs, the shipped configs, and a real forward pass to check against."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.fixture
def write_config(tmp_path):
    """write_config(text, name="c.yaml") -> path of a YAML file holding the dedented text."""

    def write(text: str, name: str = "c.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(write_config):
    """load(text, *overrides) -> the resolved Config of a YAML text."""
    from cnntrain.config import load_config

    def load_text(text: str, *overrides: str):
        return load_config(write_config(text), list(overrides))

    return load_text


@pytest.fixture
def summary_of(load):
    """summary_of(text, *overrides) -> the summary_dict of a YAML text (as `summary --json` prints it)."""
    from cnntrain.summary import summarize, summary_dict

    def summarize_text(text: str, *overrides: str) -> dict:
        return summary_dict(summarize(load(text, *overrides)))

    return summarize_text


def forward_shapes(model, input_shape, batch: int = 2) -> tuple[list, list]:
    """Per-sample output shape of each top-level module and of the model, from a real forward pass."""
    import torch

    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(list(out.shape[1:])))
             for m in model.children()]
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.randn(batch, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return shapes, list(out.shape[1:])


@pytest.fixture
def real_forward():
    return forward_shapes


# --- training: a model and data small enough that an epoch takes a fraction of a second ---------

TINY_TRAIN = """
name: tiny
data: {dataset: shapes, channels: 1, image_size: 16, train_size: 256, val_size: 128, test_size: 64}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 8, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: 2
    - conv2d: {name: conv2, out_channels: 8, kernel_size: 3, padding: 1}
    - relu
    - adaptivemaxpool2d: 1
    - flatten
    - linear: {name: output, out_features: num_classes}
train: {epochs: 2, batch_size: 32, lr: 0.01, device: cpu, featuremap_every: 0}
"""


@pytest.fixture(scope="session")
def tiny_yaml() -> str:
    """TINY_TRAIN's text, for module-scoped fixtures that write it themselves."""
    return textwrap.dedent(TINY_TRAIN).lstrip("\n")


@pytest.fixture
def tiny_config(write_config):
    """Path of TINY_TRAIN: a two-layer CNN on 256 16x16 shapes, two epochs, on the CPU."""
    return write_config(TINY_TRAIN, "tiny.yaml")


@pytest.fixture
def cli(capsys, monkeypatch):
    """cli(*args) -> (exit status, stdout, stderr) of `cnntrain ARGS` run in this process, as main() runs it."""
    import sys

    def run(*args) -> tuple[int, str, str]:
        from cnntrain.cli import main

        monkeypatch.setattr(sys, "argv", ["cnntrain", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def same_weights():
    """same_weights(a, b): two model state dicts hold the same keys and torch.equal tensors."""
    import torch

    def equal(a: dict, b: dict) -> bool:
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    return equal


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One TINY_TRAIN run (one epoch), trained once per test session and shared by the evaluate,
    predict and featuremaps tests: its TrainResult (run_dir, summary). Treat it as read-only."""
    from cnntrain.train import train

    folder = tmp_path_factory.mktemp("trained_run")
    config = folder / "tiny.yaml"
    config.write_text(TINY_TRAIN.lstrip("\n"), encoding="utf-8")
    return train(config, overrides=["train.epochs=1"], out=folder / "run")


@pytest.fixture(scope="module")
def one_thread():
    """Train on one CPU thread: on a machine whose cores other processes share, two OpenMP threads wait
    on each other at every op and tiny models train ten times slower (or worse)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
