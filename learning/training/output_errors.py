"""Files the learner cannot write: one clear line and a distinct exit code.

A full disk (ENOSPC), an exhausted quota (EDQUOT), a read-only file system, a folder
without write permission: the learner cannot save its model or logs, and retrying on the
same machine fails the same way. ``python -m learning`` prints one line naming the file,
``cannot write PATH: no space left on device``, removes its temporary files, and exits
with EXIT_NO_SPACE (74; ENOSPC, EDQUOT) or EXIT_WRITE_FAILED (73; any other OSError while
writing), so that whoever started it can tell a disk problem from a crash even when the
line itself could not be written (the learner's stderr is often on the same full disk).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from learning.contract import EXIT_NO_SPACE, EXIT_WRITE_FAILED, NO_SPACE_ERRNOS

#: errno values that can only come from writing (an OSError elsewhere may be a read)
WRITE_ONLY_ERRNOS = NO_SPACE_ERRNOS | {errno.EROFS}


class OutputError(Exception):
    """Writing ``path`` failed with ``error`` (an OSError)."""

    def __init__(self, path: str | Path, error: OSError):
        self.path = str(path)
        self.error = error
        super().__init__(str(self))

    @property
    def no_space(self) -> bool:
        return self.error.errno in NO_SPACE_ERRNOS

    @property
    def exit_code(self) -> int:
        return EXIT_NO_SPACE if self.no_space else EXIT_WRITE_FAILED

    def __str__(self) -> str:
        if self.error.errno == errno.ENOSPC:
            reason = "no space left on device"
        elif self.error.errno == errno.EDQUOT:
            reason = "no space left on device for this user (disk quota exceeded)"
        elif self.error.errno is not None:
            reason = f"{os.strerror(self.error.errno).lower()} (errno {self.error.errno})"
        else:
            reason = str(self.error)
        return f"cannot write {self.path}: {reason}"


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised inside into an OutputError naming the file (the error's own
    file name if it has one, else ``path``)."""
    try:
        yield
    except OSError as e:
        raise OutputError(e.filename or path, e) from e


def as_output_error(error: BaseException) -> OutputError | None:
    """An OutputError for ``error`` if it shows a failed write, else None.

    OSErrors raised deep inside a library (stable-baselines3's logger writing to stdout,
    say) have no file name; only those whose errno can only come from a write count."""
    if isinstance(error, OutputError):
        return error
    if isinstance(error, OSError) and error.errno in WRITE_ONLY_ERRNOS:
        where = error.filename or "a file the learner writes (stdout, log_path or save_path)"
        return OutputError(where, error)
    return None


def quiet_thread_write_failures(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """A threading.excepthook that leaves write failures to the main thread: TensorBoard's
    writer thread dies of a full disk with a traceback, then the main thread re-raises the
    same error at its next write, which reports it in one line."""

    def hook(args: Any) -> None:
        if as_output_error(args.exc_value) is None:
            previous(args)

    return hook


def say(message: str, stream: TextIO | None = None) -> None:
    """Print a message that the run's files record anyway (run_info.json): stdout or stderr
    on a full disk must not turn a finished or interrupted run into a failed one."""
    try:
        print(message, file=stream or sys.stdout)
    except OSError:
        pass


def remove_quietly(*paths: Path) -> None:
    """Delete temporary files, ignoring any error (cleanup after a failed write)."""
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError:
            pass
