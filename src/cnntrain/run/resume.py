"""What `train --resume` may continue: the checkpoint, its config with the user's overrides, and the
checks that refuse a resume which could not continue the same run."""

from __future__ import annotations

from dataclasses import asdict

from cnntrain.config.loader import Config, config_from_dict
from cnntrain.errors import CheckpointError, ConfigError
from cnntrain.model.builder import build_model
from cnntrain.run.checkpoint import load_checkpoint, resolve_checkpoint_path, weights_mismatch
from cnntrain.run.rundir import RunDir, run_dir_of_checkpoint

# Restored from the checkpoint's optimizer, scheduler, weight-average and best-metric state (the frozen set
# decides which parameters the optimizer holds), so a new value in the config would be silently ignored on
# resume (and config.yaml would claim otherwise).
FIXED_ON_RESUME = ("optimizer", "lr", "momentum", "nesterov", "weight_decay", "scheduler", "monitor", "ema",
                   "freeze")


def run_to_resume(resume) -> RunDir:
    """The run directory that `resume` (a run dir or one of its checkpoints) names."""
    path = resolve_checkpoint_path(resume)
    if path.resolve().parent.name != "checkpoints":  # a loose .pt file has no run directory to go on in
        raise CheckpointError(f"{path} is not inside a run directory (RUN/checkpoints/*.pt); --resume takes "
                              "a run directory or one of its checkpoints")
    return run_dir_of_checkpoint(path)


def load_resumable(resume, overrides) -> tuple[Config, dict]:
    """(config with overrides, checkpoint) of the run that `resume` (a run dir or checkpoint) names."""
    run = run_to_resume(resume)
    path = resolve_checkpoint_path(resume)
    checkpoint = load_checkpoint(path)
    config = config_from_dict(checkpoint["config"], source=str(path), overrides=overrides)
    _check_unchanged(checkpoint, config, path)
    _check_model(checkpoint, config, path)
    _check_work_left(checkpoint, config, run)
    return config, checkpoint


def _check_unchanged(checkpoint: dict, config: Config, path) -> None:
    saved, now = checkpoint["config"].get("train", {}), asdict(config.train)  # both as plain data
    fixed = [k for k in FIXED_ON_RESUME if k in saved and saved[k] != now[k]]
    if fixed:
        raise ConfigError(f"--set train.{fixed[0]} cannot change on --resume: the optimizer and schedule state in "
                          f"{path} keep the run's {fixed[0]}={saved[fixed[0]]!r}; start a new run to change it")


def _check_model(checkpoint: dict, config: Config, path) -> None:
    """A --set model.* that changes a layer's weights: say so before the data loads. Built on the meta
    device, the model costs no memory and no time."""
    model = build_model(config, num_classes=len(checkpoint.get("classes") or []) or None, device="meta").model
    mismatch = weights_mismatch(model, checkpoint["model"])
    if mismatch is not None:
        raise CheckpointError(f"--resume {path}: {mismatch}. A resumed run keeps its model; drop the --set "
                              "model.* override, or start a new run to train the changed model")


def _check_work_left(checkpoint: dict, config: Config, run: RunDir) -> None:
    done, epochs = checkpoint["epoch"], config.train.epochs
    if done > epochs or (done == epochs and run.summary.exists()):
        raise ConfigError(f"the run in {run.path} has done {done} epochs and train.epochs is {epochs}: nothing to "
                          f"do; extend it with --resume {run.path} --set train.epochs=N (N > {done})")
    patience, bad = config.train.early_stopping, checkpoint["best"]["bad_epochs"]
    if patience and bad >= patience and run.summary.exists():  # else it would train one epoch and stop again
        raise ConfigError(f"the run in {run.path} stopped early at epoch {done} ({bad} epochs without a better "
                          f"{config.train.monitor}); to go on, raise --set train.early_stopping above {bad}")
