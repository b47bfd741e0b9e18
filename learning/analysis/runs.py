"""Read one job's learning runs: per-run scores and learning curves, over its run
folders and restart state (learning.records.job_folder)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from learning.contract import (
    EPREWMEAN_COLUMN,
    EVALUATION_FILE,
    LOG_DIR,
    PROGRESS_FILE,
    TIMESTEPS_COLUMN,
)
from learning.records.job_folder import RunDir, score_key, score_value
from learning.records.job_state import JobState


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


def run_scores(state: JobState, metric: str) -> list[RunScore]:
    key = score_key(metric)
    return [RunScore(run=run.run, seed=run.seed, status=run.status,
                     failed_attempts=run.failed_attempts, value=score_value(run.score, key))
            for run in state.runs]
