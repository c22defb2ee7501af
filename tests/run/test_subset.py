"""The data a run trains on to prove a point: `train.overfit_batches` proves a model can fit a few batches;
`--fast-dev-run` runs everything on one batch and keeps nothing."""

from __future__ import annotations

import tempfile
from dataclasses import replace

import torch

from cnntrain.atomic import read_jsonl
from cnntrain.config import TrainSettings
from cnntrain.data.splits import Split, Splits
from cnntrain.run.subset import limit_splits


def splits(n: int = 100) -> Splits:
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1)
    split = Split(x, torch.arange(n) % 3)
    return Splits(split, Split(x[:10], split.y[:10]), Split(x[:20], split.y[:20]), ["a", "b", "c"], "f")


def test_overfit_batches_keeps_the_same_images_for_training_and_validation():
    train = TrainSettings(batch_size=8, overfit_batches=2, seed=3)
    limited = limit_splits(splits(), train)
    assert len(limited.train) == 16 and torch.equal(limited.val.x, limited.train.x)
    assert len(limited.test) == 20  # the test split stays honest
    assert torch.equal(limit_splits(splits(), train).train.x, limited.train.x)  # the same batches every time
    assert sorted(limited.train.x.flatten().tolist()) != list(range(16))  # a seeded draw, not the first images
    assert limit_splits(splits(), replace(train, overfit_batches=0)).train.x.shape[0] == 100


def test_a_tiny_model_fits_its_overfit_batches(tmp_path, cli, tiny_config):
    code, _, err = cli("train", "--config", tiny_config, "--out", tmp_path / "run", "--quiet",
                       "--set", "train.overfit_batches=1", "--set", "train.batch_size=16",
                       "--set", "train.epochs=30", "--set", "train.lr=0.03")
    assert code == 0, err
    last = read_jsonl(tmp_path / "run" / "metrics.jsonl")[-1]
    assert last["train_acc"] >= 0.99 and last["val_acc"] == 1.0, last


def test_fast_dev_run_goes_through_everything_and_keeps_nothing(tmp_path, cli, tiny_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code, out, err = cli("train", "--config", tiny_config, "--fast-dev-run", "--set", "train.featuremap_every=1")
    assert code == 0, err
    assert "fast dev run passed" in out and "checkpoints/best.pt" in out and "events.out.tfevents" in out
    assert "epoch 1/1" in out  # one epoch of one batch, whatever train.epochs says
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml", "tmp"]  # no runs/
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporary run directory is gone


def test_fast_dev_run_fails_as_the_real_run_would(tmp_path, cli, tiny_config):
    code, _, err = cli("train", "--config", tiny_config, "--fast-dev-run", "--set", "data.dataset=imagefolder",
                       "--set", f"data.root={tmp_path / 'missing'}")
    assert code == 2 and "missing" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = cli("train", "--config", tiny_config, "--fast-dev-run", "--out", tmp_path / "x")
    assert code == 2 and "keeps nothing" in err
