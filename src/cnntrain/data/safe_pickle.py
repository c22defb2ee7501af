"""Load pickles that may hold only plain data and numpy arrays (CIFAR batches).

Why: unpickling runs whatever callables the file names (`os.system`, `subprocess.Popen`,
`builtins.eval`, ...) through Unpickler.find_class, so a hostile file dropped into the
data folder would execute code the moment cnntrain reads it. This unpickler resolves
only the few globals a numpy array's pickle needs and refuses everything else, before
anything is called. Plain containers (dict, list, str, bytes, int) need no globals at
all.
"""

from __future__ import annotations

import codecs
import pickle

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """How Python 3 pickles bytes at protocol 2: `_codecs.encode(text, "latin1")`."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(
            f"refusing _codecs.encode with encoding {encoding!r}"
        )
    return text.encode("latin1")


# Pickled arrays are rebuilt by _reconstruct (protocols 0-4) or _frombuffer (protocol
# 5), then ndarray.__setstate__ with a dtype; files written by numpy 1.x name the old
# numpy.core paths.
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _numeric._frombuffer


class ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def load(path: str) -> object:
    """Unpickle a file that may only hold numpy arrays and plain data.

    encoding="latin1" reads Python 2 pickles (the official CIFAR files), whose numpy
    array bytes were pickled as str, back into the right bytes.
    """
    with open(path, "rb") as f:
        return ArraysOnlyUnpickler(f, encoding="latin1").load()
