"""The errors a user can cause. The CLI turns each into one line on stderr and exit status 2.

Anything else that escapes is a bug in cnntrain and keeps its traceback.
"""


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


class DeviceError(CnntrainError):
    """The requested device is not available on this machine."""
