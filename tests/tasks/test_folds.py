"""Stratified K-fold cross-validation: the folds (data/crossval.py) and `cnntrain train --folds K` (tasks/folds.py)."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from cnntrain.data.crossval import held_out


def test_every_sample_is_held_out_once_and_classes_are_shared_evenly():
    labels = torch.tensor([0] * 10 + [1] * 7 + [2] * 4)
    folds = held_out(labels, 3, seed=5)
    together = torch.cat(folds)
    assert sorted(together.tolist()) == list(range(len(labels)))  # a partition
    for k in range(3):
        counts = [int((labels[f] == k).sum()) for f in folds]
        assert max(counts) - min(counts) <= 1, counts  # stratified
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert all(torch.equal(a, b) for a, b in zip(folds, held_out(labels, 3, seed=5)))  # seeded
    assert not all(torch.equal(a, b) for a, b in zip(folds, held_out(labels, 3, seed=6)))


@pytest.mark.parametrize("folds, message", [("1", "at least 2 folds"), ("90", "more than the")])
def test_bad_fold_counts_are_one_line(cli, tiny_config, tmp_path, folds, message):
    code, out, err = cli("train", "--config", tiny_config, "--folds", folds, "--out", tmp_path / "cv")
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cv" / "fold_0").exists()


def test_train_folds_writes_k_runs_and_their_mean(cli, tiny_config, tmp_path, one_thread):
    from cnntrain.config import load_config
    from cnntrain.data import load_data
    from cnntrain.data.crossval import pool
    from cnntrain.run.rundir import RunDir
    from cnntrain.tasks.folds import best_value, fold_indices

    out = tmp_path / "cv"
    code, text, err = cli("train", "--config", tiny_config, "--folds", "2", "--out", out, "--quiet",
                          "--set", "train.epochs=1")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    values = [best_value(RunDir(out / f"fold_{i}").read_metrics(), "val_acc") for i in range(2)]
    assert summary["folds"] == values and summary["runs"] == ["fold_0", "fold_1"]
    assert summary["mean"] == pytest.approx(statistics.fmean(values))
    assert summary["std"] == pytest.approx(statistics.stdev(values))
    assert "±" in text and (out / "folds.html").is_file()
    # Fold 1 validates on exactly its held-out samples of train+val, and trains on the rest; test untouched.
    config = load_config(tiny_config, ["train.epochs=1"])
    everything = pool(load_data(config.data, config.train.seed))
    held = fold_indices(config, 2)[1]
    fold = load_data(load_config(out / "fold_1" / "config.yaml").data, config.train.seed)
    assert torch.equal(fold.val.x, everything.x[held]) and torch.equal(fold.val.y, everything.y[held])
    assert len(fold.train) + len(fold.val) == len(everything)
    assert torch.equal(fold.test.x, load_data(config.data, config.train.seed).test.x)
    # the same command again keeps the finished folds
    before = (out / "fold_0" / "checkpoints" / "last.pt").stat().st_mtime_ns
    assert cli("train", "--config", tiny_config, "--folds", "2", "--out", out, "--quiet",
               "--set", "train.epochs=1")[0] == 0
    assert (out / "fold_0" / "checkpoints" / "last.pt").stat().st_mtime_ns == before


def test_folds_page_in_chromium(page, tmp_path):
    from cnntrain.viz.page import write_page

    path = write_page(tmp_path / "folds.html", "folds.html", data={
        "metric": "val_acc", "mean": 0.5, "std": 0.1, "k": 2, "folds": [0.4, 0.6], "runs": ["fold_0", "fold_1"],
        "held_out": [5, 5], "reports": {"fold_0": "fold_0/report.html"}, "out_dir": "<b>cv</b>"})
    page.open(path)
    driver = page.driver
    assert driver.find_element("id", "mean").text.endswith("50.00% ± 10.00%")
    assert driver.find_element("id", "where").text == "2 folds in <b>cv</b>"  # shown, not parsed
    rows = driver.find_elements("css selector", "#folds-table tr[data-fold]")
    assert [r.find_elements("css selector", "td")[1].text for r in rows] == ["40.00%", "60.00%"]
    assert rows[0].find_element("tag name", "a").get_attribute("href").endswith("fold_0/report.html")
    assert page.console_errors() == [] and page.network_urls() == []
