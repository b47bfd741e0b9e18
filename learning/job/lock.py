"""One job process per working directory: an exclusive ``flock`` on ``job.lock``.

A second copy of a job started in the same working directory (a settings.json run by
hand while cluster_utils runs the job, a requeued cluster job whose first copy still
runs) would take the first one's learners for orphans of a killed job and stop them, and
both would write the same restart state. The job takes the lock before it reads or
writes anything else in its working directory and holds it until its process ends (the
kernel releases it then, also on SIGKILL; learners do not inherit it). A second copy
finds it held and stops at once, naming the holder, without touching the directory.

File systems without flock (some network file systems) get a warning: the job runs
without the lock.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import IO

from learning.contract import JOB_LOCK_FILE
from learning.job.disk import job_write_failed
from learning.job.settings import JobFailed
from learning.locks import UNSUPPORTED, open_untruncated, read_holder, try_lock, write_holder


class JobRunning(JobFailed):
    """Another process runs this job in the same working directory."""


class WorkingDirLock:
    """Holds ``working_dir/job.lock`` from :meth:`acquire` until :meth:`release` or the
    process's end."""

    def __init__(self, working_dir: Path) -> None:
        self.path = Path(working_dir) / JOB_LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> str | None:
        """Take the lock; JobRunning if another process holds it. Returns a warning when
        the file system cannot lock (the job then runs without), else None."""
        try:  # not truncated: the holder's record stays readable
            handle = open_untruncated(self.path)
        except OSError as e:
            raise job_write_failed(e, self.path) from e
        try:
            taken = try_lock(handle)
        except OSError as e:
            handle.close()
            if e.errno in UNSUPPORTED:
                return (f"warning: cannot lock {self.path} ({os.strerror(e.errno)}): a second"
                        " copy of this job in the same folder would not be noticed")
            raise
        if not taken:
            holder = read_holder(handle) or "its process is unknown"
            handle.close()
            raise JobRunning(
                f"another copy of this job is running in {self.path.parent} ({holder}); this"
                " one stops without touching it. Let that copy finish (or stop it), then run"
                " the same command again to continue"
            )
        self._file = handle
        self._record(handle)
        return None

    @staticmethod
    def _record(handle: IO[str]) -> None:
        """Who holds the lock, for the message of a second copy (best effort: a full disk
        leaves it empty)."""
        try:
            write_holder(handle, f"pid {os.getpid()} on {socket.gethostname()} since"
                                 f" {time.strftime('%Y-%m-%d %H:%M:%S')}")
        except OSError:
            pass

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None

    def __enter__(self) -> str | None:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
