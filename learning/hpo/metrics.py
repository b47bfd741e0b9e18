"""Scores of learner runs and the job's final metrics (what cluster_utils optimizes).

Job metrics (all floats; NaN when no run produced the value):

``mean_eprewmean`` / ``std_eprewmean``
    mean / standard deviation over the job's runs of the last ``rollout/ep_rew_mean``
    in the run's progress.csv (training episodes' mean return, SB3's 100-episode window).
``mean_eval_reward`` / ``std_eval_reward``
    mean / standard deviation over runs of ``mean_reward`` in the run's final
    evaluation.json (deterministic policy, ``evaluation_episodes`` episodes).
``mean_hit_rate``
    mean over runs of ``hit_rate`` in evaluation.json.
``failed_attempts``
    number of failed learner attempts of the job (all runs), retried ones included.
``finished_runs``
    number of runs that contributed (= learning_runs_per_job for a finished job).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.csv"
EVALUATION_FILE = "evaluation.json"
RUN_INFO_FILE = "run_info.json"
EPREWMEAN_COLUMN = "rollout/ep_rew_mean"
METRIC_NAMES = (
    "mean_eprewmean",
    "std_eprewmean",
    "mean_eval_reward",
    "std_eval_reward",
    "mean_hit_rate",
    "failed_attempts",
    "finished_runs",
)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def last_eprewmean(progress_csv: Path) -> float | None:
    """The last non-empty rollout/ep_rew_mean of a progress.csv, None if there is none."""
    try:
        with open(progress_csv, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    for row in reversed(rows):
        value = row.get(EPREWMEAN_COLUMN)
        if value not in (None, ""):
            try:
                return float(value)
            except ValueError:
                return None
    return None


def is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if is_finite(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return mean, std


def job_metrics(scores: list[dict[str, Any]], failed_attempts: int) -> dict[str, float]:
    """Aggregate per-run scores ({"eprewmean", "eval_reward", "hit_rate"}) to job metrics."""
    mean_ep, std_ep = _mean_std([s.get("eprewmean") for s in scores])
    mean_eval, std_eval = _mean_std([s.get("eval_reward") for s in scores])
    mean_hit, _ = _mean_std([s.get("hit_rate") for s in scores])
    return {
        "mean_eprewmean": mean_ep,
        "std_eprewmean": std_ep,
        "mean_eval_reward": mean_eval,
        "std_eval_reward": std_eval,
        "mean_hit_rate": mean_hit,
        "failed_attempts": float(failed_attempts),
        "finished_runs": float(len(scores)),
    }
