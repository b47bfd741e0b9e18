"""The jobs' intermediate results (``intermediate_results/job_<id>.json``, written by
learning.job.pruning, read through learning.records.intermediate): the metric after every
training iteration, and which jobs the pruning rule stopped where.

The records live beside ``working_directories/`` in the sweep's folder, so they outlive
the working dirs that cluster_utils deletes. Read only; a record that is missing, cut
off or of another format is skipped with a note.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from learning.contract import (
    INTERMEDIATE_DIR,
    STOPPED_EARLY_METRIC,
    TRAINED_ITERATIONS_METRIC,
)
from learning.records.intermediate import FINISHED, IntermediateRecord, sweep_records

COLUMNS = ["job_id", "iteration", "value", "status", "stopped_at", "training_iterations",
           "final"]


def _points(record: IntermediateRecord, metric: str) -> list[tuple[int, float, bool]]:
    """(iteration, value, is_final) of one record, in training order."""
    points = [(entry.iteration, entry.metrics[metric], False) for entry in record.iterations
              if metric in entry.metrics]
    if record.status == FINISHED and record.final is not None \
            and metric in record.final.metrics:
        points.append((record.training_iterations or len(points) + 1,
                       record.final.metrics[metric], True))
    return points


def read_intermediate(root: Path, metric: str, notes: list[str]) -> pd.DataFrame:
    """One row per job and training iteration it completed: ``value`` of ``metric`` (its
    running estimate; ``final`` marks the finished job's reported metric), the job's
    ``status`` (running, finished, stopped_early) and ``stopped_at``."""
    rows = []
    skipped = []
    for path, record in sweep_records(root):
        if record is None:
            skipped.append(path.name)
            continue
        job_id = record.job_id
        if job_id is None:
            tail = path.stem.rsplit("_", 1)[-1]
            job_id = int(tail) if tail.isdigit() else -1
        for iteration, value, final in _points(record, metric):
            rows.append({"job_id": job_id, "iteration": iteration, "value": value,
                         "status": record.status, "stopped_at": record.stopped_at,
                         "training_iterations": record.training_iterations,
                         "final": final})
    if skipped:
        notes.append(f"{Path(root) / INTERMEDIATE_DIR}: unreadable intermediate records"
                     f" skipped: {', '.join(skipped)}")
    return pd.DataFrame(rows, columns=COLUMNS)


def stopped_label(row: pd.Series) -> str:
    """The table's mark for a job the pruning rule stopped: "after it. k"; "" otherwise."""
    flag = row.get(STOPPED_EARLY_METRIC)
    if not isinstance(flag, (int, float)) or math.isnan(flag) or flag != 1:
        return ""
    trained = row.get(TRAINED_ITERATIONS_METRIC)
    if isinstance(trained, (int, float)) and not math.isnan(trained):
        return f"after it. {int(trained)}"
    return "yes"


def has_stopped_jobs(jobs: pd.DataFrame) -> bool:
    return STOPPED_EARLY_METRIC in jobs and bool((jobs[STOPPED_EARLY_METRIC] == 1).any())
