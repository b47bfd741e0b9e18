"""learning.atomic_io: the umask decides the mode, and no failure leaves a temporary file
(a real full tmpfs, a read-only one, and injected failures of fsync and the rename)."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

import learning.atomic_io as atomic_io
from learning.atomic_io import atomic_write_json, atomic_write_text


@pytest.fixture
def umask():
    """Set the process umask for one test (restored afterwards)."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "job_state.json"
    atomic_write_json(target, {"a": 1})
    assert mode(target) == expected
    plain = tmp_path / "plain.txt"  # what open() gives every other file
    plain.write_text("x")
    assert mode(plain) == expected
    atomic_write_json(target, {"a": 2})  # a replaced file too
    assert mode(target) == expected and json.loads(target.read_text()) == {"a": 2}


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_full_disk_leaves_the_old_file_and_no_temporary_file(small_disk, fill_disk):
    disk = small_disk(256)
    target = disk / "evaluation.json"
    atomic_write_json(target, {"old": True})
    fill_disk(disk)
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "x" * 100_000)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(target)  # names the target, not the temporary file
    assert "No space left on device" in str(info.value) and str(target) in str(info.value)
    assert json.loads(target.read_text()) == {"old": True}
    assert leftovers(disk) == []


def test_read_only_file_system_names_the_target(small_disk):
    disk = small_disk(64, read_only=True)
    with pytest.raises(OSError) as info:
        atomic_write_json(disk / "report.html", {})
    assert info.value.errno == errno.EROFS and info.value.filename == str(disk / "report.html")


@pytest.mark.parametrize("stage", ["fsync", "replace"])
def test_failure_at_fsync_or_rename_leaves_no_temporary_file(tmp_path, monkeypatch, stage):
    """Fault injection: tmpfs never fails fsync or rename for lack of space, but network file
    systems (NFS, Lustre) report ENOSPC or EDQUOT there; os.fsync / os.replace are made to
    fail the way they do."""
    target = tmp_path / "run_info.json"
    atomic_write_json(target, {"old": True})

    def fail(*args, **kwargs):
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    monkeypatch.setattr(atomic_io.os, stage, fail)
    with pytest.raises(OSError) as info:
        atomic_write_json(target, {"new": True})
    monkeypatch.undo()
    assert info.value.errno == errno.EDQUOT and info.value.filename == str(target)
    assert json.loads(target.read_text()) == {"old": True}
    assert leftovers(tmp_path) == []


def test_missing_folder_is_an_error_naming_the_target(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        atomic_write_text(tmp_path / "gone" / "x.json", "{}")
    assert info.value.filename == str(tmp_path / "gone" / "x.json")
