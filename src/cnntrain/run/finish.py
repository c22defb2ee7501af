"""The end of a run: the best checkpoint on the test split, and the final report with its mistakes."""

from __future__ import annotations

import platform

import torch

from cnntrain import __version__
from cnntrain.run.checkpoint import load_checkpoint
from cnntrain.run.distributed import barrier
from cnntrain.run.engine import Engine
from cnntrain.run.inference import loss_and_accuracy
from cnntrain.run.metrics import confusion_matrix
from cnntrain.run.report import TestOutcome, test_section, write_report
from cnntrain.viz.charts import confusion_matrix_image


def best_on_test(session, engine: Engine):
    """Test-split metrics of the best checkpoint, its confusion matrix for TensorBoard, and its logits."""
    split = session.splits.test
    if len(split.y) == 0 or not session.run_dir.best.exists():
        return None, None, None

    barrier(session.world)
    best = load_checkpoint(session.run_dir.best, map_location=session.device)
    engine.core.load_state_dict(best["model"])
    logits = session._logits(engine.core, split.x)
    loss, acc = loss_and_accuracy(logits, split.y)
    matrix = confusion_matrix(split.y.numpy(), logits.argmax(1).numpy(), len(session.splits.classes))
    image = confusion_matrix_image(matrix, session.splits.classes, title="test, best checkpoint")
    return {"loss": loss, "acc": acc, "epoch": best["epoch"]}, image, logits

def write_final_report(session, engine: Engine, logits, best_epoch: int | None) -> None:
    """The final report.html: with the best checkpoint's test predictions, and mistakes.png."""
    test = None
    if logits is not None:
        split = session.splits.test
        # engine.core holds the best checkpoint's weights since best_on_test
        outcome = TestOutcome("test", list(session.splits.classes), split.y.numpy(),
                              torch.softmax(logits, 1).numpy(), split.x, best_epoch,
                              model=engine.core, layers=session.layers, normalizer=session.normalizer,
                              paths=split.paths)
        test = test_section(session.run_dir, outcome)
    write_report(session.run_dir, test=test, finished=True)


def finish(session, engine: Engine, log, seconds: float) -> dict:
    """summary.json, the last TensorBoard records, and the final report."""
    records = session.run_dir.read_metrics() if session.world.is_main else []
    test, confusion, logits = best_on_test(session, engine)
    summary = {
        "name": session.config.name,
        "run_dir": str(session.run_dir.path),
        "epochs": records[-1]["epoch"] if records else 0,
        "best": {"metric": engine.best.metric, "value": engine.best.value, "epoch": engine.best.epoch},
        "final": records[-1] if records else None,
        "test": test,
        "seconds": seconds,
        "device": str(session.device),
        "world_size": session.world.size,
        "seed": session.train_cfg["seed"],
        "classes": list(session.splits.classes),
        "params": sum(p.numel() for p in engine.core.parameters()),
        "trainable_params": sum(p.numel() for p in engine.core.parameters() if p.requires_grad),
        "frozen": session.train_cfg["freeze"],
        "init": session.init_record,
        "data_fingerprint": session.splits.fingerprint,
        "versions": versions(),
    }
    if session.world.is_main:
        hparams = {**{f"train.{k}": v for k, v in session.train_cfg.items()}, "model": session.config.name}
        best = {"hparam/best_" + engine.best.metric: engine.best.value or 0.0}
        log.hparams(hparams, best, step=summary["epochs"])
        if confusion is not None:
            log.images("confusion_matrix", {"test": confusion}, summary["epochs"])
        log.close()
        session.run_dir.write_summary(summary)
        write_final_report(session, engine, logits, best_epoch=test["epoch"] if test else None)
    session.progress.end()
    return summary


def versions() -> dict:
    # The installed distribution's version: importing torchvision for it would cost a second and 150 MB.
    from importlib.metadata import PackageNotFoundError, version

    try:
        vision = version("torchvision")
    except PackageNotFoundError:
        vision = "not installed"
    return {"cnntrain": __version__, "torch": str(torch.__version__), "torchvision": vision,
            "python": platform.python_version()}
