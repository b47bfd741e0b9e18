"""The user's private cache folder, ``~/.cache/lttfs`` (``$XDG_CACHE_HOME/lttfs``).

What lttfs caches there is derived data that any process can rebuild (e.g. the
stable-baselines3 argument schema, learning.config.sb3_schema), so a folder or file that
cannot be trusted is not used: the caller rebuilds what it wanted and goes on.

The folder is used only if it is a real directory (not a symbolic link) of this user; it
is made with mode 0700 and tightened to 0700 if it was readable or writable by others
(the sweeps' secrets folder below it was made with the default mode by earlier versions).
A cached file is read only if it is a regular file of this user that no other user may
write to, opened without following a symbolic link, and parsed as JSON data (nothing in
it is evaluated); it is written atomically (learning.atomic_io: temporary file, fsync,
rename), so a reader sees a whole file or none.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from learning.atomic_io import atomic_write_json


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "lttfs"


def private_cache_folder() -> Path | None:
    """The cache folder, made or tightened to 0700; None if it is not this user's own."""
    folder = cache_folder()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid():
            return None
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o700)
    except OSError:
        return None
    finally:
        os.close(fd)
    return folder


def read_private_json(path: Path) -> Any:
    """The JSON value in ``path``; None if it is missing, not a regular file of this user,
    writable by others, or not valid JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid()
                    or info.st_mode & 0o022):
                return None
            return json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return None


def write_private_json(path: Path, value: Any) -> bool:
    """Write ``value`` to ``path`` atomically; False if it cannot be written."""
    try:
        atomic_write_json(path, value, indent=1)
    except OSError:
        return False
    return True
