"""Outcomes of learner attempts, scores of runs, the job's metrics (what cluster_utils optimizes).

An attempt's outcome (:func:`classify`) is "ok", "interrupted" (stopped by a signal;
with the model saved if run_info.json says so), "config_error" (exit code 2),
"diverged" (exit code 65, or a non-finite evaluation reward) or "failed" (any other
exit, killed by a signal, or finished without evaluation.json / progress.csv / model).

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

from learning.hpo.learner import (
    EXIT_CONFIG,
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    STDERR_FILE,
    LearnerExit,
)

LOG_DIR = "logs"  # rl_config.log_path of every attempt, relative to its directory
MODEL_FILE = "model.zip"  # rl_config.save_path of every attempt
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


def _stderr_tail(run_dir: Path, lines: int = 3) -> str:
    try:
        text = (run_dir / STDERR_FILE).read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def classify_files(run_dir: Path) -> tuple[str, str, int | None]:
    """(outcome, message, model timesteps) from what the learner left in run_dir."""
    logs = run_dir / LOG_DIR
    info = read_json(logs / RUN_INFO_FILE) or {}
    status = info.get("status")
    model_saved = (run_dir / MODEL_FILE).is_file()
    if status == "finished":
        evaluation = read_json(logs / EVALUATION_FILE)
        if evaluation is None:
            return "failed", "finished without evaluation.json", None
        if not (logs / PROGRESS_FILE).is_file():
            return "failed", "finished without a progress log (progress.csv)", None
        if not model_saved:
            return "failed", f"finished without saving {MODEL_FILE}", None
        if not is_finite(evaluation.get("mean_reward")):
            return "diverged", f"evaluation mean_reward is {evaluation.get('mean_reward')}", None
        return "ok", "", info.get("num_timesteps")
    if status == "interrupted" and model_saved:
        return "interrupted", info.get("message", ""), info.get("num_timesteps")
    if status == "diverged":
        return "diverged", info.get("message", ""), None
    tail = _stderr_tail(run_dir)
    return "failed", f"run_info status {status!r}" + (f": {tail}" if tail else ""), None


def classify(run_dir: Path, result: LearnerExit, stop_requested: bool) -> tuple:
    """(outcome, message, timesteps) of a learner that ended with ``result``."""
    code = result.exit_code
    if code == EXIT_OK:
        return classify_files(run_dir)
    if code == EXIT_INTERRUPTED:
        kind, message, timesteps = classify_files(run_dir)
        if kind == "interrupted":
            return kind, message, timesteps
        return "interrupted", f"exit code 75 without a saved model: {message}", None
    if code == EXIT_CONFIG:
        return "config_error", _stderr_tail(run_dir), None
    if stop_requested:
        kind, message, timesteps = classify_files(run_dir)
        if kind in ("ok", "interrupted"):  # a signal that came after the learner had saved
            return kind, message, timesteps
        # killed before its signal handler was installed
        return "interrupted", f"{result.describe()} after the job forwarded a stop signal", None
    if code == EXIT_DIVERGED:
        return "diverged", _stderr_tail(run_dir), None
    tail = _stderr_tail(run_dir)
    return "failed", result.describe() + (f": {tail}" if tail else ""), None


def run_score(working_dir: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Score of a finished run: last ep_rew_mean of its training, its final evaluation."""
    eprewmean = None
    for record in reversed(run["attempts"]):
        if record["outcome"] in ("ok", "interrupted") and eprewmean is None:
            progress = working_dir / record["dir"] / LOG_DIR / PROGRESS_FILE
            eprewmean = last_eprewmean(progress)
    final_dir = working_dir / Path(run["final_model"]).parent
    evaluation = read_json(final_dir / LOG_DIR / EVALUATION_FILE) or {}
    return {
        "eprewmean": math.nan if eprewmean is None else eprewmean,
        "eval_reward": evaluation.get("mean_reward", math.nan),
        "hit_rate": evaluation.get("hit_rate", math.nan),
        "timesteps": evaluation.get("num_timesteps"),
        "model": run["final_model"],
    }
