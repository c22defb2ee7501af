"""Time-series tables in the UCR/UEA archive's own formats: one labelled series per row.

- `NAME_TRAIN.tsv` / `NAME_TEST.tsv` (UCR 2018): the label in the first column, then the values,
  tab-separated; a shorter series ends in NaN (or empty fields).
- `NAME_TRAIN.ts` / `NAME_TEST.ts` (sktime/aeon, the UEA multivariate archive): `#` comments, `@`
  header lines, then after `@data` one row per series: each channel's values comma-separated, channels
  separated by `:`, the label last; `?` or NaN marks a missing value.

Each row becomes a float32 array [C, L] and its label a string. NaN at the end of a row is padding,
and the row's real length ends before it; NaN anywhere else is an error naming the file and row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnntrain.errors import DataError

TABLE_EXTENSIONS = (".tsv", ".ts")
_MISSING = {"", "?", "nan", "NaN", "NAN"}


@dataclass
class Table:
    rows: list[np.ndarray]  # each (C, L) float32, trailing NaN padding cut off
    labels: list[str | None]  # None for a .ts without class labels (predict's input)
    names: list[str]  # "file:row N", for messages and predictions


def is_table(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_EXTENSIONS


def read_table(path: str | Path, need_labels: bool = True) -> Table:
    """A .tsv or .ts file; with `need_labels` False (predict's input) a row's label may be missing (an
    empty first column in .tsv, `@classLabel false` in .ts)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not a readable text table ({err})") from None
    reader = _ts_rows if path.suffix.lower() == ".ts" else _tsv_rows
    table = Table([], [], [])
    for number, values, label in reader(path, lines):
        where = f"{path}:{number}"
        if need_labels and label is None:
            raise DataError(f"{where}: the row has no class label; every row of a training or test table "
                            "needs one (first column in .tsv, last field in .ts)")
        table.rows.append(_trim(values, where))
        table.labels.append(label)
        table.names.append(where)
    if not table.rows:
        raise DataError(f"{path} holds no rows of data")
    return table


def _tsv_rows(path: Path, lines: list[str]):
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t") if "\t" in line else line.split(",")
        label = _label(fields[0])
        values = _numbers(fields[1:], f"{path}:{number}")
        yield number, values[None, :], label  # (1, L): a UCR table is univariate


def _ts_rows(path: Path, lines: list[str]):
    in_data, has_labels = False, True
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not in_data:
            key = text.lower()
            if key.startswith("@timestamps") and key.endswith("true"):
                raise DataError(f"{path}:{number}: time-stamped .ts series are not supported; "
                                "write the values only (@timeStamps false)")
            if key.startswith("@classlabel"):
                has_labels = key.split()[1:2] == ["true"]
            in_data = key == "@data"
            continue
        fields = text.split(":")
        label = _label(fields[-1]) if has_labels else None
        channels = fields[:-1] if has_labels else fields
        where = f"{path}:{number}"
        yield number, _stack([_numbers(c.split(","), where) for c in channels], where), label
    if not in_data:
        raise DataError(f"{path} has no @data line; is it a .ts file in the sktime/UEA format?")


def _label(text: str) -> str | None:
    text = text.strip()
    if text in _MISSING:
        return None
    try:  # old UCR files write labels as floats ("1.0000000e+00"): a class is its integer
        number = float(text)
        return str(int(number)) if number.is_integer() else text
    except ValueError:
        return text


def _numbers(fields: list[str], where: str) -> np.ndarray:
    try:
        return np.array([np.nan if f.strip() in _MISSING else float(f) for f in fields], dtype=np.float32)
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        raise DataError(f"{where}: {bad.strip()!r} is not a number") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip() in _MISSING


def _stack(channels: list[np.ndarray], where: str) -> np.ndarray:
    """Channels of one row as (C, L); a shorter channel is NaN-padded at its end."""
    length = max(len(c) for c in channels)
    out = np.full((len(channels), length), np.nan, dtype=np.float32)
    for i, c in enumerate(channels):
        out[i, : len(c)] = c
    return out


def _trim(values: np.ndarray, where: str) -> np.ndarray:
    """Cut the trailing NaN padding; NaN before a real value, or Inf anywhere, is an error."""
    finite = np.isfinite(values)
    real = np.flatnonzero(finite.any(0))
    if real.size == 0:
        raise DataError(f"{where}: the row has no values")
    values = values[:, : real[-1] + 1]
    for c, channel in enumerate(values):
        present = np.flatnonzero(np.isfinite(channel))
        last = present[-1] + 1 if present.size else 0
        inside = ~np.isfinite(channel[:last])
        if inside.any() or np.isinf(channel).any():
            i = int(np.flatnonzero(~np.isfinite(channel))[0])
            extra = f" of channel {c + 1}" if len(values) > 1 else ""
            raise DataError(f"{where}: value {channel[i]} at position {i + 1}{extra} is not a finite number "
                            "(NaN only pads a row's end); fix or drop that row")
    return values
