"""Atomic file writes: readers see the old or the new file, never a part of one.

The text goes to a temporary file in the same folder, is flushed to disk, and replaces
the target with ``os.replace``; the rename is then made durable by syncing the folder.
A write that fails at any step (creating, writing, fsync, the rename: a full disk, a
quota, a read-only file system) removes its temporary file and raises the OSError with
the target's path, so the message names the file that could not be written.

The temporary file is created like any other file (``open`` with mode 0666, less the
umask and the folder's default ACL), not with mkstemp's 0600: a shared results folder
under umask 002 gets group-writable files.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside ``path``: (descriptor, its path)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name beside {path}")


def _sync_folder(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself is done
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    tmp = None
    try:
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):  # name the target, not the temporary file (or none)
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    _sync_folder(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any, indent: int = 2, sort_keys: bool = False):
    """``data`` as JSON (NaN written as NaN, as json.dumps does) plus a final newline."""
    atomic_write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")
