"""The flock mechanics of the project's three locks: one job process per working dir
(learning.job.lock), the CPUs of local_cpu_pinning (learning.job.learner), one launcher
per results folder (learning.launch.results_folder).

Each is an exclusive ``flock`` taken without waiting on a lock file that is never
truncated when opened, so the holder's record in it (who holds the lock) stays readable
to a process that finds the lock taken. The kernel releases a flock when the last
descriptor of its open file is closed, also when the process is killed.
"""

from __future__ import annotations

import errno
import fcntl
import time
from typing import IO

#: flock errors that mean "this file system cannot lock", not "someone holds the lock"
UNSUPPORTED = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})
#: flock errors that mean "another open file holds the lock"
HELD = frozenset({errno.EWOULDBLOCK, errno.EACCES})


def open_untruncated(path: object) -> IO[str]:
    """The lock file, made if missing, opened for reading and appending: never truncated,
    so the holder's record stays readable."""
    return open(path, "a+")  # noqa: SIM115 (the caller holds it as long as the lock)


def try_lock(file: IO[str] | int) -> bool:
    """Take an exclusive flock on ``file`` (an open file or a descriptor) without waiting:
    True if taken, False if another open file holds it; OSError for any other failure
    (``errno`` in :data:`UNSUPPORTED`: the file system cannot lock)."""
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in HELD:
            return False
        raise
    return True


def lock_within(file: IO[str] | int, wait: float, poll: float = 0.5) -> bool:
    """Take an exclusive flock, trying every ``poll`` seconds for ``wait`` seconds; False
    if it could not be taken (held by another, or any other failure) in that time."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if try_lock(file):
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def write_holder(file: IO[str], text: str) -> None:
    """Replace the lock file's record of its holder (OSError if it cannot be written)."""
    file.seek(0)
    file.truncate()
    file.write(text)
    file.flush()


def read_holder(file: IO[str]) -> str:
    """The lock file's record of its holder ("" if none)."""
    file.seek(0)
    return file.read().strip()
