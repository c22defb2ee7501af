"""`cnntrain doctor`: what is wrong with the data, before a model takes the blame.

    from cnntrain.tasks.doctor import doctor
    result = doctor(data="photos", folds=3)        # or config="configs/mine.yaml", checkpoint="runs/x/1"
    for group in result.duplicates: print(group["kind"], group["paths"], group["splits"])
    print(result.clean, result.findings)           # doctor.json and doctor.html in result.files

It reads the data as `train` would (data/: the same walk, split and decoding cache) and reports each
finding with the files involved: unreadable files and files training skips; exact and near duplicates
within and across splits (data/duplicates.py) and the same sample under two labels; class balance and
classes missing from a split; sizes, modes and a class given away by its brightness (data/inventory.py,
data/intensity.py); likely label errors from out-of-sample probabilities (tasks/doctor_labels.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnntrain.atomic import atomic_write_text
from cnntrain.data import decode, load_data
from cnntrain.data.duplicates import content_hashes, exact_groups, near_groups, perceptual_hashes, same_picture
from cnntrain.data.intensity import brightness, image_means
from cnntrain.data.inventory import size_summary
from cnntrain.data.leakage import missing_classes
from cnntrain.data.splits import Splits
from cnntrain.data.synthetic import SPLITS
from cnntrain.errors import ConfigError, DataError
from cnntrain.run.load import load_trained
from cnntrain.run.progress import Progress
from cnntrain.tasks.doctor_findings import balance, findings
from cnntrain.tasks.doctor_labels import (
    LabelCheck,
    checkpoint_probabilities,
    describe,
    fold_probabilities,
    label_issues,
)
from cnntrain.tasks.doctor_page import write_doctor_page
from cnntrain.tasks.doctor_target import Target, doctor_target, output_folder

JSON, PAGE = "doctor.json", "doctor.html"
NO_LABEL_CHECK = ("labels not checked: give --folds K (cross-validation scores every sample) or --checkpoint CKPT "
                  "(scores the samples it did not train on)")


@dataclass
class DoctorResult:
    source: str  # what was examined: the config file, or the data folder
    dataset: str
    classes: list[str]
    samples: dict[str, int]  # split -> samples read
    corrupt: dict[str, str]  # path -> why training cannot read it
    skipped: dict[str, str]  # path -> why training skips it (a file in a class folder that is no image)
    duplicates: list[dict]  # kind, paths, splits, labels, across_splits, conflicting_labels (+ distance: near)
    label_issues: list[dict]  # path, split, given, suggested, score (the given label's probability)
    label_check: dict  # method (folds, checkpoint or None), scored, accuracy, note
    balance: dict  # split -> class -> count; imbalance_ratio, missing, few, advice
    sizes: dict
    intensity: dict  # mean per class, giveaway classes
    findings: list[str]  # one line per kind of problem; none when the data looks clean
    notes: list[str]
    files: dict[str, str] = field(default_factory=dict)
    members: list[list[int]] = field(default_factory=list, repr=False)  # duplicates' sample indices (the page)
    issue_members: list[int] = field(default_factory=list, repr=False)  # label issues' sample indices

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        """The `doctor --json` form and doctor.json; its keys are an interface."""
        return {"source": self.source, "dataset": self.dataset, "classes": self.classes, "samples": self.samples,
                "clean": self.clean, "findings": self.findings, "corrupt": [*self.corrupt, *self.skipped],
                "corrupt_reasons": self.corrupt | self.skipped, "duplicates": self.duplicates,
                "label_issues": self.label_issues, "label_check": self.label_check, "balance": self.balance,
                "sizes": self.sizes, "intensity": self.intensity, "notes": self.notes, "files": self.files}


def doctor(config=None, *, data=None, checkpoint=None, folds: int | None = None, out=None, overrides=(),
           progress: Progress | None = None) -> DoctorResult:
    """Check a config's data (`config`), a folder (`data`) or a checkpoint's data; `folds` or `checkpoint`
    to check labels too. Writes OUT/doctor.json and OUT/doctor.html (OUT: `out`, or runs/<name>/doctor)."""
    progress = progress or Progress()
    if folds is not None and checkpoint is not None:
        raise ConfigError("give --folds K or --checkpoint CKPT to check labels, not both")
    if folds is not None and folds < 2:
        raise ConfigError(f"--folds {folds}: cross-validation needs at least 2 folds")
    trained = load_trained(checkpoint) if checkpoint is not None else None
    target = doctor_target(config, data, trained, overrides)
    folder = output_folder(target.config, out)
    splits = _load(target)
    if splits is None:  # array data with unreadable files: train refuses it, so nothing else can be read
        result = _unreadable_only(target)
    else:
        for note in splits.notes:
            progress.note(note)
        result = _examine(target, splits, folds, trained, folder, progress)
    return _write(result, folder, splits)


def _load(target: Target) -> Splits | None:
    config = target.config
    try:
        return load_data(config.data, config.train.seed)
    except DataError:
        if target.inventory is not None and target.inventory.unreadable():
            return None
        raise


def _examine(target: Target, splits: Splits, folds, trained, folder: Path, progress: Progress) -> DoctorResult:
    labels = np.concatenate([getattr(splits, s).y.numpy() for s in SPLITS])
    hashes = [h for s in SPLITS for h in content_hashes(getattr(splits, s).x)]
    exact = exact_groups(hashes)
    groups = [("exact", g, None) for g in exact]
    where = [(s, i) for s in SPLITS for i in range(len(getattr(splits, s)))]
    if _is_picture(splits):
        codes = np.concatenate([perceptual_hashes(getattr(splits, s).x) for s in SPLITS])
        confirm = same_picture(lambda i: getattr(splits, where[i][0]).x[where[i][1]].numpy())
        groups += [("near", g, bits) for g, bits in near_groups(codes, exact, confirm)]
    names = _sample_names(splits)
    duplicates = [_duplicate(kind, members, bits, where, names, labels, splits.classes)
                  for kind, members, bits in groups]
    check = _label_check(target, splits, folds, trained, hashes, folder, progress)
    issues = label_issues(labels, check)
    sample_balance = balance(splits, missing_classes(splits))
    sizes = _sizes(target, splits)
    intensity = _intensity(splits, labels)
    result = DoctorResult(
        source=target.config.source, dataset=target.config.data.dataset, classes=list(splits.classes),
        samples={s: len(getattr(splits, s)) for s in SPLITS}, corrupt=_corrupt(target, splits),
        skipped=target.inventory.ignored if target.inventory else {}, duplicates=duplicates,
        label_issues=[{"path": names[i], "split": where[i][0], "given": splits.classes[labels[i]],
                       "suggested": splits.classes[k], "score": score} for i, k, score in issues],
        label_check=describe(labels, check),
        balance=sample_balance, sizes=sizes, intensity=intensity, findings=[], notes=list(target.notes),
        members=[g for _, g, _ in groups], issue_members=[i for i, _, _ in issues])
    result.findings = target.problems + findings(result)
    return result


def _is_picture(splits: Splits) -> bool:
    """2D uint8 images, the only samples a perceptual hash reads."""
    return splits.train.x.dtype.is_floating_point is False and splits.train.x.dim() == 4


def _sample_names(splits: Splits) -> list[str]:
    """Each sample's file (image folders, arrays), or split[index] for data drawn in memory."""
    names = []
    for s in SPLITS:
        split = getattr(splits, s)
        names += split.paths if split.paths is not None else [f"{s}[{i}]" for i in range(len(split))]
    return names


def _duplicate(kind, members, bits, where, names, labels, classes) -> dict:
    group_splits = [where[i][0] for i in members]
    group_labels = [classes[labels[i]] for i in members]
    entry = {"kind": kind, "paths": [names[i] for i in members], "splits": group_splits, "labels": group_labels,
             "across_splits": len(set(group_splits)) > 1, "conflicting_labels": len(set(group_labels)) > 1}
    return entry | ({"distance": bits} if kind == "near" else {})


def _label_check(target, splits, folds, trained, hashes, folder: Path, progress) -> LabelCheck:
    if folds is not None:
        folder.mkdir(parents=True, exist_ok=True)
        return fold_probabilities(target.config, splits, folds, folder, progress)
    if trained is not None:
        return checkpoint_probabilities(trained, splits, hashes)
    return LabelCheck(None, NO_LABEL_CHECK)


def _sizes(target: Target, splits: Splits) -> dict:
    shape = splits.input_shape
    if target.inventory is None:
        return {"train_size": list(shape[1:]), "channels": shape[0], "sizes": {}, "modes": {}}
    images = target.inventory.kind == "images"
    kept = set(_sample_names(splits))
    files = [f for f in target.inventory.files if f.path in kept]
    return size_summary(files, tuple(shape[1:]), shape[0], images)


def _intensity(splits: Splits, labels: np.ndarray) -> dict:
    if splits.train.x.dtype.is_floating_point:
        return {"mean": {}, "giveaway": [], "note": "array data: brightness is checked for images only"}
    means = np.concatenate([image_means(getattr(splits, s).x) for s in SPLITS])
    return brightness(means, labels, splits.classes)


def _corrupt(target: Target, splits: Splits) -> dict[str, str]:
    """Files training cannot read: their header, or their pixels."""
    if target.inventory is None:
        return {}
    corrupt = target.inventory.unreadable()
    if target.inventory.kind == "images":
        kept = set(_sample_names(splits))
        for f in target.inventory.files:
            if f.path not in kept and f.path not in corrupt:
                corrupt[f.path] = _why_not_decoded(f.path)
    return corrupt


def _why_not_decoded(path: str) -> str:
    try:
        decode.decode(path, 3, None)
    except decode.CorruptImage as err:
        return f"its pixels do not decode ({err})"
    return "not decoded"  # readable now: changed since the cache was written


def _unreadable_only(target: Target) -> DoctorResult:
    corrupt = target.inventory.unreadable()
    note = "the other checks need the data to load, and train refuses array data with unreadable files: fix these"
    return DoctorResult(source=target.config.source, dataset=target.config.data.dataset, classes=[], samples={},
                        corrupt=corrupt, skipped=target.inventory.ignored, duplicates=[], label_issues=[],
                        label_check={"method": None, "scored": 0, "accuracy": None, "note": note}, balance={}, sizes={},
                        intensity={}, findings=[f"{len(corrupt)} unreadable files; {note}"],
                        notes=[*target.notes, note])


def _write(result: DoctorResult, folder: Path, splits: Splits | None) -> DoctorResult:
    folder.mkdir(parents=True, exist_ok=True)
    result.files = {"json": str(folder / JSON), "html": str(folder / PAGE)}
    atomic_write_text(folder / JSON, json.dumps(result.as_dict(), indent=2) + "\n")
    write_doctor_page(folder / PAGE, result, splits)
    return result
