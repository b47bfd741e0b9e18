"""A job's working folder as its readers see it: its run folders and its restart state.

A job (one sample of the optimization) trains ``learning_runs_per_job`` agents. Each
attempt of each chained chunk of run ``r`` gets a run directory
``run_<r>.<iteration>-<attempt>/`` in the job's working dir, holding the merged configs,
``logs/progress.csv`` (SB3's CSV logger), ``logs/evaluation.json``, the model and
``command.txt``. The analysis (learning.analysis.runs) and the policy playback
(learning.training.render) read a job through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from learning.contract import FAILED_OUTCOMES, RunDirName
from learning.records.job_state import JobState, Score, StateError, load_state, state_path


@dataclass(frozen=True)
class RunDir:
    run: int
    iteration: int
    attempt: int
    path: Path


def failed_attempt_dirs(job_dir: Path) -> set[str]:
    """Names of the run directories whose attempt the job's restart state records as
    failed (crashed, killed, diverged, could not write): their logs are not part of the
    run's curve, unless the run continued from a checkpoint the attempt saved
    ("model_saved"; the retry's rows then replace those it logged after that)."""
    state, _ = read_job_state(job_dir)
    return {Path(attempt.dir).name for run in (state.runs if state else [])
            for attempt in run.attempts
            if attempt.outcome in FAILED_OUTCOMES and not attempt.model_saved}


def run_dirs(job_dir: Path) -> dict[int, list[RunDir]]:
    """Run directories of a job, per run, in (iteration, attempt) order, without the
    attempts that the job recorded as failed."""
    runs: dict[int, list[RunDir]] = {}
    if not job_dir or not Path(job_dir).is_dir():
        return runs
    failed = failed_attempt_dirs(job_dir)
    for path in Path(job_dir).iterdir():
        name = RunDirName.parse(path.name)
        if name and path.is_dir() and path.name not in failed:
            runs.setdefault(name.run, []).append(RunDir(*name, path))
    return {r: sorted(v, key=lambda d: (d.iteration, d.attempt)) for r, v in sorted(runs.items())}


def read_job_state(job_dir: Path) -> tuple[JobState | None, str | None]:
    """The job's restart state (read only, learning.records.job_state), or None and why
    it is unavailable."""
    try:
        state = load_state(job_dir)
    except StateError as e:
        return None, e.problem
    if state is None:
        return None, (f"no {state_path(job_dir).name} (not a run_learning.py job, or it"
                      " never started)")
    return state, None


def score_key(metric: str) -> str:
    """Job metric -> key of a run's score: mean_eval_reward -> eval_reward."""
    for prefix in ("mean_", "std_"):
        if metric.startswith(prefix):
            return metric[len(prefix) :]
    return metric


def score_value(score: Score | None, key: str) -> float | None:
    """A run score's value of ``key`` (score_key): its own field, or the env's value of
    that name (``env_metrics``: hit_rate, ...); None if it has none."""
    if score is None:
        return None
    own = {f.name for f in fields(Score)} - {"env_metrics", "env_id", "model"}
    value = getattr(score, key) if key in own else score.env_metrics.get(key)
    return float(value) if isinstance(value, (int, float)) else None
