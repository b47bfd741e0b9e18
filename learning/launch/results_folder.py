"""An existing results folder: refuse it, move it aside, or continue it without a prompt.

cluster_utils 3.0 asks "Delete everything? (y/N)" with ``input()`` whenever
``results_dir/<name>`` exists (whatever ``no_user_interaction`` says; without a terminal
that is an EOFError).  Answering N continues an hp_optimization from ``status.pickle``,
which it writes only at the end of an iteration: the jobs that finished in the
interrupted iteration are lost and run again, its job ids start at 0 again (clashing with
the recorded jobs' folders in best_jobs/), and it runs ``number_of_samples`` *more* jobs.

The launcher decides instead (:func:`prepare_results_dir`): no flag refuses an existing
folder, ``--fresh`` moves it aside (never deletes), ``--resume`` continues it.  To
continue an hp_optimization, :func:`continue_hp_optimization` rebuilds the optimizer
from the sweep's data files (learning.launch.optimizer_rebuild: ``status.pickle``, which
another user of a shared results folder could have planted, is never unpickled), tells
it the jobs that finished after the last saved iteration (their results are in their
working folders: cluster_utils' ``Job.try_load_results_from_filesystem``, the loader of
its grid_search's ``load_existing_results``) and saves it (``save_data_and_self``),
counts the jobs that failed, and returns the optimizer, the number of samples still to
run and the first free job id; cluster_utils then continues with that optimizer
(learning.launch.cluster_utils_patches).  A
grid search needs none of this: its jobs get the same ids and settings again, and each
job continues from its own restart state (finished ones report their metrics again in
about a second).

A lock (``sweep.lock``, flock) in the results folder is held by the launcher, its
workers and its guard: a second launcher on the same folder waits for them to end, then
refuses if they do not.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning.contract import METRICS_FILE, SETTINGS_FILE
from learning.launch.optimizer_rebuild import RebuildError, rebuild_optimizer, recorded_jobs
from learning.launch.sweep_file import SweepFile
from learning.locks import lock_within, open_untruncated, read_holder, write_holder

LOCK_FILE = "sweep.lock"
WORKING_DIRS = "working_directories"  # cluster_utils' current_result_dir
BEST_JOB_DIR = re.compile(r"^directories_(\d+)$")


class ResultsDirError(Exception):
    """The results folder cannot be used as asked; the message says what to do."""


class ResultsLock:
    """An exclusive flock (learning.locks) on ``<results folder>/sweep.lock`` holding the
    owner's pid."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_FILE
        self.file = open_untruncated(self.path)  # held for the process's life

    @property
    def fd(self) -> int:
        return self.file.fileno()

    def acquire(self, wait: float) -> bool:
        if not lock_within(self.file, wait):
            return False
        write_holder(self.file, f"{os.getpid()}\n")
        return True

    def holder(self) -> str:
        return read_holder(self.file) or "?"

    def close(self) -> None:
        self.file.close()


def move_aside(root: Path) -> Path:
    """Rename ``root`` to ``root.<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... if taken)."""
    target = root.with_name(f"{root.name}.{time.strftime('%Y%m%d-%H%M%S')}")
    count = 2
    while target.exists():
        target = root.with_name(f"{root.name}.{time.strftime('%Y%m%d-%H%M%S')}-{count}")
        count += 1
    root.rename(target)
    return target


def _locked(root: Path, wait: float) -> ResultsLock:
    lock = ResultsLock(root)
    if not lock.acquire(wait):
        holder = lock.holder()
        lock.close()
        raise ResultsDirError(
            f"{root} is in use by another sweep (launcher pid {holder}, or its jobs still"
            f" stopping); wait for it to end, or stop it first"
        )
    return lock


def prepare_results_dir(root: Path, mode: str | None,
                        wait: float) -> tuple[ResultsLock, Path | None]:
    """Make ``root`` ready for cluster_utils and lock it; returns the lock and where an
    old folder was moved (``mode``: None, "fresh" or "resume")."""
    moved = None
    if root.exists():
        lock = _locked(root, wait)
        if mode is None:
            lock.close()
            raise ResultsDirError(
                f"{root} exists: continue it with --resume, or start again with --fresh"
                f" (moves it aside to {root.name}.<date-time>; nothing is deleted)"
            )
        if mode == "fresh":
            moved = move_aside(root)
            lock.close()
        else:
            return lock, None
    root.mkdir(parents=True, exist_ok=True)
    return _locked(root, wait), moved


# --------------------------------------------------------------------------- hp_optimization


@dataclass
class Progress:
    """How far an hp_optimization got, after the interrupted iteration was recovered."""

    recorded: int = 0  #: jobs in status.pickle before
    recovered: list[int] = field(default_factory=list)  #: finished jobs told now
    failed: int = 0  #: jobs whose restart state says failed
    first_job_id: int = 0
    notes: list[str] = field(default_factory=list)
    optimizer: Any = None  #: the rebuilt optimizer cluster_utils continues with

    @property
    def done(self) -> int:
        return self.recorded + len(self.recovered) + self.failed


def _tuples(value: Any) -> Any:
    """Lists as cluster_utils hands them to jobs (tuples), dicts recursively."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _job_ids(root: Path) -> dict[int, Path]:
    """The numeric job folders in working_directories/."""
    folder = root / WORKING_DIRS
    if not folder.is_dir():
        return {}
    return {int(p.name): p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()}


def _best_job_ids(root: Path) -> set[int]:
    folder = root / "best_jobs"
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return {int(m.group(1)) for m in map(BEST_JOB_DIR.match, names) if m}


def _finished_job(sweep: SweepFile, job_id: int, folder: Path, iteration: int) -> Any:
    """A cluster_utils Job with the results the job left in its folder, None if it has none."""
    from cluster_utils.server.job import Job

    try:
        settings = json.loads((folder / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return None
    for key in ("working_dir", "id"):
        settings.pop(key, None)
    paths = {"current_result_dir": str(folder.parent)}
    job = Job(id=job_id, settings=_tuples(settings), other_params={}, paths=paths,
              iteration=iteration, connection_info={"ip": "", "port": 0},
              opt_procedure_name=sweep.name, singularity_settings=None,
              metric_to_watch=sweep.params["optimization_setting"]["metric_to_optimize"])
    try:
        job.try_load_results_from_filesystem(paths)
    except Exception:  # an unreadable metrics.csv: the job is not counted as finished
        return None
    return job if job.get_results() is not None else None


def _failed(folder: Path) -> bool:
    from learning.records.job_state import FAILED, StateError, load_state

    try:
        state = load_state(folder)
    except StateError:
        return False
    return state is not None and state.status == FAILED


def continue_hp_optimization(sweep: SweepFile, distributions: list) -> Progress:
    """Rebuild the optimizer from the sweep's data files (learning.launch.optimizer_rebuild:
    status.pickle is never unpickled), telling it also the jobs that finished after its
    last save; count what is done."""
    import pandas as pd

    progress = Progress()
    root = sweep.results_root
    try:
        recorded = recorded_jobs(root)
    except RebuildError as e:
        raise ResultsDirError(str(e)) from e
    ids = pd.to_numeric(recorded["_id"], errors="coerce").dropna() \
        if "_id" in recorded.columns else []
    known = {int(i) for i in ids}
    progress.recorded = len(recorded)
    iterations = pd.to_numeric(recorded["_iteration"], errors="coerce").dropna() \
        if "_iteration" in recorded.columns else []
    next_iteration = int(max(iterations, default=0)) + 1
    folders = _job_ids(root)
    finished = []
    for job_id, folder in sorted(folders.items()):
        if job_id in known:
            continue
        job = (_finished_job(sweep, job_id, folder, next_iteration)
               if (folder / METRICS_FILE).is_file() else None)
        if job is not None:
            finished.append(job)
        elif _failed(folder):
            progress.failed += 1
    rows = [job.get_results()[0].assign(_iteration=next_iteration) for job in finished]
    try:
        optimizer = rebuild_optimizer(sweep, distributions,
                                      pd.concat(rows, ignore_index=True) if rows else None)
    except RebuildError as e:
        raise ResultsDirError(str(e)) from e
    for job in finished:
        job.results_used_for_update = True
    if finished:
        optimizer.save_data_and_self(str(root))
        progress.recovered = [job.id for job in finished]
    progress.optimizer = optimizer
    all_ids = known | set(folders) | _best_job_ids(root)
    progress.first_job_id = max(all_ids) + 1 if all_ids else 0
    return progress
