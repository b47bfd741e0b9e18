"""Failed jobs, each with its own words: shown as they fail, recorded, and a sweep whose
first jobs all fail is stopped.

cluster_utils 3.0 prints "Job N on hostname None failed with error:" followed by what it
knows, which in local mode is nothing (the job script sends its stderr to a ``.err`` file
in cluster_utils' jobs folder and cluster_utils reads the empty pipe), and after six such
jobs it raises "Too many jobs failed" or crashes on its empty results table.

:class:`FailureWatch` is called by the launcher's cluster class
(learning.launch.cluster_utils_patches) whenever cluster_utils checks for failed jobs:

- every newly failed job gets one line: ``job N failed: <the last line of its own error
  output> (<file>)``. The error output is the job script's ``.err`` file (local:
  ``<jobs folder>/<iteration>_<id>.sh.err``; Slurm: ``<iteration>_<id>.err``), else what
  the job sent to the server, else the job's ``job.log``;
- every failure is recorded in ``<results>/failed_jobs.json`` (the last lines of its
  error output, as data; cluster_utils deletes its jobs folder at the end; format and
  reader: learning.records.failed_jobs), which the inspection shows;
- when ``stop_after`` jobs (default 3) have failed and none has finished yet, it raises
  :class:`SweepFailing` with one paragraph: the cause as the first job printed it, the
  file to read, and what to do; the launcher then stops the sweep's jobs and exits 1.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from learning.contract import JOB_LOG_FILE
from learning.records.failed_jobs import (
    FailedJob,
    failed_jobs_path,
    read_failed_jobs,
    write_failed_jobs,
)

DEFAULT_STOP_AFTER = 3
TAIL_LINES = 20
#: lines cluster_utils' client or bash add around a job's own message
NOISE_PREFIXES = ("Sending errors to", "Sending confirmation of exit", "Failed with exit code")


class SweepFailing(Exception):
    """The sweep's first jobs all failed; the message is the paragraph to show."""


def _tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(size - 64 * 1024, 0))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    kept = [line.rstrip() for line in text.splitlines()
            if line.strip() and not line.startswith(NOISE_PREFIXES)]
    return kept[-lines:]


def error_files(job: Any) -> list[Path]:
    """Where a cluster_utils job's script wrote its stderr (local and Slurm names)."""
    script = getattr(job, "run_script_path", None)
    if not script:
        return []
    return [Path(f"{script}.err"), Path(script).with_suffix(".err")]


def describe(job: Any) -> FailedJob:
    """What a failed job said, from the best source there is."""
    tail, source = [], "cluster_utils"
    for path in error_files(job):
        tail = _tail(path)
        if tail:
            source = str(path)
            break
    if not tail and job.error_info:
        tail = [line for line in str(job.error_info).splitlines() if line.strip()][-TAIL_LINES:]
    if not tail:
        settings = getattr(job, "final_settings", None) or {}
        working_dir = settings.get("working_dir") if isinstance(settings, dict) else None
        if working_dir:
            path = Path(working_dir) / JOB_LOG_FILE
            tail, source = _tail(path), str(path)
    error = tail[-1].strip() if tail else (
        f"no error output ({job.error_info or 'the job printed nothing'})")
    return FailedJob(int(job.id), getattr(job, "iteration", None), error, source, tail,
                     time.strftime("%Y-%m-%d %H:%M:%S"))


class FailureWatch:
    """Reports, records and judges a sweep's failed jobs (see the module docstring)."""

    def __init__(self, root: Path, stop_after: int = DEFAULT_STOP_AFTER,
                 continue_command: str = "") -> None:
        self.root = Path(root)
        self.stop_after = stop_after
        self.continue_command = continue_command
        self.reported: dict[int, FailedJob] = {}
        self.earlier = read_failed_jobs(self.root)
        self.finished_any = False

    def check(self, cluster: Any) -> None:
        """Report the jobs that failed since the last call; SweepFailing if the sweep's
        first jobs all failed."""
        self.finished_any = self.finished_any or cluster.n_successful_jobs > 0
        new = [job for job in cluster.failed_jobs if int(job.id) not in self.reported]
        for job in new:
            failure = describe(job)
            self.reported[failure.job_id] = failure
            line = f"job {failure.job_id} failed: {failure.error} ({failure.source})"
            logging.getLogger("cluster_utils").warning(line)
            print(line)  # stdout is tqdm's writer here: it takes no flush
        if new:
            self.save()
        if (self.stop_after and not self.finished_any
                and len(self.reported) >= self.stop_after):
            raise SweepFailing(self.paragraph())

    def save(self) -> None:
        try:
            write_failed_jobs(self.root, self.earlier + list(self.reported.values()))
        except OSError as e:
            print(f"note: cannot record the failed jobs in {e.filename}: {e.strerror}")

    def paragraph(self) -> str:
        first = min(self.reported.values(), key=lambda f: f.job_id)
        shown = "\n".join(f"    {line}" for line in first.tail[-5:]) or f"    {first.error}"
        return (
            f"sweep stopped: its first {len(self.reported)} jobs failed and none finished, so"
            f" the others would most likely fail the same way. Job {first.job_id} printed:\n"
            f"{shown}\n"
            f"Read it in full in {first.source}; every failed job's error output is recorded"
            f" in {failed_jobs_path(self.root)}. Fix the cause, then continue with:\n"
            f"    {self.continue_command or 'the same command with --resume'}"
        )
