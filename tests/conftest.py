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
