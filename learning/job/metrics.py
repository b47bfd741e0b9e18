"""Scores of finished runs and the job's metrics (what cluster_utils optimizes).

Job metrics (all floats; NaN when no run produced the value):

``mean_eprewmean`` / ``std_eprewmean``
    mean / standard deviation over the job's runs of the last ``rollout/ep_rew_mean``
    in the run's progress.csv (training episodes' mean return, SB3's 100-episode window).
``mean_eval_reward`` / ``std_eval_reward``
    mean / standard deviation over runs of ``mean_reward`` in the run's final
    evaluation.json (deterministic policy, ``evaluation_episodes`` episodes).
the env's own, ``<statistic>_<key>``
    mean or standard deviation over runs of ``key`` in evaluation.json, as the env's
    plug-in asks (learning.plugins.envs, ``EnvPlugin.metrics``): learning/TableTennis-v0
    reports ``mean_hit_rate``, ``mean_return_rate`` and ``std_return_rate`` (the share of
    evaluation episodes whose ball was hit, and hit and landed within
    ``evaluation_target_radius`` of the target); a plain gymnasium env none.
``stopped_early``
    1.0 if the job's pruning rule stopped it after ``trained_iterations`` training
    iterations (learning.job.pruning): every metric is then its running estimate, the
    runs' evaluations after that iteration; 0.0 for a job that trained all its iterations.
``trained_iterations``
    training iterations every run of the job completed (= training_iterations unless
    stopped early).
``failed_attempts``
    number of failed learner attempts of the job (all runs), retried ones included.
``finished_runs``
    number of runs that contributed (= learning_runs_per_job for a finished job and for
    one stopped early).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from learning.config.checks import is_number
from learning.contract import (
    EPREWMEAN_COLUMN,
    EVALUATION_FILE,
    LOG_DIR,
    MODEL_FILE,
    OUTCOME_INTERRUPTED,
    OUTCOME_OK,
    PROGRESS_FILE,
)
from learning.job.outcomes import read_json
from learning.plugins.envs import DEFAULT_ENV_ID, EnvPlugin, env_plugin
from learning.records.job_state import RunState, Score

#: every job's metrics, before and after those of its env
TRAINING_METRICS = ("mean_eprewmean", "std_eprewmean", "mean_eval_reward", "std_eval_reward")
JOB_METRICS = ("failed_attempts", "finished_runs", "stopped_early", "trained_iterations")


def metric_names(env: EnvPlugin | None = None) -> tuple[str, ...]:
    """The metrics a job on ``env`` (None: the default env) reports, in order."""
    return (*TRAINING_METRICS, *(env or env_plugin()).job_metric_names(), *JOB_METRICS)


#: the metrics of a job on the default env (a job on another env: metric_names)
METRIC_NAMES = metric_names()


def metric_names_of_settings(settings: dict, cwd: Path | None = None) -> tuple[str, ...]:
    """The metrics a job with these settings reports: those of the env its templates (and
    parameters) choose. Templates that cannot be read yet give the default env's: their
    own check names the problem."""
    from learning.job.settings import JobConfigError, merged_configs
    from learning.plugins.envs import UnknownEnvError, env_plugin_for

    try:
        rl_common = merged_configs(settings, cwd=cwd, validate=False).roles["rl_common_config"]
        return metric_names(env_plugin_for(rl_common))
    except (JobConfigError, UnknownEnvError, ImportError, KeyError, AttributeError):
        return METRIC_NAMES


def last_eprewmean(progress_csv: Path) -> float | None:
    """The last non-empty rollout/ep_rew_mean of a progress.csv, None if there is none."""
    try:
        with open(progress_csv, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    for row in reversed(rows):
        value = row.get(EPREWMEAN_COLUMN)
        if value not in (None, ""):
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _mean_std(values: list[Any]) -> tuple[float, float]:
    values = [v for v in values if is_number(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return mean, std


def job_metrics(scores: list[Score], failed_attempts: int, trained_iterations: int,
                stopped_early: bool = False) -> dict[str, float]:
    """Aggregate the runs' scores (final, or after ``trained_iterations``) to the job's
    metrics."""
    mean_ep, std_ep = _mean_std([s.eprewmean for s in scores])
    mean_eval, std_eval = _mean_std([s.eval_reward for s in scores])
    metrics = {
        "mean_eprewmean": mean_ep,
        "std_eprewmean": std_ep,
        "mean_eval_reward": mean_eval,
        "std_eval_reward": std_eval,
    }
    for key, statistics in env_of(scores).metrics.items():
        mean, std = _mean_std([s.env_metrics.get(key, math.nan) for s in scores])
        metrics.update({f"{statistic}_{key}": mean if statistic == "mean" else std
                        for statistic in statistics})
    metrics.update({
        "failed_attempts": float(failed_attempts),
        "finished_runs": float(len(scores)),
        "stopped_early": 1.0 if stopped_early else 0.0,
        "trained_iterations": float(trained_iterations),
    })
    return metrics


def env_of(scores: list[Score]) -> EnvPlugin:
    """The plug-in of the env the scored runs trained on (the default env where their
    evaluations did not say: written before env plug-ins, or missing)."""
    env_id = next((s.env_id for s in scores if s.env_id is not None), DEFAULT_ENV_ID)
    return env_plugin(env_id)


def score_after(working_dir: Path, run: RunState, iteration: int) -> Score | None:
    """A run's score after its training iteration ``iteration`` (0-based): the evaluation
    of that iteration's successful attempt and the last ep_rew_mean of its training; None
    if the run has not completed that iteration."""
    done = [a for a in run.attempts if a.iteration == iteration and a.outcome == OUTCOME_OK]
    if not done:
        return None
    eprewmean = None
    for attempt in reversed(run.attempts):
        if attempt.iteration > iteration or attempt.outcome not in (OUTCOME_OK,
                                                                    OUTCOME_INTERRUPTED):
            continue
        eprewmean = last_eprewmean(working_dir / attempt.dir / LOG_DIR / PROGRESS_FILE)
        if eprewmean is not None:
            break
    evaluation = read_json(working_dir / done[-1].dir / LOG_DIR / EVALUATION_FILE) or {}
    env_id = evaluation.get("env_id")
    env_id = env_id if isinstance(env_id, str) else None
    return Score(
        eprewmean=math.nan if eprewmean is None else eprewmean,
        eval_reward=evaluation.get("mean_reward", math.nan),
        timesteps=evaluation.get("num_timesteps"),
        model=f"{done[-1].dir}/{MODEL_FILE}",
        env_metrics={key: _number(evaluation.get(key))
                     for key in env_plugin(env_id or DEFAULT_ENV_ID).metrics},
        env_id=env_id,
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(
        value, bool) else math.nan


def run_score(working_dir: Path, run: RunState) -> Score:
    """Score of a finished run: last ep_rew_mean of its training, its final evaluation."""
    final_iteration = max(a.iteration for a in run.attempts if a.outcome == OUTCOME_OK)
    score = score_after(working_dir, run, final_iteration)
    assert score is not None  # the run finished with an ok attempt at that iteration
    score.model = run.final_model
    return score


#: metrics that may be NaN in a finished job: the training episodes' mean return is
#: undefined when no training episode ended (a very short training over many envs); the
#: evaluation's metrics, which the shipped sweeps optimize, never may.
MAY_BE_NAN = ("mean_eprewmean", "std_eprewmean")


def all_finite(metrics: dict[str, float]) -> bool:
    return all(is_number(value) for key, value in metrics.items() if key not in MAY_BE_NAN)


def unscored_runs(runs: list[RunState]) -> list[str]:
    """What is missing from the finished runs' scores, one entry per run that lacks an
    evaluation value (NaN: its evaluation.json did not have it); empty if none. A missing
    rollout/ep_rew_mean (no training episode ended) is not missing: see MAY_BE_NAN."""
    problems = []
    for run in runs:
        if run.score is None:
            problems.append(f"run {run.run} has no score")
            continue
        evaluation = Path(run.final_model or "").parent / LOG_DIR / EVALUATION_FILE
        values = {"eval_reward": (run.score.eval_reward, "mean_reward")}
        values.update({key: (run.score.env_metrics.get(key), key)
                       for key in env_of([run.score]).metrics})
        missing = [f"{name} ({source} of {evaluation})"
                   for name, (value, source) in values.items() if not is_number(value)]
        if missing:
            problems.append(f"run {run.run} has no {', no '.join(missing)}")
    return problems

