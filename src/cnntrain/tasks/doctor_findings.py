"""The doctor's verdict: class balance, and one line per kind of problem it found (none: the data looks clean).

What counts as a problem, and what is only reported:
- unreadable and skipped files, duplicates of any kind, likely label errors: always problems;
- class balance: a problem when the largest class has `IMBALANCE` times the training samples of the
  smallest, when a class has fewer than `FEW` training samples, or is missing from a split;
- sizes: a problem when grey and colour images are mixed, or some images have 4x more or fewer pixels
  than the median one; ordinary resizing (every photo to data.image_size) is only reported;
- brightness: a class that brightness alone tells apart (data/intensity.py).
"""

from __future__ import annotations

from cnntrain.data.splits import Splits
from cnntrain.data.synthetic import SPLITS
from cnntrain.tasks.doctor_labels import WEAK

IMBALANCE = 3.0  # largest / smallest class in the training split
FEW = 20  # training samples of a class below which its scores (and its gradient) are noise


def balance(splits: Splits, missing: dict[str, list[str]]) -> dict:
    """split -> class -> count, the training split's imbalance ratio, classes missing or few, advice."""
    counts = {s: {c: int((getattr(splits, s).y == k).sum()) for k, c in enumerate(splits.classes)} for s in SPLITS}
    train = counts["train"]
    smallest = min(train.values())
    ratio = max(train.values()) / smallest if smallest else None
    few = [c for c, n in train.items() if n < FEW]
    advice = None
    if ratio is None or ratio >= IMBALANCE:
        advice = ("set train.class_weights: balanced (each class's loss weighted by n / (classes x count)) or "
                  "data.sampler: balanced (each class drawn equally often; its images repeat)")
    return {**counts, "imbalance_ratio": ratio, "missing": missing, "few": few, "advice": advice}


def counted(n: int, noun: str) -> str:
    """'1 file', '3 files'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def findings(result) -> list[str]:
    """One line per kind of problem in a DoctorResult."""
    lines = []
    if result.corrupt:
        lines.append(f"{counted(len(result.corrupt), 'unreadable file')}: train stops at the first "
                     "(data.on_corrupt: skip skips them)")
    if result.skipped:
        lines.append(f"{counted(len(result.skipped), 'file')} in class folders that train skips (not an image or "
                     "array it reads)")
    lines += _duplicate_lines(result.duplicates)
    if result.label_issues:
        accuracy = result.label_check["accuracy"]
        weak = (f"; but the models get only {accuracy:.0%} of them right, so many may be the models' mistakes"
                if accuracy is not None and accuracy < WEAK else "")
        lines.append(f"{counted(len(result.label_issues), 'likely label error')} (of "
                     f"{result.label_check['scored']} samples scored out of sample){weak}")
    lines += _balance_lines(result.balance)
    lines += _size_lines(result.sizes)
    for g in result.intensity.get("giveaway", []):
        side = "darker" if g["mean"] < g["others"] else "brighter"
        lines.append(f"class {g['class']} is {side} than the others (mean intensity {g['mean']:.2f} vs "
                     f"{g['others']:.2f}): brightness alone tells it apart (ROC AUC {g['auc']:.2f})")
    return lines


def _duplicate_lines(duplicates: list[dict]) -> list[str]:
    lines = []
    for kind in ("exact", "near"):
        groups = [d for d in duplicates if d["kind"] == kind]
        if not groups:
            continue
        across = sum(d["across_splits"] for d in groups)
        conflicting = sum(d["conflicting_labels"] for d in groups)
        extra = [f"{across} across splits (leakage)"] * bool(across) + [f"{conflicting} under two labels"] * bool(
            conflicting)
        listed = f": {', '.join(extra)}" if extra else ""
        lines.append(f"{counted(len(groups), 'group')} of {kind} duplicates{listed}")
    return lines


def _balance_lines(balance: dict) -> list[str]:
    if not balance:
        return []
    lines = []
    train = balance["train"]
    if balance["advice"]:
        small, large = min(train, key=train.get), max(train, key=train.get)
        ratio = "" if balance["imbalance_ratio"] is None else f", ratio {balance['imbalance_ratio']:.1f}"
        lines.append(f"imbalanced classes: {small} has {train[small]} training samples, {large} {train[large]}"
                     f"{ratio}; {balance['advice']}")
    if balance["few"]:
        lines.append(f"few training samples (under {FEW}): " + ", ".join(f"{c} ({train[c]})" for c in balance["few"]))
    for split, absent in balance["missing"].items():
        lines.append(f"the {split} split has no samples of: {', '.join(absent)}")
    return lines


def _size_lines(sizes: dict) -> list[str]:
    lines = []
    grey, colour = sizes.get("grey", 0), sizes.get("colour", 0)
    if grey and colour:
        few, many = ("grey", "colour") if grey <= colour else ("colour", "grey")
        lines.append(f"{min(grey, colour)} {few} images among {max(grey, colour)} {many} ones (train converts all "
                     f"to {sizes['channels']} channel{'s' if sizes['channels'] > 1 else ''})")
    if sizes.get("odd_sizes"):
        lines.append(f"{len(sizes['odd_sizes'])} images of odd size (4x more or fewer pixels than the median image)")
    return lines
