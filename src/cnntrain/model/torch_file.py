"""Reading a torch file without running it: `weights_only=True`, and telling a hostile file from a
broken one, for checkpoints (run/checkpoint.py) and model.init's weights (model/init.py) alike."""

from __future__ import annotations

import pickle
import pickletools
import re
import warnings
from pathlib import Path
from typing import IO, Any

import torch

# How torch phrases "this pickle wants a global / call you did not allow".
_UNSAFE_PICKLE = re.compile(r"GLOBAL|reduce|blocked|new object", re.IGNORECASE)
# Pickle opcodes that import or call Python objects.
_IMPORT_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}


def load_torch_file(file: str | Path | IO[bytes], map_location=None) -> Any:
    """torch.load with weights_only=True; its exceptions pass through for the caller to phrase."""
    with warnings.catch_warnings():
        # Foreign pickles trigger a protocol warning just before they are refused.
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        return torch.load(file, map_location=map_location, weights_only=True)


def refused_as_unsafe(file: Path, error: BaseException) -> bool:
    """Whether load_torch_file failed because the file holds Python objects that could run code."""
    return isinstance(error, pickle.UnpicklingError) and bool(
        _UNSAFE_PICKLE.search(str(error)) or _imports_objects(file)
    )


def _imports_objects(file: Path) -> bool:
    """Whether a raw pickle imports Python objects: decodes opcodes, never runs them.

    torch's safe unpickler stops at some opcodes (e.g. protocol 4 framing) before
    it reaches the import, so its message alone would call a hostile file "corrupt".
    """
    try:
        with open(file, "rb") as f:
            return any(op.name in _IMPORT_OPCODES for op, _, _ in pickletools.genops(f))
    except Exception:  # not a pickle at all (a zip, garbage): nothing to report
        return False
