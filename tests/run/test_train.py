"""`cnntrain train` end to end: the run directory, reproducibility, the options, and the user's mistakes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from cnntrain.config.keys import DEFAULTS
from cnntrain.errors import CnntrainError
from cnntrain.run.train import train
from conftest import ROOT

METRIC_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "epoch_seconds"}

pytestmark = pytest.mark.usefixtures("one_thread")


def last_weights(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_yaml, one_thread):
    """A finished two-epoch run of the tiny config, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("finished")
    config = root / "tiny.yaml"
    config.write_text(tiny_yaml)
    return train(config, out=root / "run")


@pytest.fixture(autouse=True)
def _process_switches():
    """train.deterministic flips a process-wide switch: leave it as other tests expect it."""
    yield
    torch.use_deterministic_algorithms(False)


# --- the run directory ----------------------------------------------------------------------------


def test_run_directory_holds_every_file(finished):
    run = finished.run_dir
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*")), "TensorBoard events belong in the run directory itself"
    assert not [p for p in run.iterdir() if p.is_dir() and p.name != "checkpoints"]


def test_metrics_hold_one_record_per_epoch(finished):
    records = metrics(finished.run_dir)
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert set(record) == METRIC_KEYS
        assert all(math.isfinite(record[k]) for k in METRIC_KEYS)
        assert 0 <= record["val_acc"] <= 1 and record["lr"] == pytest.approx(0.01)


def test_checkpoints_are_plain_data_that_rebuild_the_model(finished):
    from cnntrain.config.loader import config_from_dict
    from cnntrain.model.builder import build_model

    for name in ("last.pt", "best.pt"):
        state = torch.load(finished.run_dir / "checkpoints" / name, weights_only=True)
        for key in ("model", "optimizer", "scheduler", "epoch", "config", "classes", "normalization", "rng", "best"):
            assert key in state, (name, key)
        assert state["classes"] == ["circle", "square", "triangle", "cross", "ring", "star"]
        assert state["normalization"]["unit"] == 255.0  # uint8 pixels; mean and std on the 0-1 scale
        assert set(state["normalization"]) == {"mean", "std", "unit"}
        assert state["best"]["metric"] == "val_acc"
        model = build_model(config_from_dict(state["config"])).model
        model.load_state_dict(state["model"])  # strict: every key fits
    assert torch.load(finished.run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2


def test_summary_has_best_final_and_provenance(finished):
    summary = json.loads((finished.run_dir / "summary.json").read_text())
    assert summary["best"]["metric"] == "val_acc" and 1 <= summary["best"]["epoch"] <= 2
    assert summary["final"]["epoch"] == 2 and summary["epochs"] == 2
    assert summary["device"] == "cpu" and summary["world_size"] == 1 and summary["seed"] == 0
    assert summary["seconds"] > 0 and len(summary["data_fingerprint"]) == 16
    assert {"cnntrain", "torch", "torchvision", "python"} <= set(summary["versions"])
    assert summary == finished.summary


def test_config_yaml_is_resolved_and_reruns_to_the_same_weights(finished, tmp_path, same_weights):
    written = yaml.safe_load((finished.run_dir / "config.yaml").read_text())
    for section, defaults in DEFAULTS.items():
        assert set(written[section]) == set(defaults), section
    assert written["data"]["num_classes"] == 6  # taken from the data and written down
    rerun = train(finished.run_dir / "config.yaml", out=tmp_path / "rerun")
    assert same_weights(last_weights(finished.run_dir), last_weights(rerun.run_dir))
    assert rerun.summary["data_fingerprint"] == finished.summary["data_fingerprint"]


def test_another_seed_gives_other_weights(finished, tmp_path, same_weights):
    """The counterpart of the rerun test: equal weights there are the seed's doing, not an accident."""
    other = train(finished.run_dir / "config.yaml", overrides=["train.seed=1"], out=tmp_path / "seed1")
    assert not same_weights(last_weights(finished.run_dir), last_weights(other.run_dir))


def test_out_refuses_a_directory_that_holds_a_run(finished):
    with pytest.raises(CnntrainError, match="already holds a run; continue it with --resume"):
        train(finished.run_dir / "config.yaml", out=finished.run_dir)


# --- the command line -----------------------------------------------------------------------------


def test_cli_prints_the_result_and_counts_run_directories_up(tiny_config, cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", "-c", tiny_config, "--set", "train.epochs=1")
    assert code == 0, err
    assert "run directory: runs/tiny/1" in out
    assert "best val_acc" in out and "done in" in out
    for command in ("cnntrain evaluate --checkpoint runs/tiny/1/checkpoints/best.pt",
                    "tensorboard --logdir runs/tiny/1", "cnntrain train --resume runs/tiny/1"):
        assert command in out
    code, out, _ = cli("train", "-c", tiny_config, "--set", "train.epochs=1", "--quiet")
    assert code == 0 and "run directory: runs/tiny/2" in out
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == ["1", "2"]


@pytest.mark.parametrize("args,message", [
    ([], "give a config (--config)"),
    (["--resume", "RUN", "--out", "elsewhere"], "drop --out"),
    (["-c", "CONFIG", "--resume", "RUN"], "not both"),
])
def test_cli_argument_mistakes(args, message, finished, tiny_config, cli):
    args = [str(finished.run_dir) if a == "RUN" else str(tiny_config) if a == "CONFIG" else a for a in args]
    code, _, err = cli("train", *args)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device,message", [
    ("cuda", "has no usable CUDA GPU"), ("cuda:1", "has no usable CUDA GPU"), ("tpu", "is not a device"),
    ("xla", "is not supported"),
])
def test_an_unusable_device_is_an_error_before_any_data_loads(device, message, tiny_config, cli, monkeypatch,
                                                              tmp_path):
    def no_data(*args, **kwargs):
        raise AssertionError("data loaded before the device was checked")

    monkeypatch.setattr("cnntrain.run.session.load_data", no_data)
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("train", "-c", tiny_config, "--set", f"train.device={device}")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_data_that_does_not_fit_the_config(tiny_config, cli, tmp_path):
    code, _, err = cli("train", "-c", tiny_config, "--set", "data.dataset=signals", "--out", tmp_path / "r")
    assert code == 2
    assert "the data gives samples of 1x16 but the config says 1x16x16" in err


@pytest.mark.parametrize("overrides,good_epoch", [
    (["train.lr=1.0e+10"], 0),  # diverges in epoch 1: the checkpoint written before training is kept
    (["train.scheduler=step", "train.gamma=1.0e+12", "train.epochs=3"], 1),  # lr 0.01, then 1e10 in epoch 2
])
def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(overrides, good_epoch, tiny_config, cli, tmp_path):
    sets = [a for o in ["train.optimizer=sgd", *overrides] for a in ("--set", o)]
    code, _, err = cli("train", "-c", tiny_config, *sets, "--out", tmp_path / "r", "--quiet")
    assert code == 2 and "Traceback" not in err
    assert "became nan" in err or "became inf" in err
    assert f"holds epoch {good_epoch}, the last good one" in err
    state = torch.load(tmp_path / "r" / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == good_epoch
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    logged = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines() if good_epoch else []
    assert len(logged) == good_epoch


# --- the options ----------------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_epochs_without_improvement(tiny_config, tmp_path):
    """lr 0: the val loss never improves after epoch 1, so patience 2 stops after epoch 3 of 6."""
    result = train(tiny_config, overrides=["train.lr=0.0", "train.epochs=6", "train.early_stopping=2",
                                           "train.monitor=val_loss"], out=tmp_path / "r")
    assert result.stopped_early
    assert [r["epoch"] for r in metrics(result.run_dir)] == [1, 2, 3]
    assert result.summary["best"] == {"metric": "val_loss", "value": result.summary["best"]["value"], "epoch": 1}
    with pytest.raises(CnntrainError, match="stopped early at epoch 3 .* raise --set train.early_stopping above 2"):
        train(resume=result.run_dir)
    more_patience = train(resume=result.run_dir, overrides=["train.early_stopping=3"])
    assert more_patience.stopped_early and [r["epoch"] for r in metrics(result.run_dir)] == [1, 2, 3, 4]


def test_metrics_record_the_rate_each_epoch_trained_at(tiny_config, tmp_path):
    """A step schedule halves the rate after each epoch: epoch 1 trained at 0.01, epoch 2 at 0.005."""
    result = train(tiny_config, overrides=["train.scheduler=step", "train.gamma=0.5"], out=tmp_path / "r")
    assert [r["lr"] for r in metrics(result.run_dir)] == pytest.approx([0.01, 0.005])


@pytest.mark.parametrize("overrides", [
    ["train.precision=bf16"],
    ["train.channels_last=true"],
    ["train.deterministic=true"],
    ["train.label_smoothing=0.1", "train.grad_clip=0.5"],
    ["data.augment={shift: 2, flip: true, rotation: 10}"],
])
def test_options_train_one_epoch(overrides, tiny_config, tmp_path):
    result = train(tiny_config, overrides=["train.epochs=1", *overrides], out=tmp_path / "r")
    record = metrics(result.run_dir)[0]
    assert all(math.isfinite(record[k]) for k in METRIC_KEYS)
    if "train.channels_last=true" in overrides:
        weight = last_weights(result.run_dir)["conv2.weight"]  # (8, 8, 3, 3): conv1's one channel is ambiguous
        assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_learns_shapes_to_high_accuracy(tmp_path):
    """configs/cnn.yaml at 32x32: a one-cycle schedule gets 1500 images to >= 90% in three epochs."""
    result = train(ROOT / "configs" / "cnn.yaml", out=tmp_path / "r", overrides=[
        "data.image_size=32", "data.train_size=1500", "data.val_size=300", "data.test_size=100",
        "train.epochs=3", "train.batch_size=32", "train.scheduler=onecycle", "train.lr=0.02",
        "train.featuremap_every=0", "train.device=cpu",
    ])
    assert result.summary["best"]["value"] >= 0.9
    assert result.summary["test"]["acc"] >= 0.85


def test_training_leaves_denormal_floats_as_it_found_them(tmp_path, tiny_config):
    """Flush-to-zero speeds up CPU training but is process-wide: a library call must switch it off again."""
    import torch

    from cnntrain.run.train import train

    train(tiny_config, overrides=["train.epochs=1", "train.featuremap_every=0"], out=tmp_path / "run")
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a subnormal float32
    assert (tiny * 1.0).item() != 0.0
