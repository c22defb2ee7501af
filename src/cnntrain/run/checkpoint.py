"""Checkpoints are plain data: written atomically, read only with ``weights_only=True``.

A checkpoint is a dict holding at least ``model`` (a state dict) and ``config``;
whatever else the trainer stores is its business. ``save_checkpoint`` refuses
anything ``torch.load(weights_only=True)`` could not read back, so every file
cnntrain writes can be loaded without ever unpickling arbitrary Python objects.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from cnntrain.atomic import atomic_writer
from cnntrain.errors import CheckpointError
from cnntrain.model.torch_file import load_torch_file, refused_as_unsafe
from cnntrain.run.ctrl_c import holding_ctrl_c

LAST_CHECKPOINT = Path("checkpoints") / "last.pt"
BEST_CHECKPOINT = Path("checkpoints") / "best.pt"
REQUIRED_KEYS = ("model", "config")

# Exact types (not subclasses: numpy.float64 is a float subclass, an IntEnum an
# int subclass, and both pickle as globals that weights_only refuses).
_SCALARS = (str, int, float, bool, type(None), bytes, torch.dtype, torch.device)
_SEQUENCES = (list, tuple, torch.Size)
_MAPPINGS = (dict, OrderedDict)  # state_dict() returns an OrderedDict
# int keys: optimizer.state_dict()["state"] is keyed by parameter index.
_KEYS = (str, int)
_TENSORS = (torch.Tensor, torch.nn.Parameter)
_MAX_DEPTH = 64  # deeper than any real state; also stops reference cycles

def resolve_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """Map a run directory to ``<dir>/checkpoints/last.pt`` (what --resume continues); return a file
    path as is. Raises CheckpointError if the resulting file does not exist.
    """
    return _resolve(path, LAST_CHECKPOINT)


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """Map a run directory to ``<dir>/checkpoints/best.pt``, the weights its report, summary and test
    results describe (what evaluate, predict, explain, export and featuremaps use); a file path as is."""
    return _resolve(path, BEST_CHECKPOINT)


def _resolve(path: str | os.PathLike[str], inside: Path) -> Path:
    path = Path(path)
    if path.is_dir():
        candidate = path / inside
        if not candidate.is_file():
            hint = (" (no epoch has finished yet: pass checkpoints/last.pt to use the weights as they are)"
                    if (path / LAST_CHECKPOINT).is_file() else "")
            raise CheckpointError(
                f"{path} is a directory but has no {inside.as_posix()}{hint}; "
                "pass a run directory written by `cnntrain train` or the path "
                "to a .pt file."
            )
        return candidate
    if not path.exists():
        raise CheckpointError(
            f"{path}: checkpoint not found; pass an existing .pt file or a run "
            "directory."
        )
    return path


def home_of(path: Path) -> Path:
    """Where outputs about a model file go: its run directory when it sits in one (RUN/checkpoints/*.pt,
    RUN/export/model.onnx), else the folder that holds it."""
    folder = path.resolve().parent
    if folder.name in ("checkpoints", "export") and (folder.parent / "config.yaml").is_file():
        return folder.parent
    return folder


def weights_mismatch(model: torch.nn.Module, weights: dict) -> str | None:
    """How a state dict fails to fit a model, naming the layer and both shapes; None when it fits."""
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in weights:
            return f"layer {key.split('.')[0]}: this model has {key}, the checkpoint does not"
        saved = weights[key]
        if isinstance(saved, torch.Tensor) and saved.shape != tensor.shape:
            return (f"layer {key.split('.')[0]}: {key} is {_shape(saved)} in the checkpoint but {_shape(tensor)} "
                    "in this model")
    extra = [key for key in weights if key not in expected]
    return f"layer {extra[0].split('.')[0]}: the checkpoint has {extra[0]}, this model does not" if extra else None


def _shape(tensor: torch.Tensor) -> str:
    return " x ".join(map(str, tensor.shape)) or "a scalar"


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Atomically write ``state`` to ``path`` (parent directories are created).

    Raises TypeError if ``state`` holds anything but plain data (see module doc):
    that is a bug in the caller, caught here rather than when loading fails later.
    """
    if not isinstance(state, dict):
        raise TypeError(f"checkpoint state must be a dict, not {type(state).__name__}")
    _check_plain(state, "state", 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with holding_ctrl_c(), atomic_writer(path, "wb") as f:
        torch.save(state, f)
    return path


def _check_plain(obj: Any, where: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise TypeError(
            f"{where} is nested more than {_MAX_DEPTH} levels deep (a cycle?)"
        )
    kind = type(obj)
    if kind in _SCALARS or kind in _TENSORS:
        return
    if kind in _SEQUENCES:
        for i, item in enumerate(obj):
            _check_plain(item, f"{where}[{i}]", depth + 1)
        return
    if kind in _MAPPINGS:
        for key, value in obj.items():
            if type(key) not in _KEYS:
                raise TypeError(
                    f"{where} has key {key!r} of type {type(key).__name__}; "
                    "checkpoint keys must be str or int"
                )
            _check_plain(value, f"{where}[{key!r}]", depth + 1)
        return
    raise TypeError(
        f"{where} is a {kind.__module__}.{kind.__qualname__}; checkpoints hold "
        "only plain data (dict, list, tuple, str, int, float, bool, None, bytes, "
        "tensors, torch dtype/device/Size) so they load with weights_only=True. "
        "Convert it first (e.g. float(x), x.tolist(), or a state_dict())."
    )


def load_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint file, or ``<run dir>/checkpoints/last.pt``, safely.

    Always ``weights_only=True``: a file carrying pickled Python objects is
    refused before any of them is built. Every user-facing failure is a
    CheckpointError naming the file.
    """
    file = resolve_checkpoint_path(path)
    try:
        f = open(file, "rb")
    except OSError as exc:
        raise CheckpointError(
            f"{file}: cannot read checkpoint ({exc.strerror or exc}); "
            "check its permissions."
        ) from exc
    with f:
        try:
            state = load_torch_file(f, map_location)
        except Exception as exc:  # bad bytes surface as many types, OSError too
            if isinstance(exc, RuntimeError) and "device" in str(exc).lower():
                raise  # a bad map_location is the caller's problem, not the file's
            raise _load_error(file, exc) from exc
    _check_shape(file, state)
    return state


def _load_error(file: Path, exc: Exception) -> CheckpointError:
    """Turn a torch.load failure into the CheckpointError that explains it."""
    if refused_as_unsafe(file, exc):
        return CheckpointError(
            f"{file}: refused: it contains Python objects that could run code; "
            "cnntrain only loads plain checkpoints it wrote (weights_only=True)."
        )
    return CheckpointError(
        f"{file}: unreadable: not a torch checkpoint, or truncated/corrupt (perhaps an "
        "interrupted save or copy). Copy it again or use another checkpoint."
    )


def _check_shape(file: Path, state: Any) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{file}: not a cnntrain checkpoint (it holds a {type(state).__name__}, "
            "not a dict); pass a checkpoint written by `cnntrain train`."
        )
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(
            f"{file}: not a cnntrain checkpoint "
            f"(missing {', '.join(map(repr, missing))}); "
            "pass a checkpoint written by `cnntrain train`."
        )
