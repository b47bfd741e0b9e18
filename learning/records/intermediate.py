"""A job's intermediate record: its running estimate after every training iteration, and
whether the pruning rule stopped it (written by learning.job.pruning; read by the other
jobs' pruning rule and by the inspection, learning.analysis.intermediate).

Every job of a sweep writes ``<results_dir>/<name>/intermediate_results/job_<id>.json``
(atomically, after each iteration and at its end), outside ``working_directories/``, which
cluster_utils deletes; a job run standalone writes ``intermediate_results.json`` in its
working dir (:func:`record_path`). The dataclasses below are the file's schema (format
``lttfs-intermediate/1``; the file is their ``asdict`` form)::

    {"format", "job_id", "params_digest", "metric", "minimize", "training_iterations",
     "status": "running" | "finished" | "stopped_early", "stopped_at": k | null,
     "iterations": [{"iteration": k, "metrics": {...}, "time": unix seconds,
                     "learner_cpu_seconds": s, "timesteps_trained": n}, ...],
     "final": {"metrics", "time", "learner_cpu_seconds", "timesteps_trained"} | null}

``learner_cpu_seconds`` is the CPU time of all the job's learner attempts so far (failed
ones included), ``timesteps_trained`` the runs' model timesteps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from learning.contract import INTERMEDIATE_DIR, INTERMEDIATE_FILE, WORKING_DIRS_FOLDER
from learning.records.typed_json import read_format_file, write_dataclass_file

FORMAT = "lttfs-intermediate/1"
#: record status values
RUNNING, FINISHED, STOPPED = "running", "finished", "stopped_early"


@dataclass
class IterationResult:
    """The job's estimate after one training iteration of all its runs."""

    iteration: int  #: k, from 1
    metrics: dict[str, float]  #: the job metrics over the runs' evaluations after k
    time: float | None = None  #: when it was recorded (Unix seconds)
    learner_cpu_seconds: float | None = None  #: all learner attempts so far
    timesteps_trained: int | None = None  #: the runs' model timesteps

    def value(self, metric: str) -> float | None:
        """The finite value of ``metric``, else None."""
        value = self.metrics.get(metric)
        return value if value is not None and math.isfinite(value) else None


@dataclass
class FinalResult:
    """What the job finished with (stopped or not)."""

    metrics: dict[str, float]
    time: float | None = None
    learner_cpu_seconds: float | None = None
    timesteps_trained: int | None = None


@dataclass
class IntermediateRecord:
    format: str = FORMAT
    job_id: int | None = None  #: cluster_utils' job id; None for a standalone job
    params_digest: str | None = None  #: the job's (learning.job.settings.params_digest)
    metric: str | None = None  #: the metric its pruning rule compares (pruning.metric)
    minimize: bool = False
    training_iterations: int | None = None
    status: str = RUNNING  #: running | finished | stopped_early
    stopped_at: int | None = None  #: the iteration after which the rule stopped it
    iterations: list[IterationResult] = field(default_factory=list)
    final: FinalResult | None = None

    def after(self, iteration: int) -> IterationResult | None:
        """The entry of ``iteration``, if recorded."""
        for entry in self.iterations:
            if entry.iteration == iteration:
                return entry
        return None


def record_path(working_dir: Path, job_id: object) -> Path:
    """Where a job records its intermediate results: beside the other jobs' records in its
    sweep's folder when cluster_utils runs it (``.../working_directories/<id>``), else in
    its own working dir."""
    working_dir = Path(working_dir)
    if working_dir.parent.name == WORKING_DIRS_FOLDER and job_id is not None:
        return working_dir.parent.parent / INTERMEDIATE_DIR / f"job_{job_id}.json"
    return working_dir / INTERMEDIATE_FILE


def read_intermediate_record(path: Path) -> IntermediateRecord | None:
    """A job's intermediate record; None if missing, unreadable (being replaced), of
    another format or of the wrong shape."""
    return read_format_file(path, IntermediateRecord, FORMAT)


def write_intermediate_record(path: Path, record: IntermediateRecord) -> None:
    """Write the record atomically (OSError if it cannot be written)."""
    write_dataclass_file(path, record)


def sweep_records(results_root: Path) -> list[tuple[Path, IntermediateRecord | None]]:
    """Every record of a sweep (``<results_root>/intermediate_results/job_*.json``) in
    name order, None for one that cannot be read."""
    folder = Path(results_root) / INTERMEDIATE_DIR
    if not folder.is_dir():
        return []
    return [(path, read_intermediate_record(path)) for path in sorted(folder.glob("job_*.json"))]
