"""A sweep's failed jobs: ``<results_dir>/<name>/failed_jobs.json`` (contract.
FAILED_JOBS_FILE), each with the last lines of its own error output. Written by the
launcher (learning.launch.failures) as jobs fail, read by the launcher when a sweep
continues and by the inspection (learning.analysis.results).

Format ``lttfs-failed-jobs/1``: ``{"format", "jobs": [FailedJob, ...]}``, each job the
``asdict`` form of :class:`FailedJob`. Read as data; an entry of the wrong shape is
skipped, a file that is missing, unreadable or of another format reads as no failures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from learning.atomic_io import atomic_write_json
from learning.contract import FAILED_JOBS_FILE
from learning.records.typed_json import from_json

FORMAT = "lttfs-failed-jobs/1"


@dataclass
class FailedJob:
    job_id: int
    iteration: int | None
    error: str  #: the last line of its error output
    source: str  #: where that came from (a file, or "cluster_utils")
    tail: list[str]  #: the last lines of its error output
    time: str


def failed_jobs_path(root: Path) -> Path:
    return Path(root) / FAILED_JOBS_FILE


def read_failed_jobs(root: Path) -> list[FailedJob]:
    """The failures recorded in ``root/failed_jobs.json`` ([] if missing or not of this
    format; entries of the wrong shape skipped)."""
    try:
        data = json.loads(failed_jobs_path(root).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return []
    jobs = data.get("jobs")
    failed = []
    for i, entry in enumerate(jobs if isinstance(jobs, list) else []):
        try:
            failed.append(from_json(FailedJob, entry, f"jobs:{i}"))
        except ValueError:
            continue
    return failed


def write_failed_jobs(root: Path, jobs: list[FailedJob]) -> None:
    """Replace the record atomically (OSError if it cannot be written)."""
    atomic_write_json(failed_jobs_path(root),
                      {"format": FORMAT, "jobs": [asdict(job) for job in jobs]})
