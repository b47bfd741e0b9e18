"""The ranked jobs of a sweep: per-run values, the table, how to rerun a job."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from learning.analysis.display import display_path, format_value, printable, short_names
from learning.analysis.intermediate import has_stopped_jobs, stopped_label
from learning.analysis.lineage import read_sweep_lineages
from learning.analysis.results import Sweep
from learning.analysis.runs import learning_curve, run_scores
from learning.contract import (
    IN_CHECKOUT,
    JOB_SCRIPT,
    PROJECT_DIR,
    RUN_CONFIG_DIR,
    SETTINGS_FILE,
)
from learning.records.job_folder import read_job_state, run_dirs


@dataclass
class JobView:
    """A ranked job with what the table and the report show about it."""

    rank: int
    job_id: int
    row: pd.Series
    job_dir: Path | None
    run_values: list[float | None]
    run_seeds: list[int | None]
    failed_attempts: int | None
    problem: str | None  # why there are no per-run values


GONE = (
    "files deleted by cluster_utils, which keeps only the num_best_jobs_whose_data_is_kept "
    "best jobs (best_jobs/) unless remove_working_dirs is false: no per-run values or "
    "learning curves"
)


def job_notes(views: list[JobView]) -> list[str]:
    """One note per kind of problem, naming the jobs it concerns."""
    by_problem: dict[str, list[str]] = {}
    for view in views:
        if view.problem:
            by_problem.setdefault(view.problem, []).append(str(view.job_id))
    return [f"job(s) {', '.join(jobs)}: {problem}" for problem, jobs in by_problem.items()]


def job_views(sweep: Sweep, how_many: int) -> list[JobView]:
    views = []
    for _, row in sweep.jobs.head(how_many).iterrows():
        job_dir = Path(row["job_dir"]) if row["job_dir"] else None
        problem, values, seeds = None, [], []
        failed = row.get("failed_attempts")
        failed = int(failed) if pd.notna(failed) else None
        if job_dir is None:
            problem = GONE
        else:
            state, problem = read_job_state(job_dir)
            if state is None:
                problem = f"no per-run values: {problem}"
            else:
                scores = run_scores(state, sweep.metric)
                values = [s.value for s in scores]
                seeds = [s.seed for s in scores]
                if failed is None:
                    failed = sum(s.failed_attempts for s in scores)
        views.append(
            JobView(int(row["rank"]), int(row["job_id"]), row, job_dir, values, seeds,
                    failed, problem)
        )
    return views


def ranked_table(sweep: Sweep, views: list[JobView]) -> pd.DataFrame:
    """The printed table: parameters, metric mean/std over runs, per-run values, dir; in
    a population-based-training sweep which jobs exploited others ("pbt")."""
    names = short_names(sweep.params)
    std = sweep.std_column
    stopped = has_stopped_jobs(sweep.jobs)
    lineages = read_sweep_lineages(sweep.root)  # skipped files: a note of the inspection
    rows = []
    for view in views:
        row = {"rank": view.rank, "job": view.job_id}
        for param in sweep.params:
            row[names[param]] = format_value(view.row[param])
        row[printable(sweep.metric)] = format_value(float(view.row[sweep.metric]))
        row["std"] = format_value(float(view.row[std])) if std else "-"
        row["runs"] = " ".join(
            "failed" if v is None else format_value(v) for v in view.run_values
        ) or "-"
        row["failed"] = "-" if view.failed_attempts is None else view.failed_attempts
        if stopped:  # jobs the pruning rule stopped: their metric is an estimate
            row["stopped early"] = stopped_label(view.row) or "-"
        if lineages:  # the parameters are the starting values; exploits changed them
            row["pbt"] = lineages.exploited_label(view.job_id) or "-"
        row["dir"] = printable(display_path(view.job_dir)) if view.job_dir else "(deleted)"
        rows.append(row)
    return pd.DataFrame(rows)


def python_command() -> str:
    """`python` if that is this interpreter on PATH, else this interpreter's path."""
    found = shutil.which("python")
    if found and os.path.realpath(found) == os.path.realpath(sys.executable):
        return "python"
    return sys.executable


def rerun_command(job_dir: Path) -> str | None:
    """The exact command that reruns a job from the settings.json cluster_utils wrote.

    cluster_utils' initialize_job reads a settings file as well as the parameter dict
    it passes on a cluster. run_learning.py, given the settings.json of a finished job,
    reruns all its learning runs from scratch in a new folder
    (``<procedure>/reruns/directories_<id>-<time>/`` for a best_jobs entry,
    ``<job dir>-rerun-<time>/`` otherwise) and leaves the original untouched. The job
    script lives in the repository: an installed package without one names it by a
    placeholder.
    """
    settings = job_dir / SETTINGS_FILE
    if not settings.is_file():
        return None
    project = shlex.quote(str(PROJECT_DIR)) if IN_CHECKOUT else "<your lttfs checkout>"
    return (
        f"cd {project} && {python_command()} {JOB_SCRIPT} "
        f"{shlex.quote(str(settings.resolve()))}"
    )


def configs_folder(job_dir: Path) -> Path | None:
    """Merged configs (config/ of the run directory) of the job's first run's last chunk."""
    runs = run_dirs(job_dir)
    if not runs:
        return None
    last = runs[min(runs)][-1].path
    return last / RUN_CONFIG_DIR if (last / RUN_CONFIG_DIR).is_dir() else last


def learning_curves(views: list[JobView], how_many: int) -> tuple[list, list[str]]:
    """(title, {run: curve}) of the best jobs with progress logs; notes on missing ones."""
    curves, notes = [], []
    for view in views[:how_many]:
        title = f"rank {view.rank}: job {view.job_id}"
        if view.job_dir is None:  # job_notes says so already
            continue
        runs = {}
        for run, dirs in run_dirs(view.job_dir).items():
            curve = learning_curve(dirs)
            if curve is None or curve.empty:
                notes.append(f"job {view.job_id} run {run}: no rewards in "
                             f"{dirs[-1].path / 'logs' / 'progress.csv'} (missing, empty, or "
                             "no episode finished)")
            else:
                runs[run] = curve
        if not run_dirs(view.job_dir):
            notes.append(f"job {view.job_id}: no run directories (run_*) in {view.job_dir}")
        if runs:
            curves.append((title, runs))
    return curves, notes
