"""Read and check the values of the config's `data` section that the loaders share.

The config layer fills in defaults; these checks make each loader's assumptions explicit
and turn a value it cannot use into one DataError that names the key and what to write
instead.
"""

from __future__ import annotations

from cnntrain.config import DataSettings
from cnntrain.errors import DataError

_DIMS_NAME = {1: "[L] (signals)", 2: "[H, W] (images)", 3: "[D, H, W] (volumes)"}


def spatial_size(
    data: DataSettings, dims: int, minimum: int = 1, allow_none: bool = False
) -> tuple[int, ...] | None:
    """data.image_size as a tuple of `dims` ints; a single int means a square (or cube)
    of that side."""
    dataset, value = data.dataset, data.image_size
    if value is None:
        if allow_none:
            return None
        raise DataError(
            f"data.image_size must be set for dataset {dataset!r},"
            f" e.g. {_example(dims)}"
        )
    if _is_int(value):
        value = [value] * dims
    if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
        raise DataError(
            f"data.image_size must be an int or a list of ints, not {value!r}"
        )
    if len(value) != dims:
        raise DataError(
            f"dataset {dataset!r} needs data.image_size of the form"
            f" {_DIMS_NAME[dims]}, e.g. {_example(dims)}; got {list(value)}"
        )
    if min(value) < minimum:
        raise DataError(
            f"data.image_size {list(value)} is too small for {dataset!r}:"
            f" each side must be >= {minimum}"
        )
    return tuple(int(v) for v in value)


def channels(data: DataSettings, image: bool = False) -> int:
    """data.channels; real images can only be grayscale (1) or RGB (3)."""
    value = data.channels
    if not _is_int(value) or value < 1:
        raise DataError(f"data.channels must be a positive int, not {value!r}")
    if image and value not in (1, 3):
        raise DataError(
            f"data.channels must be 1 (grayscale) or 3 (RGB) for"
            f" {data.dataset!r}, not {value}"
        )
    return int(value)


def count(value, key: str, minimum: int = 0) -> int:
    """data.<key>, a count of at least `minimum`."""
    if not _is_int(value) or value < minimum:
        raise DataError(f"data.{key} must be an int >= {minimum}, not {value!r}")
    return int(value)


def fraction(value, key: str) -> float:
    """data.<key>, a fraction in [0, 1)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value < 1
    ):
        raise DataError(f"data.{key} must be a number in [0, 1), not {value!r}")
    return float(value)


def on_corrupt(data: DataSettings) -> str:
    value = data.on_corrupt
    if value not in ("error", "skip"):
        raise DataError(f"data.on_corrupt must be 'error' or 'skip', not {value!r}")
    return value


def centered(data: DataSettings) -> bool:
    """data.placement of the built-in shapes and volumes: centred objects, or anywhere they fit."""
    value = data.placement
    if value not in ("random", "centered"):
        raise DataError(f"data.placement must be 'random' or 'centered', not {value!r}")
    return value == "centered"


def synthetic_classes(available: list[str], data: DataSettings) -> list[str]:
    """The first K class names, K = data.num_classes (all of them when null)."""
    k = data.num_classes
    if k is None:
        return list(available)
    if not _is_int(k) or not 2 <= k <= len(available):
        raise DataError(
            f"data.num_classes must be between 2 and {len(available)} for"
            f" {data.dataset!r} (classes: {', '.join(available)}), not {k!r}"
        )
    return list(available[:k])


def check_num_classes(data: DataSettings, classes: list[str], where: str) -> None:
    """Real datasets define their classes; a configured num_classes must agree."""
    k = data.num_classes
    if k is not None and k != len(classes):
        raise DataError(
            f"data.num_classes is {k!r} but {where} has {len(classes)} classes"
            f" ({_short(classes)}); set data.num_classes to {len(classes)} or null"
        )


def _short(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _example(dims: int) -> str:
    return {1: "[256]", 2: "[32, 32]", 3: "[16, 16, 16]"}[dims]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
