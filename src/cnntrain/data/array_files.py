"""One array file -> a float32 numpy array, or one DataError naming the file and what is wrong.

`.npy` and `.npz` are read with allow_pickle=False, always: an array of Python objects is refused
before anything in it is built. NIfTI volumes (`.nii`, `.nii.gz`) go through nibabel, in the file's
own voxel order (no reorientation: the axes are the array's axes), with the header's scaling applied.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from cnntrain.errors import DataError

NIFTI = (".nii", ".nii.gz")
ARRAY_EXTENSIONS = (".npy", *NIFTI)  # one sample per file


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI)


def read_sample(path: str | Path) -> np.ndarray:
    """A one-sample file (.npy or NIfTI) as float32, its values checked to be finite."""
    path = Path(path)
    array = read_nifti(path) if is_nifti(path) else read_npy(path)
    return finite(as_float(array, path), path)


def read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """A .npy array (memory-mapped with `mmap`: nothing is read until used)."""
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except ValueError as err:
        if "pickle" in str(err).lower() or "object" in str(err).lower():
            raise DataError(f"{path} holds Python objects, not numbers; refused (cnntrain never unpickles "
                            "data): save a numeric array, e.g. np.save(path, x.astype(np.float32))") from None
        raise DataError(f"{path} is not a readable .npy array (truncated or corrupt? {err})") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npy array (truncated or corrupt? {err})") from None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, by name."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: _member(path, archive, name) for name in archive.files}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"{path} is not a readable .npz archive (truncated or corrupt? {err})") from None


def _member(path: Path, archive, name: str) -> np.ndarray:
    try:
        return archive[name]
    except ValueError as err:
        if "pickle" in str(err).lower() or "object" in str(err).lower():
            raise DataError(f"{path}: its array {name!r} holds Python objects, not numbers; refused "
                            "(cnntrain never unpickles data): save numeric arrays and string labels") from None
        raise


def read_nifti(path: Path) -> np.ndarray:
    """A NIfTI image as float32 [X, Y, Z] (a 4th axis, channels or time, becomes the first)."""
    import nibabel  # deferred: only volumes need it

    try:
        image = nibabel.load(str(path))
        array = np.asarray(image.dataobj, dtype=np.float32)  # applies scl_slope / scl_inter
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as err:  # nibabel, gzip and zlib raise many types for one broken file
        raise DataError(f"{path} is not a readable NIfTI volume (truncated or corrupt? "
                        f"{type(err).__name__}: {err})") from None
    if array.ndim == 4:
        array = np.moveaxis(array, -1, 0)  # NIfTI keeps time or channels last; cnntrain wants them first
    return array


def as_float(array: np.ndarray, path: Path) -> np.ndarray:
    """Numbers (bool, int, float) as float32; anything else is an error naming the file."""
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path} holds {array.dtype} values; an array sample must hold numbers")
    return np.asarray(array, dtype=np.float32)


def finite(array: np.ndarray, path: Path | str, what: str = "") -> np.ndarray:
    """The array itself, or an error saying where its first NaN or Inf is."""
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = array[where]
        raise DataError(f"{path}{what}: value {value} at index {list(where)} is not a finite number; "
                        "fix or drop that sample (cnntrain does not guess missing values)")
    return array
