"""Durable file writes: nothing a user made is ever left half-written.

Whole files (configs, checkpoints, reports) are written to a temporary file in
the same directory, flushed, fsynced and then ``os.replace``d onto the target,
so a crash, Ctrl-C or full disk leaves either the old file or the new one,
never a mix. JSONL logs are appended one fsynced line at a time; a crash in
the middle of an append can leave a truncated last line, which the readers here
drop.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from cnntrain.errors import CnntrainError

# errno values that mean "no room left": the user can fix these by freeing space.
_DISK_FULL = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def _disk_full_error(path: Path, existed: bool) -> CnntrainError:
    state = "the previous file is intact" if existed else "no partial file was left"
    return CnntrainError(
        f"{path}: disk full while saving; {state}. "
        "Free some space and run the command again."
    )


def _open_temp(path: Path, binary: bool) -> tuple[Path, IO[Any]]:
    """Create ``.<name>.<random>.tmp`` beside ``path`` (same filesystem: atomic)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            # O_EXCL: never clobber another writer's temp file. Mode 0o666 lets
            # the umask decide permissions, as for any normally created file.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        if binary:
            return tmp, os.fdopen(fd, "wb")
        return tmp, os.fdopen(fd, "w", encoding="utf-8")


def _remove_quietly(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.unlink()
    except OSError:
        pass  # already gone, or unremovable: the original error matters more


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Persist the rename itself; best effort, as not every OS/filesystem allows it."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a file object whose content replaces ``path`` only if the block succeeds.

    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (UTF-8 text). On any exception,
    KeyboardInterrupt included, the temporary file is removed and ``path`` is
    untouched. A full disk becomes a :class:`CnntrainError`; other OSErrors propagate.
    The parent directory must exist.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_writer mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    existed = path.exists()
    tmp: Path | None = None
    try:
        tmp, f = _open_temp(path, binary=mode == "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except BaseException as exc:
        _remove_quietly(tmp)
        if _is_disk_full(exc):
            raise _disk_full_error(path, existed) from exc
        raise
    fsync_dir(path.parent)


def remove_stale_temps(*paths: str | os.PathLike[str]) -> None:
    """Delete the temp files that a killed writer left beside ``paths``.

    SIGKILL (or power loss) skips atomic_writer's cleanup, leaving a hidden
    ``.<name>.<random>.tmp``: never mistaken for the file, but as large as it.
    Call only where one process owns the files, e.g. a run directory at resume.
    """
    for path in map(Path, paths):
        for tmp in path.parent.glob(f".{glob.escape(path.name)}.{'[0-9a-f]' * 8}.tmp"):
            _remove_quietly(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_writer(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_writer(path, "w") as f:
        f.write(text)


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line (a JSONL record) to ``path`` and fsync it before returning.

    If the file ends in a truncated line (a crash mid-append), a newline is
    written first so the new record is not glued onto the broken one.
    """
    if "\n" in line or "\r" in line:
        raise ValueError("append_line takes a single line without newlines")
    path = Path(path)
    data = (line + "\n").encode("utf-8")
    try:
        with open(path, "a+b") as f:
            if _ends_mid_line(f):
                data = b"\n" + data
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        if _is_disk_full(exc):
            raise CnntrainError(
                f"{path}: disk full while appending; earlier lines are intact. "
                "Free some space and run the command again."
            ) from exc
        raise


def _ends_mid_line(f: IO[bytes]) -> bool:
    end = f.seek(0, os.SEEK_END)
    if end == 0:
        return False
    f.seek(end - 1)
    return f.read(1) != b"\n"


def _parse_jsonl(path: Path) -> list[tuple[bytes, Any]]:
    """Return ``(raw_line, record)`` pairs, dropping a torn (broken) last line."""
    raw_lines = [ln for ln in path.read_bytes().split(b"\n") if ln.strip()]
    parsed: list[tuple[bytes, Any]] = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            parsed.append((raw, json.loads(raw.decode("utf-8"))))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both
            if number == len(raw_lines):
                break  # torn final append from a crash: the record was never complete
            raise CnntrainError(
                f"{path}: line {number} is not valid JSON, so the file was damaged "
                "by something other than an interrupted run. Fix or delete that line "
                "and run the command again."
            ) from None
    return parsed


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Read every record of a JSONL file, ignoring a truncated final line."""
    return [record for _, record in _parse_jsonl(Path(path))]


def rewrite_jsonl_upto(path: str | os.PathLike[str], key: str, last_value: int) -> int:
    """Keep only records whose ``key`` is <= ``last_value``; rewrite atomically.

    Used on resume: a crash between logging epoch N and checkpointing it would
    otherwise log epoch N twice. Records without ``key`` (or a non-numeric one)
    are not per-epoch records and are kept. A truncated final line is dropped.
    Kept lines are written back byte for byte. A missing file is fine (nothing
    logged yet). Returns the number of records kept.
    """
    path = Path(path)
    if not path.exists():
        return 0
    parsed = _parse_jsonl(path)
    kept = [raw for raw, record in parsed if _at_or_before(record, key, last_value)]
    new_content = b"".join(raw + b"\n" for raw in kept)
    if new_content != path.read_bytes():  # skip the write when nothing changes
        atomic_write_bytes(path, new_content)
    return len(kept)


def _at_or_before(record: Any, key: str, last_value: int) -> bool:
    if not isinstance(record, dict):
        return True
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return value <= last_value


def check_writable(path: str | os.PathLike[str], *, file: bool = False, flag: str = "--out") -> Path:
    """Fail before any work when `path` cannot take a command's output: a folder (or, with `file`, a
    file) that a file (or a folder) already stands in the way of, or a place this user cannot write
    (permissions, a read-only disk, /proc). Probed by creating and removing a temporary file in the
    nearest folder that exists, so nothing is left behind and no folder is made yet."""
    path = Path(path)
    if file and path.is_dir():
        raise CnntrainError(f"{flag} {path} is a folder; give a file name, e.g. {path / 'model.onnx'}")
    if not file and path.exists() and not path.is_dir():
        raise CnntrainError(f"{flag} {path} is an existing file; give a folder (new or existing) instead")
    folder = path.parent if file else path
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CnntrainError(f"{flag} {path}: {existing} is a file, so no folder can be made there; "
                            "give another place")
    try:
        tmp, f = _open_temp(existing / "probe", binary=True)
        f.close()
        tmp.unlink()
    except OSError as exc:
        raise CnntrainError(f"{flag} {path}: cannot write in {existing} ({exc.strerror or exc}); "
                            "give a folder you can write to") from None
    return path
