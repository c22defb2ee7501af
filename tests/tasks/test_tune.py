"""`cnntrain tune`: the space checks, a study in this process (outputs and page), failed and pruned trials."""

from __future__ import annotations

import json

import pytest
import yaml

CONFIG = """
name: tiny
data: {dataset: shapes, channels: 1, image_size: 12, train_size: 64, val_size: 32, test_size: 16}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: 2
    - conv2d: {name: conv2, out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - adaptivemaxpool2d: 1
    - flatten
    - linear: {name: output, out_features: num_classes}
train: {epochs: 2, batch_size: 32, lr: 0.01, device: cpu, featuremap_every: 0}
"""
SPACE = """
train.lr: {float: [1e-3, 1e-1], log: true}
model.layers.conv1.out_channels: {int: [2, 6], step: 2}
train.optimizer: {choice: [adam, sgd]}
"""


@pytest.fixture
def files(tmp_path):
    config, space = tmp_path / "tiny.yaml", tmp_path / "space.yaml"
    config.write_text(CONFIG.lstrip(), encoding="utf-8")
    space.write_text(SPACE.lstrip(), encoding="utf-8")
    return config, space


BAD_SPACES = [
    ("train.lrr: {float: [0.001, 0.1]}", "unknown key `lrr` in `train`; did you mean `lr`?"),
    ("model.layers.conv9.out_channels: {int: [2, 4]}", "no layer is named `conv9`; did you mean"),
    ("model.layers.conv1.out_chanels: {int: [2, 4]}", "out_chanels"),
    ("train.lr: {float: [0.1, 0.001]}", "low > high"),
    ("train.lr: {float: [0, 0.1], log: true}", "needs a low above 0"),
    ("train.optimizer: {choice: []}", "the choice is empty"),
    ("train.lr: {flaot: [0.001, 0.1]}", "give one of"),
    ("train.lr: {float: [0.001, 0.1], lgo: true}", "did you mean `log`?"),
    ("train.optimizer: {choice: [adam, sgdd]}", "'sgdd' is not allowed; did you mean `sgd`?"),
    ("data.dataset: {choice: [shapes, shapez]}", "unknown data.dataset 'shapez'; did you mean `shapes`?"),
    ("train.epochs: {float: [1, 2]}", "train.epochs"),
]


@pytest.mark.parametrize("text, message", BAD_SPACES, ids=[m for _, m in BAD_SPACES])
def test_a_bad_space_is_one_line_before_any_trial(cli, files, tmp_path, text, message):
    config, space = files
    space.write_text(text + "\n", encoding="utf-8")
    code, _, err = cli("tune", "--config", config, "--space", space, "--out", tmp_path / "t")
    assert code == 2, err
    assert message in err and str(space) in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "t" / "trials").exists()


@pytest.mark.parametrize("args, message", [
    (["--folds", "1"], "at least 2 folds"),
    (["--folds", "40"], "more than the"),
    (["--storage", "postgresql://someone:secret@127.0.0.1:9/nowhere"], "cannot reach the database"),
    (["--storage", "sqlite:////nonexistent/folder/x.db"], "cannot reach the database"),
    (["--storage", "redis://localhost"], "not a database URL"),
])
def test_bad_options_are_one_line(cli, files, tmp_path, args, message):
    config, space = files
    code, _, err = cli("tune", "--config", config, "--space", space, "--out", tmp_path / "t", *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert "secret" not in err  # a password never reaches the terminal
    if "--storage" in args:
        assert args[1].split("://")[0] in err  # says which storage


def test_a_study_with_another_space_is_refused(cli, files, tmp_path):
    from optuna.pruners import NopPruner

    from cnntrain.tasks.tune_study import open_storage, open_study

    config, space = files
    open_study(open_storage(None, tmp_path / "t"), "tiny", {"train.lr": {"float": [0.01, 0.1]}}, "val_acc", NopPruner())
    code, _, err = cli("tune", "--config", config, "--space", space, "--out", tmp_path / "t")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "exists with another space" in err
    assert "train.lr: {'float': [0.01, 0.1]} there, {'float': [0.001, 0.1], 'log': True} here" in err
    assert "train.optimizer only here" in err


def test_a_tuner_opening_a_study_between_anothers_two_writes_goes_on(tmp_path, monkeypatch):
    """Two tuners started together (CI saw this): the second reads the study after the first's first write."""
    import optuna
    from optuna.pruners import NopPruner

    from cnntrain.tasks.tune_study import open_storage, open_study

    storage, space, seen = open_storage(None, tmp_path / "t"), {"train.lr": {"float": [0.01, 0.1]}}, []
    write = optuna.Study.set_user_attr

    def first_write_then_the_other_tuner_looks(study, key, value):
        write(study, key, value)
        if not seen:
            seen.append("looking")  # the other tuner's own writes go straight through
            seen[0] = open_study(storage, "tiny", space, "val_acc", NopPruner()).user_attrs

    monkeypatch.setattr(optuna.Study, "set_user_attr", first_write_then_the_other_tuner_looks)
    assert open_study(storage, "tiny", space, "val_acc", NopPruner()).user_attrs == {"metric": "val_acc",
                                                                                    "space": space}
    assert seen == [{"metric": "val_acc", "space": space}]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Three trials of the tiny space in this process, no pruning: (DIR, tune.json, terminal text)."""
    import os

    from typer.testing import CliRunner

    from cnntrain.cli.app import app

    folder = tmp_path_factory.mktemp("tune")
    (folder / "tiny.yaml").write_text(CONFIG.lstrip(), encoding="utf-8")
    (folder / "space.yaml").write_text(SPACE.lstrip(), encoding="utf-8")
    out = folder / "t"
    os.environ["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "1")
    args = ["tune", "--config", str(folder / "tiny.yaml"), "--space", str(folder / "space.yaml"), "--trials", "3",
            "--pruner", "none", "--out", str(out), "--set", "train.epochs=1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "tune.json").read_text()), result.output


def test_tune_json_and_best_yaml(study):
    from cnntrain.config import load_config

    out, document, text = study
    trials = document["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    for t in trials:
        assert t["state"] == "complete" and 0 <= t["value"] <= 1 and t["epochs"] == 1 and t["seconds"] > 0
        assert set(t["params"]) == {"train.lr", "model.layers.conv1.out_channels", "train.optimizer"}
        assert t["run"] == f"trials/{t['number']}"
        run = out / t["run"]
        assert (run / "report.html").is_file() and (run / "checkpoints" / "best.pt").is_file()
        assert list(run.glob("events.out.tfevents.*"))  # tensorboard --logdir DIR overlays every trial
        # the trial's value is its run's best val_acc
        assert json.loads((run / "summary.json").read_text())["best"]["value"] == t["value"]
        assert json.loads((run / "trial.json").read_text())["state"] == "complete"
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["optimizer"] == t["params"]["train.optimizer"]
    best = max(trials, key=lambda t: t["value"])
    assert document["best_value"] == best["value"] and document["best_trial"] == best["number"]
    assert document["best_params"] == best["params"]
    retrain = load_config(out / "best.yaml")
    assert retrain.train.lr == best["params"]["train.lr"]
    assert retrain.train.optimizer == best["params"]["train.optimizer"]
    assert retrain.model.layers[0]["conv2d"]["out_channels"] == best["params"]["model.layers.conv1.out_channels"]
    assert retrain.train.epochs == 1  # the --set too
    assert "best" in text and "best.yaml" in text


def test_the_same_command_adds_nothing_to_a_finished_study(study, cli):
    out, document, _ = study
    config = out.parent / "tiny.yaml"
    code, _, err = cli("tune", "--config", config, "--space", out.parent / "space.yaml", "--trials", "3",
                       "--pruner", "none", "--out", out, "--set", "train.epochs=1")
    assert code == 0, err
    assert json.loads((out / "tune.json").read_text())["trials"] == document["trials"]


def test_tune_page_in_chromium(study, page):
    out, document, _ = study
    page.open(out / "tune.html")
    driver = page.driver
    rows = driver.find_elements("css selector", "#trials-table tr[data-trial]")
    assert [r.get_attribute("data-trial") for r in rows] == ["0", "1", "2"]
    link = rows[0].find_element("tag name", "a").get_attribute("href")
    assert link.endswith("trials/0/report.html")
    assert len(driver.find_elements("css selector", "#history-chart circle.point")) == 3
    assert len(driver.find_elements("css selector", "#parallel-chart path.trial-line")) == 3
    assert driver.find_elements("css selector", "#history-chart path.best-line")
    assert driver.find_element("id", "best-trial").text.endswith(str(document["best_trial"]))
    shown = {r.get_attribute("data-param") for r in driver.find_elements("css selector", "#importances-table tr")}
    assert shown == set(document["importances"]) and len(shown) == 3
    assert page.console_errors() == [] and page.network_urls() == []


def test_a_trial_that_cannot_train_fails_and_the_study_goes_on(cli, files, tmp_path):
    config, space = files
    space.write_text("model.layers.conv1.kernel_size: {choice: [40]}\n", encoding="utf-8")
    code, _, err = cli("tune", "--config", config, "--space", space, "--trials", "2", "--out", tmp_path / "t")
    assert code == 0, err
    trials = json.loads((tmp_path / "t" / "tune.json").read_text())["trials"]
    assert [t["state"] for t in trials] == ["fail", "fail"]
    assert all("kernel_size" in t["reason"] and "\n" not in t["reason"] for t in trials)
    assert not (tmp_path / "t" / "best.yaml").exists()


def test_a_pruned_trial_stops_and_keeps_its_run(files, tmp_path):
    import optuna

    from cnntrain.tasks.tune_space import load_space
    from cnntrain.tasks.tune_worker import TuneJob, TuneProgress, run_trial

    config, space = files
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.5))
    job = TuneJob(str(config), str(space), str(tmp_path), 1, None, "val_acc", "median", None, "s", None, (), 2)
    trial = study.ask()
    run_trial(study, trial, job, load_space(space), TuneProgress())
    frozen = study.trials[0]
    assert frozen.state == optuna.trial.TrialState.PRUNED and list(frozen.intermediate_values) == [1]
    run = tmp_path / "trials" / "0"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1  # stopped after epoch 1 of 2
    assert json.loads((run / "trial.json").read_text())["state"] == "pruned"
    assert (run / "checkpoints" / "last.pt").is_file() and not (run / "summary.json").exists()
    assert '"finished":true' in (run / "report.html").read_text()  # a final page: it no longer reloads


def test_with_folds_a_trial_scores_the_k_fold_mean(cli, files, tmp_path):
    config, space = files
    out = tmp_path / "t"
    code, _, err = cli("tune", "--config", config, "--space", space, "--trials", "1", "--folds", "2",
                       "--pruner", "none", "--out", out, "--set", "train.epochs=1")
    assert code == 0, err
    document = json.loads((out / "tune.json").read_text())
    (trial,) = document["trials"]
    folds = json.loads((out / "trials" / "0" / "summary.json").read_text())
    assert trial["value"] == pytest.approx(folds["mean"]) and len(folds["folds"]) == 2
    assert trial["std"] == pytest.approx(folds["std"])  # the spread across folds, shown beside the mean
    assert trial["epochs"] == 2  # one per fold, each reported to the pruner
    assert (out / "trials" / "0" / "fold_1" / "report.html").is_file()
    assert document["folds"] == 2
