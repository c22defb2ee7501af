"""Atomic writes leave the old file or the new one, never a mix; JSONL survives torn
appends."""

import errno
import json
import os

import pytest

from cnntrain import atomic
from cnntrain.atomic import (
    append_line,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    read_jsonl,
    rewrite_jsonl_upto,
)
from cnntrain.errors import CnntrainError


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_write_bytes_and_text(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == []


def test_temp_file_is_hidden_in_same_directory(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_writer(target) as f:
        f.write(b"x")
        (name,) = _leftovers(tmp_path)  # exists in the target's directory while writing
        assert not target.exists()
    assert name.startswith(".out.bin.") and name.endswith(".tmp")
    assert target.read_bytes() == b"x" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_write_keeps_old_content(tmp_path, exc_type):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(exc_type):
        with atomic_writer(target, "w") as f:
            f.write("new, but only half")
            raise exc_type("boom")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_failure_on_new_file_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_writer(tmp_path / "new.bin") as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_becomes_user_error(tmp_path, monkeypatch, code):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")

    def full(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(CnntrainError) as info:
        atomic_write_bytes(target, b"new" * 1000)
    message = str(info.value)
    assert str(target) in message
    assert "disk full" in message and "previous file is intact" in message
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_other_oserrors_propagate(tmp_path, monkeypatch):
    def denied(fd):
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(atomic.os, "fsync", denied)
    with pytest.raises(PermissionError):
        atomic_write_bytes(tmp_path / "x", b"data")
    assert _leftovers(tmp_path) == []


def test_bad_mode_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError):
        with atomic_writer(tmp_path / "x", "a"):
            pass


def test_append_line(tmp_path):
    log = tmp_path / "metrics.jsonl"
    append_line(log, json.dumps({"epoch": 1}))
    append_line(log, json.dumps({"epoch": 2}))
    assert log.read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    with pytest.raises(ValueError):
        append_line(log, "two\nlines")


def test_append_after_torn_line_keeps_new_record_whole(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"epoch": 1}\n{"epoch": 2, "lo')
    append_line(log, '{"epoch": 3}')
    assert log.read_text().splitlines()[-1] == '{"epoch": 3}'


def test_append_disk_full(tmp_path, monkeypatch):
    log = tmp_path / "metrics.jsonl"

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(CnntrainError, match="disk full"):
        append_line(log, "{}")


def _write_log(path, epochs, torn_tail=""):
    lines = [json.dumps({"epoch": e, "loss": 1.0 / e}) for e in epochs]
    path.write_text("".join(line + "\n" for line in lines) + torn_tail)


def test_rewrite_keeps_each_epoch_once(tmp_path):
    log = tmp_path / "metrics.jsonl"
    # Crash after logging epoch 3 but before checkpointing it: resume from 2.
    _write_log(log, [1, 2, 3])
    assert rewrite_jsonl_upto(log, "epoch", 2) == 2
    assert [r["epoch"] for r in read_jsonl(log)] == [1, 2]
    assert _leftovers(tmp_path) == []


def test_rewrite_drops_torn_last_line(tmp_path):
    log = tmp_path / "metrics.jsonl"
    _write_log(log, [1, 2], torn_tail='{"epoch": 3, "lo')
    assert [r["epoch"] for r in read_jsonl(log)] == [1, 2]
    rewrite_jsonl_upto(log, "epoch", 5)
    assert log.read_text() == "".join(
        json.dumps({"epoch": e, "loss": 1.0 / e}) + "\n" for e in (1, 2)
    )


def test_rewrite_drops_torn_utf8_tail(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_bytes(b'{"epoch": 1}\n{"note": "\xc3')  # cut inside a multibyte char
    assert rewrite_jsonl_upto(log, "epoch", 1) == 1
    assert log.read_text() == '{"epoch": 1}\n'


def test_rewrite_keeps_records_without_key_and_unchanged_bytes(tmp_path):
    log = tmp_path / "metrics.jsonl"
    content = '{"event": "start"}\n{"epoch": 1,   "loss": 0.50}\n'
    log.write_text(content)
    assert rewrite_jsonl_upto(log, "epoch", 1) == 2
    assert log.read_text() == content  # lines are kept byte for byte


def test_rewrite_missing_file_is_fine(tmp_path):
    assert rewrite_jsonl_upto(tmp_path / "none.jsonl", "epoch", 3) == 0
    assert not (tmp_path / "none.jsonl").exists()


def test_corrupt_middle_line_is_a_user_error(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"epoch": 1}\nnot json\n{"epoch": 2}\n')
    with pytest.raises(CnntrainError, match=r"metrics\.jsonl: line 2"):
        rewrite_jsonl_upto(log, "epoch", 2)
