"""`cnntrain lr-find`: the range test's curve, its suggestion, and what it writes (and does not)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from cnntrain.tasks.lr_find import RULE, diverged, smooth, suggest


def test_the_suggestion_is_where_a_known_curve_falls_fastest():
    lrs = np.geomspace(1e-7, 10, 100)
    # Flat, then a drop centred on 1e-3 (steepest there), a floor, and a blow-up past 1e-1.
    loss = 2.0 - 1.5 / (1 + np.exp(-3 * (np.log10(lrs) + 3))) + np.where(lrs > 0.1, (lrs / 0.1) ** 2, 0)
    suggestion = suggest(lrs.tolist(), smooth(loss.tolist()))
    assert 1e-3 / 3 < suggestion < 1e-3 * 3


def test_no_suggestion_when_the_loss_never_falls():
    lrs = np.geomspace(1e-7, 10, 50).tolist()
    assert suggest(lrs, smooth([2.0 + 0.01 * i for i in range(50)])) is None


def test_smoothing_and_divergence():
    assert np.allclose(smooth([3.0] * 5), 3.0)  # bias-corrected: no pull towards zero at the start
    assert not diverged(smooth([2.0, 1.9, 1.8, 1.7, 1.6, 1.5]))
    assert diverged(smooth([2.0, 1.9, 1.8, 1.7, 1.6, 1.5] + [50.0] * 3))
    assert diverged([1.0, float("nan")])


def test_lr_find_writes_the_curve_and_leaves_the_config_alone(tmp_path, cli, tiny_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = tiny_config.read_bytes()
    code, out, err = cli("lr-find", "--config", tiny_config, "--end-lr", "1000", "--quiet",
                         "--set", "train.batch_size=32")
    assert code == 0, err
    folder = tmp_path / "runs" / "lr-find" / "1"
    record = json.loads((folder / "lr_find.json").read_text())
    assert {"lrs", "losses", "suggestion"} <= record.keys() and record["rule"] == RULE
    assert record["stopped"] == "diverged" and len(record["lrs"]) < 100  # Adam at 1000 blows up
    assert record["lrs"][0] == 1e-7 and record["lrs"] == sorted(record["lrs"])
    assert record["lrs"][0] < record["suggestion"] < record["lrs"][-1]
    assert f"--set train.batch_size=32 --set train.lr={record['suggestion']:.2g}" in out and RULE in out
    assert Image.open(folder / "lr_find.png").size[0] > 400
    assert tiny_config.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["lr_find.json", "lr_find.png"]  # no checkpoint


def test_lr_find_refuses_an_empty_range(tiny_config, cli):
    code, _, err = cli("lr-find", "--config", tiny_config, "--start-lr", "1", "--end-lr", "0.1")
    assert code == 2 and "start_lr < end_lr" in err


def test_lr_find_gives_the_process_its_thread_count_back(tiny_config, tmp_path):
    """As train does: a run fixes its own count (train.threads), a library call leaves the process as found."""
    import torch

    from cnntrain.tasks.lr_find import lr_find

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        lr_find(tiny_config, overrides=["train.threads=1"], steps=5, out=tmp_path / "lr")
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
