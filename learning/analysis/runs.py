"""Read one job's learning runs: run directories, per-run scores, learning curves.

A job (one sample of the optimization) trains ``learning_runs_per_job`` agents. Each
attempt of each chained chunk of run ``r`` gets a run directory
``run_<r>.<iteration>-<attempt>/`` in the job's working dir, holding the merged configs,
``logs/progress.csv`` (SB3's CSV logger), ``logs/evaluation.json``, the model and
``command.txt``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from learning.contract import (
    EPREWMEAN_COLUMN,
    EVALUATION_FILE,
    FAILED_OUTCOMES,
    LOG_DIR,
    PROGRESS_FILE,
    STATE_FILE,
    TIMESTEPS_COLUMN,
    RunDirName,
)


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
    failed = set()
    for run in (state or {}).get("runs", []):
        for attempt in run.get("attempts") or []:
            if isinstance(attempt, dict) and attempt.get("outcome") in FAILED_OUTCOMES \
                    and not attempt.get("model_saved"):
                failed.add(Path(str(attempt.get("dir", ""))).name)
    return failed


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


def learning_curve(dirs: list[RunDir]) -> pd.DataFrame | None:
    """Reward over timesteps of one run, stitched over its chained chunks and retries.

    Where two attempts logged the same timestep (a retry continuing from a saved
    model), the later attempt's row wins.
    """
    frames = []
    for order, run_dir in enumerate(dirs):
        progress = run_dir.path / LOG_DIR / PROGRESS_FILE
        if not progress.is_file() or progress.stat().st_size == 0:
            continue
        try:
            df = pd.read_csv(progress)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            continue
        if TIMESTEPS_COLUMN not in df or EPREWMEAN_COLUMN not in df:
            continue
        df = df[[TIMESTEPS_COLUMN, EPREWMEAN_COLUMN]].dropna()
        df["order"] = order
        frames.append(df)
    if not frames:
        return None
    curve = pd.concat(frames, ignore_index=True).sort_values([TIMESTEPS_COLUMN, "order"])
    curve = curve.drop_duplicates(TIMESTEPS_COLUMN, keep="last")
    return curve.rename(columns={TIMESTEPS_COLUMN: "timesteps", EPREWMEAN_COLUMN: "reward"})[
        ["timesteps", "reward"]
    ].reset_index(drop=True)


def evaluation(dirs: list[RunDir]) -> dict | None:
    """evaluation.json of the run's last chunk that wrote one."""
    for run_dir in reversed(dirs):
        path = run_dir.path / LOG_DIR / EVALUATION_FILE
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                continue
    return None


@dataclass
class RunScore:
    """One learning run of a job, as its restart state recorded it."""

    run: int
    seed: int | None
    status: str
    failed_attempts: int
    value: float | None  # the run's share of the optimized metric; None if not scored


def read_job_state(job_dir: Path) -> tuple[dict | None, str | None]:
    """The job's restart state (read only), or None and why it is unavailable."""
    path = Path(job_dir) / STATE_FILE
    if not path.is_file():
        return None, f"no {STATE_FILE} (not a run_learning.py job, or it never started)"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        return None, f"{STATE_FILE} unreadable ({e})"
    if not isinstance(state, dict) or not isinstance(state.get("runs"), list):
        return None, f"{STATE_FILE} has no 'runs' list (not written by run_learning.py)"
    return state, None


def score_key(metric: str) -> str:
    """Job metric -> key of a run's score: mean_eval_reward -> eval_reward."""
    for prefix in ("mean_", "std_"):
        if metric.startswith(prefix):
            return metric[len(prefix) :]
    return metric


def run_scores(state: dict, metric: str) -> list[RunScore]:
    key = score_key(metric)
    out = []
    for entry in state.get("runs", []):
        score = entry.get("score") or {}
        value = score.get(key) if isinstance(score, dict) else None
        out.append(
            RunScore(
                run=int(entry.get("run", len(out))),
                seed=entry.get("seed"),
                status=str(entry.get("status", "?")),
                failed_attempts=int(entry.get("failed_attempts") or 0),
                value=float(value) if isinstance(value, (int, float)) else None,
            )
        )
    return out
