"""Imbalanced classes: a loss weight per class (`train.class_weights`) and an epoch order that draws
every class equally often (`data.sampler: balanced`).

Weights keep each image once per epoch and scale its loss instead; the balanced order repeats the
minority's images (and leaves some of the majority's out each epoch), so every step sees the classes
alike. Both depend only on the labels and, for the order, on a generator seeded from (seed, epoch).
"""

from __future__ import annotations

import math

import torch

from cnntrain.errors import ConfigError, did_you_mean


def build_class_weights(spec, labels: torch.Tensor, classes: list[str], where: str) -> torch.Tensor | None:
    """(K,) float32 loss weights from train.class_weights, or None for unweighted; `where` names the config."""
    if spec is None:
        return None
    k = len(classes)
    if spec == "balanced":
        counts = torch.bincount(labels.cpu(), minlength=k).double()
        # scikit-learn's compute_class_weight("balanced"): n_samples / (n_classes * count). A class without
        # training images is never a target; its 1 only keeps label smoothing's sum over classes finite.
        weights = torch.where(counts > 0, len(labels) / (k * counts.clamp(min=1)), 1.0)
    elif isinstance(spec, list):
        if len(spec) != k:
            raise ConfigError(f"{where}: train.class_weights lists {len(spec)} weights but the data has {k} classes "
                              f"({', '.join(classes)}); give one per class in this order, or a mapping by name")
        weights = torch.tensor(spec, dtype=torch.float64)
    else:
        by_name = {str(name): value for name, value in spec.items()}  # YAML reads a folder named 0 as an int
        unknown = [name for name in by_name if name not in classes]
        if unknown:
            raise ConfigError(f"{where}: train.class_weights names the class `{unknown[0]}`, which the data does "
                              f"not have{did_you_mean(unknown[0], classes)}")
        weights = torch.tensor([float(by_name.get(name, 1.0)) for name in classes], dtype=torch.float64)
    return weights.float()


def balanced_order(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """len(labels) indices in which every class present is drawn equally often (the remainder of the
    division goes to classes picked at random), shuffled together.

    A class's images are drawn in shuffled passes, so one repeats only after all of its class has been
    drawn: the minority's images come back a whole number of times, not at random.
    """
    labels = labels.cpu()
    present = torch.unique(labels)  # sorted: the same classes in the same order on every rank
    n, k = len(labels), len(present)
    counts = torch.full((k,), n // k)
    counts[torch.randperm(k, generator=generator)[: n % k]] += 1
    drawn = []
    for cls, count in zip(present.tolist(), counts.tolist()):
        members = torch.nonzero(labels == cls).flatten()
        passes = [members[torch.randperm(len(members), generator=generator)]
                  for _ in range(math.ceil(count / len(members)))]
        drawn.append(torch.cat(passes)[:count])
    order = torch.cat(drawn)
    return order[torch.randperm(n, generator=generator)]
