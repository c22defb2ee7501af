"""The data checks `train` runs before its first epoch, cheap enough for every run: the same sample in
two splits (leakage: a test score that measures memory), and classes missing from a split. Each finding
is one warning line pointing at `cnntrain doctor`, which lists the files and checks much more.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnntrain.data.duplicates import content_hashes, exact_groups
from cnntrain.data.splits import Splits
from cnntrain.data.synthetic import SPLITS

# Hashing reads every sample once (~1.5 GB/s); past this size train leaves it to `cnntrain doctor`.
TRAIN_CHECK_BYTES = 1 << 30


@dataclass
class Leak:
    """Samples with the same values in more than one split: (split, index in that split) each."""

    members: list[tuple[str, int]]

    @property
    def splits(self) -> list[str]:
        return sorted({s for s, _ in self.members}, key=SPLITS.index)


def leaks(splits: Splits, hashes: list[bytes] | None = None) -> list[Leak]:
    """Groups of identical samples that span splits; `hashes` (train, val, test in order) when known."""
    where = [(s, i) for s in SPLITS for i in range(len(getattr(splits, s)))]
    hashes = hashes if hashes is not None else [h for s in SPLITS for h in content_hashes(getattr(splits, s).x)]
    groups = [Leak([where[i] for i in group]) for group in exact_groups(hashes)]
    return [g for g in groups if len(g.splits) > 1]


def missing_classes(splits: Splits) -> dict[str, list[str]]:
    """split -> the classes it has no sample of, for every split that has samples at all."""
    missing = {}
    for s in SPLITS:
        y = getattr(splits, s).y
        if len(y):
            present = set(y.tolist())
            absent = [c for k, c in enumerate(splits.classes) if k not in present]
            if absent:
                missing[s] = absent
    return missing


def data_warning(splits: Splits, source: str) -> str | None:
    """One line for the start of training when the splits leak into each other or miss a class, else None."""
    size = sum(getattr(splits, s).x.nbytes for s in SPLITS)
    problems = []
    if size <= TRAIN_CHECK_BYTES:
        found = leaks(splits)
        if found:
            names = " and ".join(dict.fromkeys("/".join(g.splits) for g in found))
            problems.append(f"{sum(len(g.members) for g in found)} samples appear in more than one split "
                            f"({names}): the held-out scores measure memory, not generalisation")
    for split, absent in missing_classes(splits).items():
        if len(getattr(splits, split)) < len(splits.classes):
            continue  # too small to hold every class: its size says so already (a quick test's 4 images)
        shown = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
        problems.append(f"the {split} split has no samples of class {shown}")
    if not problems:
        return None
    config = source if source.endswith((".yaml", ".yml")) else "CONFIG"  # a resumed run's is its checkpoint
    return f"{'; '.join(problems)}; `cnntrain doctor --config {config}` lists them and checks more"
