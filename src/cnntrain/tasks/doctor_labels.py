"""Likely label errors: cleanlab's confident learning (`find_label_issues`) on out-of-sample probabilities.

A model scores a sample's label fairly only if it never trained on that sample (it memorises the
training set's labels, wrong ones included). So:
- `--folds K`: the config trains K times by `train --folds` (tasks/folds.py); each train+val sample
  gets the probabilities of the one fold model that held it out, and each test sample the mean of the
  K models' (none trained on it). Each fold's last checkpoint, not its best: `best.pt` was chosen on
  the held-out fold itself.
- `--checkpoint`: only the samples the checkpoint did not train on, by content (so a copy of a training
  image counts as seen): its validation and test splits, or whatever of this data it never saw.

Confident learning counts a sample as confidently of class j when the model gives j at least the mean
probability that class j's own samples get (a per-class threshold). With a model that is right on nearly
every sample that mean approaches 1, and a mislabelled sample the model puts at 0.9 for its true class no
longer counts: the thresholds are capped at `CONFIDENT` so such a sample does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cnntrain.config.loader import Config, config_from_dict
from cnntrain.data import load_data
from cnntrain.data.crossval import pool
from cnntrain.data.duplicates import content_hashes
from cnntrain.data.splits import Splits
from cnntrain.errors import DataError
from cnntrain.run.load import Trained, load_trained
from cnntrain.run.progress import Progress
from cnntrain.tasks.folds import train_folds

CONFIDENT = 0.8  # the highest per-class threshold of confident learning (see above)
WEAK = 0.8  # below this out-of-sample accuracy, say that the label check is only as good as its model


@dataclass
class LabelCheck:
    method: str | None  # "folds", "checkpoint", or None when labels were not checked
    note: str  # how they were scored, or why not
    scored: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # global sample indices
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # (scored, classes)


def fold_probabilities(config: Config, splits: Splits, k: int, work: Path, progress: Progress) -> LabelCheck:
    """Out-of-sample probabilities for every sample from K-fold cross-validation of `config`."""
    everything = pool(splits)
    with tempfile.TemporaryDirectory(prefix="folds-", dir=work) as folder:
        result = train_folds(config, k, out=folder, fold_progress=lambda i: _fold_progress(progress, i, k))
        probs = torch.zeros(len(everything) + len(splits.test), len(splits.classes))
        for fold in result.folds:
            model = load_trained(fold.run_dir / "checkpoints" / "last.pt")
            probs[fold.held_out] = _softmax(model, everything.x[fold.held_out])
            if len(splits.test):
                probs[len(everything):] += _softmax(model, splits.test.x) / k
    note = (f"{k}-fold cross-validation of {config.source}: every train and val sample scored by the fold model "
            f"that never saw it, every test sample by the mean of the {k} models")
    return LabelCheck("folds", note, np.arange(len(probs)), probs.numpy())


def _fold_progress(progress: Progress, i: int, k: int) -> Progress:
    progress.note(f"training fold {i + 1} of {k} for out-of-sample label scores")
    return Progress()  # the folds' epochs and warnings stay quiet: the doctor reports on the data itself


def checkpoint_probabilities(trained: Trained, splits: Splits, hashes: list[bytes]) -> LabelCheck:
    """Probabilities of the samples `trained` did not train on (by content); `hashes` are the samples'
    content hashes, train, val, test in order."""
    if list(trained.classes) != list(splits.classes):
        raise DataError(f"{trained.path} knows the classes {', '.join(trained.classes)} but the data has "
                        f"{', '.join(splits.classes)}; check labels with the data it was trained on, or use --folds")
    if trained.input_shape and tuple(trained.input_shape) != splits.input_shape:
        raise DataError(f"{trained.path} takes samples of {list(trained.input_shape)} but the data gives "
                        f"{list(splits.input_shape)}; set data.channels and data.image_size as it was trained")
    seen = set(content_hashes(_training_split(trained).x))
    unseen = np.array([i for i, h in enumerate(hashes) if h not in seen], dtype=np.int64)
    parts, start = [], 0
    for split in (splits.train, splits.val, splits.test):  # gathered split by split: no copy of all of them
        mine = unseen[(unseen >= start) & (unseen < start + len(split))] - start
        parts.append(split.x[torch.from_numpy(mine)])
        start += len(split)
    probs = _softmax(trained, torch.cat(parts)).numpy() if len(unseen) else np.zeros((0, len(splits.classes)),
                                                                                       np.float32)
    note = (f"checkpoint {trained.path}: scored the {len(unseen)} of {len(hashes)} samples it did not train on; "
            f"the {len(hashes) - len(unseen)} it trained on are not checked (--folds K checks every sample)")
    return LabelCheck("checkpoint", note, unseen, probs)


def _training_split(trained: Trained):
    """The samples the checkpoint trained on: its own config's training split, read as it read it."""
    data = config_from_dict(trained.config.to_dict(), str(trained.path), ["data.on_corrupt=skip"]).data
    try:
        return load_data(data, trained.config.train.seed).train
    except DataError as err:
        raise DataError(f"cannot tell which samples {trained.path} trained on: its data does not load ({err}); "
                        "use --folds K instead") from None


def _softmax(model: Trained, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(model.logits(x)).float().softmax(1)


def label_issues(labels: np.ndarray, check: LabelCheck) -> list[tuple[int, int, float]]:
    """(sample index, suggested class, label quality) of each likely label error, the likeliest first.

    Label quality is the probability the out-of-sample model gives the label as it stands (cleanlab's
    self-confidence): near 0, the model is sure the sample is something else."""
    if check.method is None or len(check.scored) == 0:
        return []
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues  # deferred: cleanlab loads pandas and scikit-learn
    from cleanlab.rank import get_label_quality_scores

    given = labels[check.scored]
    probs = check.probs / check.probs.sum(1, keepdims=True)  # exactly 1 per row, as cleanlab checks
    own = [probs[given == j, j].mean() if (given == j).any() else CONFIDENT for j in range(probs.shape[1])]
    joint = compute_confident_joint(given, probs, thresholds=np.minimum(own, CONFIDENT))
    ranked = find_label_issues(given, probs, confident_joint=joint, return_indices_ranked_by="self_confidence",
                               n_jobs=1)
    quality = get_label_quality_scores(given, probs, method="self_confidence")
    return [(int(check.scored[i]), int(probs[i].argmax()), float(quality[i])) for i in ranked]


def describe(labels: np.ndarray, check: LabelCheck) -> dict:
    """label_check in doctor.json: method, samples scored, their accuracy (the labels as given), and a note
    that warns when the models are too weak for their suspicions to mean much."""
    if check.method is None or len(check.scored) == 0:
        return {"method": check.method, "scored": int(len(check.scored)), "accuracy": None, "note": check.note}
    accuracy = float((check.probs.argmax(1) == labels[check.scored]).mean())
    note = check.note
    if accuracy < WEAK:
        note += (f"; the models get only {accuracy:.0%} of them right, so many suspects may be the model's "
                 "mistakes: train longer (--set train.epochs=...) or give a better --config")
    return {"method": check.method, "scored": int(len(check.scored)), "accuracy": accuracy, "note": note}
