"""The job's writes on a disk that may fill up or refuse them.

A full disk (or quota) or a read-only one is not a fault of the hyperparameters and
retrying on the same disk fails the same way: the job stops with :class:`JobWriteFailed`
(``job failed: no space left on device: PATH; free space and run the same command again
to continue``), its restart state as the last write left it, so that the same command
continues once the disk is usable. What the job itself writes:

- ``job_state.json`` (learning.records.job_state): atomic; :class:`SpaceReserve` keeps a small
  file of the job's own beside it (``.job_state.reserve``) and gives its space up when the
  disk is full, so that the state still records how the job stopped and how its learners
  ended;
- ``job.log`` (:class:`JobLog`): a line that cannot be appended still goes to stdout, and
  the failure is reported once;
- cluster_utils' ``settings.json`` (initialize_job), ``metrics.csv`` and
  ``param_choice.csv`` (finalize_job), which cluster_utils 3.0 writes with a plain
  ``open(..., "w")`` (a full disk left a 0-byte settings.json, the job's only copy of its
  parameters when it was started from that file): :func:`write_cluster_utils_files_atomically`
  replaces its two private writers with atomic ones.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster_utils import client

from learning.atomic_io import atomic_write_bytes, atomic_write_text
from learning.contract import (
    EXIT_NO_SPACE,
    EXIT_WRITE_FAILED,
    NO_SPACE_ERRNOS,
    OUTCOME_NO_SPACE,
    OUTCOME_WRITE_FAILED,
)
from learning.job.settings import JobFailed

RESERVE_FILE = ".job_state.reserve"
RESERVE_BYTES = 256 * 1024  #: room for several copies of a large restart state


class JobWriteFailed(JobFailed):
    """The job or one of its learners could not write; ``outcome`` is no_space or
    write_failed. Not a failure of the job's parameters: run it again once fixed."""

    def __init__(self, message: str, no_space: bool) -> None:
        super().__init__(message)
        self.no_space = no_space

    @property
    def outcome(self) -> str:
        return OUTCOME_NO_SPACE if self.no_space else OUTCOME_WRITE_FAILED

    @property
    def exit_code(self) -> int:
        return EXIT_NO_SPACE if self.no_space else EXIT_WRITE_FAILED


def failed_write(error: OSError, path: str | Path) -> tuple[str, str]:
    """The outcome (no_space or write_failed) of an OSError while writing ``path`` (or the
    file the error names), and the learner's line for it: ``cannot write PATH: reason``."""
    no_space = error.errno in NO_SPACE_ERRNOS
    reason = os.strerror(error.errno) if error.errno else str(error)
    return (OUTCOME_NO_SPACE if no_space else OUTCOME_WRITE_FAILED,
            f"cannot write {error.filename or path}: {reason.lower()}")


#: the learner's line: cannot write PATH: REASON (learning.training.output_errors)
_LINE = re.compile(r"cannot write (?P<path>.+?): (?P<reason>[^:]+)$")


def write_stop(kind: str, line: str, where: str | Path) -> JobWriteFailed:
    """Why the job stops after a write failed: ``kind`` (no_space or write_failed), the
    ``cannot write PATH: reason`` line of the learner or the job (or another message about
    ``where``)."""
    match = _LINE.search(line)
    path, reason = (match["path"], match["reason"]) if match else (f"{where} ({line})",
                                                                  "a file could not be written")
    if kind == OUTCOME_NO_SPACE:
        return JobWriteFailed(f"no space left on device: {path}; free space and run the same"
                              " command again to continue", no_space=True)
    return JobWriteFailed(f"cannot write {path}: {reason}; make it writable and run the same"
                          " command again to continue", no_space=False)


def job_write_failed(error: OSError, path: str | Path) -> JobWriteFailed:
    """The job could not write ``path`` (or the file the error names)."""
    return write_stop(*failed_write(error, path), path)


def working_dir_vanished(working_dir: Path) -> str | None:
    """Why the job cannot go on if its working directory is gone (deleted while the job
    ran: an ``rm -rf`` of the results folder); None while it is there. Its learners then
    fail to read their configs (exit code 2) or to write, and the job's writes fail:
    neither a config error nor a full or read-only disk, and running the same command
    again does not continue the job, whose restart state went with the folder."""
    try:
        os.stat(working_dir)
    except (FileNotFoundError, NotADirectoryError) as e:
        return (f"the working directory {working_dir} vanished"
                f" ({os.strerror(e.errno).lower()}) while the job ran: its restart state"
                " and run folders went with it (deleted?), so the job cannot go on")
    except OSError:
        return None  # not readable now (permission, I/O): the failed writes tell
    return None


class SpaceReserve:
    """A file of RESERVE_BYTES beside the restart state, whose space the state gets when
    the disk is full: :meth:`write` deletes it and tries once more."""

    def __init__(self, working_dir: Path) -> None:
        self.path = Path(working_dir) / RESERVE_FILE

    def create(self) -> None:
        """Best effort: on a disk already full there is none (random bytes, so that a
        compressing file system stores them all)."""
        try:
            if not self.path.exists() or self.path.stat().st_size < RESERVE_BYTES:
                atomic_write_bytes(self.path, os.urandom(RESERVE_BYTES))
        except OSError:
            pass

    def write(self, write: Callable[[], None]) -> None:
        """``write()``; on a full disk, free the reserve and call it once more."""
        try:
            write()
        except OSError as e:
            if e.errno not in NO_SPACE_ERRNOS or not self._free():
                raise
            write()

    def _free(self) -> bool:
        try:
            self.path.unlink()
        except OSError:
            return False
        return True


class JobLog:
    """Appends timestamped lines to working_dir/job.log and echoes them to stdout. A line
    that cannot be appended (a full disk) is reported once on stderr and then only
    printed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed: OSError | None = None

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [pid {os.getpid()}] {message}"
        _print(line, sys.stdout)
        if self.failed is not None:
            return
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError as e:
            self.failed = e
            _print(f"warning: cannot write {self.path}: {os.strerror(e.errno or 0).lower()};"
                   " the job's lines go to its stdout only from now on", sys.stderr)


def _print(line: str, stream: Any) -> None:
    try:
        print(line, file=stream, flush=True)
    except OSError:
        pass  # stdout on the full disk too: the restart state records what matters


# --------------------------------------------------------------------------- cluster_utils


def _write_settings_json(setting_dict: Any, working_dir: str) -> None:
    text = json.dumps(setting_dict, sort_keys=True, indent=4, cls=client.SettingsJsonEncoder)
    atomic_write_text(Path(working_dir) / "settings.json", text)


def _write_one_line_csv(dct: Any, filename: str | os.PathLike) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=dct.keys())
    writer.writeheader()
    writer.writerow(dct)
    atomic_write_text(filename, text.getvalue())


#: cluster_utils 3.0's private writers of a job's files, and their atomic replacements
CLUSTER_UTILS_WRITERS = {"_save_settings_to_json": _write_settings_json,
                         "_save_dict_as_one_line_csv": _write_one_line_csv}


def write_cluster_utils_files_atomically() -> None:
    """Make cluster_utils' client write settings.json, metrics.csv and param_choice.csv
    atomically (temp file + rename): a full disk then leaves the old file or none, and
    raises an OSError naming the file."""
    for name, replacement in CLUSTER_UTILS_WRITERS.items():
        if not hasattr(client, name):
            raise RuntimeError(f"cluster_utils.client.{name} is gone: update"
                               " learning/job/disk.py for this cluster_utils version")
        setattr(client, name, replacement)

