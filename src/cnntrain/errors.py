"""The errors a user can cause. The CLI turns each into one line on stderr and exit status 2.

Anything else that escapes is a bug in cnntrain and keeps its traceback.
"""

import difflib


class CnntrainError(Exception):
    """A mistake the user can fix: the message says what was wrong, where, and what to do."""


class ConfigError(CnntrainError):
    """The YAML config or a --set override is malformed or has a wrong value."""


class UnknownLayerError(ConfigError):
    """A layer type, or an argument of one, that the registry does not know."""


class ShapeError(ConfigError):
    """A layer cannot accept the shape that reaches it."""


class DataError(CnntrainError):
    """A dataset is missing, empty, corrupt or does not fit the config."""


class CheckpointError(CnntrainError):
    """A checkpoint is missing, unreadable, unsafe or does not match its config."""


class ExportError(CnntrainError):
    """An export that cannot be written, or whose file disagrees with the PyTorch model."""


class DeviceError(CnntrainError):
    """The requested device is not available on this machine."""


class TrainingDiverged(CnntrainError):
    """The loss became NaN or infinite."""


class RunLocked(CnntrainError):
    """Another process is writing the run directory (training or resuming it)."""


class SomeUnreadable(DataError):
    """Some inputs could not be read; the others were answered. Exit status 1: not a usage mistake."""

    exit_code = 1


class Interrupted(CnntrainError):
    """Ctrl-C: the last finished epoch is saved; the message says how to resume."""

    exit_code = 130


def check_keys(mapping: dict, valid, source: str, *, where: str) -> None:
    for key in mapping:
        if key not in valid:
            raise ConfigError(f"{source}: unknown key `{key}` in {where}{did_you_mean(key, valid)}")


def did_you_mean(word, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    valid = ", ".join(str(c) for c in choices)
    return f"; did you mean `{close[0]}`? Valid: {valid}" if close else f"; valid: {valid}"
