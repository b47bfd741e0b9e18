"""A grid search over envs, written file by file as cluster_utils' grid_search and the jobs
write it (no training): the grid search's own writers (metadata.json, report_data.pickle,
all_data.csv as the concatenation of its jobs' flattened settings and metrics), and per
job the job's own writers (job_state.json through learning.records.job_state, the metrics
through learning.job.metrics.job_metrics, the one-line param_choice.csv and metrics.csv
of cluster_utils' finalize_job). The scores are chosen, so tests can compute the
normalization and the statistics by hand.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from cluster_utils.base.utils import flatten_nested_string_dict
from cluster_utils.server.utils import ClusterRunType, save_metadata, save_report_data

from learning.job.metrics import job_metrics
from learning.records.job_state import FINISHED, JobState, Score, save_state

ENV = "config.rl_common_config.env_id"
SEED = "config.rl_common_config.random_seed"
LR = "config.rl_config.learning_rate"
TABLE_TENNIS = "learning/TableTennis-v0"
PENDULUM = "Pendulum-v1"


@dataclass
class Job:
    env: str
    lr: float
    seed: int
    runs: list[float]  #: eval_reward of each learning run
    hit_rates: list[float] | None = None  #: the table tennis's own metric
    #: the env whose plug-in aggregates the metrics (default: env; a made-up env id: one
    #: that is registered)
    scored_as: str | None = None


def _one_line_csv(values: dict, path: Path) -> None:
    with open(path, "w", newline="") as f:  # as cluster_utils' finalize_job writes them
        writer = csv.DictWriter(f, fieldnames=list(values))
        writer.writeheader()
        writer.writerow(values)


def write_job(root: Path, job_id: int, job: Job) -> dict:
    """One finished job's working directory; returns its all_data.csv row."""
    folder = root / "working_directories" / str(job_id)
    folder.mkdir(parents=True)
    settings = {"config": {"config_templates": "hp_optim/config_templates_ppo.json",
                           "rl_config": {"learning_rate": job.lr},
                           "rl_common_config": {"env_id": job.env, "random_seed": job.seed}},
                "learning_runs_per_job": len(job.runs), "id": job_id,
                "working_dir": str(folder)}
    (folder / "settings.json").write_text(json.dumps(settings))
    state = JobState.new("digest", 1, 1, [job.seed * 100 + i for i in range(len(job.runs))])
    scores = []
    for i, (run, reward) in enumerate(zip(state.runs, job.runs, strict=True)):
        env_metrics = ({"hit_rate": job.hit_rates[i], "return_rate": job.hit_rates[i] / 2}
                       if job.hit_rates else {})
        run.status = FINISHED
        run.score = Score(eprewmean=reward, eval_reward=reward, timesteps=128,
                          model=f"run_{i}.0-0/model.zip", env_metrics=env_metrics,
                          env_id=job.scored_as or job.env)
        scores.append(run.score)
    metrics = job_metrics(scores, failed_attempts=0, trained_iterations=1)
    state.status, state.metrics = FINISHED, metrics
    save_state(folder, state)
    flat = dict(flatten_nested_string_dict(settings))
    _one_line_csv(flat, folder / "param_choice.csv")
    _one_line_csv(dict(metrics, time_elapsed=1.0), folder / "metrics.csv")
    return {**flat, "id": job_id, **metrics, "time_elapsed": 1.0}


def write_grid(root: Path, jobs: list[Job], params=(ENV, LR, SEED)) -> Path:
    """The results folder of a finished grid search over ``params`` with these jobs."""
    root.mkdir(parents=True)
    rows = [write_job(root, job_id, job) for job_id, job in enumerate(jobs)]
    frames = [pd.DataFrame([row]) for row in rows]  # each job's one-row frame, index 0
    pd.concat(frames, axis=0).to_csv(root / "all_data.csv")
    save_metadata(root, ClusterRunType.GRID_SEARCH, datetime.now())
    save_report_data(root, params=list(params), metrics=tuple(sorted(rows[0])),
                     submission_hook_stats={}, procedure_name=root.name, report_hooks=[])
    return root


def offsets(scale: float) -> list[float]:
    """Four runs around a job's mean: the mean is exact, the spread known."""
    return [-3 * scale, -scale, scale, 3 * scale]


def runs(mean: float, scale: float) -> list[float]:
    return [mean + o for o in offsets(scale)]


#: two settings (learning rates) x two seeds on each of two envs, four runs a job; job
#: means chosen so that min-max normalization is exact in binary floating point:
#: Pendulum-v1 min -1000, max -200; the table tennis min 0.25, max 1.0
JOB_MEANS = {
    (PENDULUM, 1e-3): (-200.0, -300.0), (PENDULUM, 1e-4): (-600.0, -1000.0),
    (TABLE_TENNIS, 1e-3): (0.25, 0.4375), (TABLE_TENNIS, 1e-4): (0.625, 1.0),
}


def two_env_jobs() -> list[Job]:
    jobs = []
    for (env, lr), means in JOB_MEANS.items():
        for seed, mean in enumerate(means):
            scale = 8.0 if env == PENDULUM else 0.015625
            hits = [0.5, 0.25, 0.75, 0.5] if env == TABLE_TENNIS else None
            jobs.append(Job(env, lr, seed, runs(mean, scale), hits))
    return jobs
