"""Confirmation, part 1: the plan. Which of a sweep's winners to rerun, on which fresh
seeds, as one grid search (learning.analysis.confirm_run runs it, confirm_verdict judges).

- ``hyperparam_list`` has a single entry that varies all differing parameters
  *together* (cluster_utils zips a list of names with a list of value lists), with one
  value list per winner: K jobs, one per winning setting, nothing crossed.
- ``fixed_params`` are the winners' shared settings (from their settings.json, or
  all_data.csv for a job whose folder cluster_utils deleted), ``learning_runs_per_job``
  = N, and ``config.rl_common_config.random_seed`` = a base seed such that none of
  base .. base+N-1 was used by the sweep's kept jobs (:func:`fresh_seed`). run_learning.py
  seeds run r with base + r, so every confirmed setting trains on the *same* N fresh
  seeds: a paired comparison, where a gap between settings is not a gap between seeds.
- K counts distinct settings: an optimizer may sample one setting twice.
- ``--baseline`` adds the shipped defaults as one more contender (learning.analysis.
  baseline): the winner's settings with the optimized parameters at their templates'
  values, on the same seeds; the verdict then says whether the winner beats them.
- A sweep over envs (learning.analysis.confirm_envs): K distinct settings of each env,
  ranked within it, all in the one grid on the same seeds; each plan entry names its env.
- A population-based-training sweep (learning.analysis.confirm_replay): each winner's
  schedule of settings is replayed from scratch (its ``pbt.schedule``, varied with the
  other keys), with no exploits; winners that differ only in their schedules are distinct.
- ``restarts`` is 1. The plan (which sweep job each confirmation job reruns) is saved
  in ``RESULTS/confirm_plan.json``; inspecting RESULTS later shows the confirmed ranking
  again without rerunning anything.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pandas as pd

from learning.analysis.baseline import LABEL as BASELINE_LABEL
from learning.analysis.baseline import NoBaseline, baseline_settings
from learning.analysis.confirm_replay import (
    PLAN_SCHEDULE,
    SCHEDULE_KEY,
    ReplayError,
    every_contender_scheduled,
    is_constant,
    schedule_key,
    with_schedule,
)
from learning.analysis.lineage import read_sweep_lineages
from learning.analysis.results import Sweep, flatten
from learning.contract import JOB_SCRIPT, SETTINGS_FILE
from learning.numpy_scalars import without_numpy_scalars

CONFIRM_DIR = "confirm"
PLAN_FILE = "confirm_plan.json"
CONFIG_FILE = "confirm_grid_search.json"
LOG_FILE = "confirm.log"
SEED_KEY = "config.rl_common_config.random_seed"
NOT_SETTINGS = ("working_dir", "id")
#: a plan entry's env, in a sweep over envs (learning.analysis.confirm_envs)
ENV_KEY = "env"


class ConfirmError(Exception):
    """The confirmation cannot be planned or did not produce results."""


def fresh_seed(sweep_seeds: set[int], seeds: int) -> int:
    """A base seed whose N consecutive seeds none of the sweep's runs used."""
    rng = random.Random()
    while True:
        base = rng.randrange(1, 2**31 - 1 - seeds)
        if not sweep_seeds.intersection(range(base, base + seeds)):
            return base


def settings_of(view, sweep: Sweep) -> dict:
    """A job's flattened settings: its settings.json, else its all_data.csv row."""
    settings_file = view.job_dir / SETTINGS_FILE if view.job_dir else None
    if settings_file is not None and settings_file.is_file():
        flat = flatten(json.loads(settings_file.read_text()))
    elif sweep.setting_columns:  # files deleted; all_data.csv holds the same settings
        flat = {k: without_numpy_scalars(view.row[k]) for k in sweep.setting_columns
                if not pd.isna(view.row[k])}
    else:
        raise ConfirmError(
            f"job {view.job_id} (rank {view.rank}): neither its settings.json nor another "
            "job's param_choice.csv is left to rebuild its settings from"
        )
    return {k: v for k, v in flat.items() if k not in NOT_SETTINGS and k != SEED_KEY}


def distinct_winners(sweep: Sweep, views, how_many: int) -> list[tuple]:
    """(view, settings) of the first ``how_many`` distinct settings, best first (an
    optimizer may sample the same setting twice); a PBT job's settings hold its schedule
    (learning.analysis.confirm_replay), part of what makes it distinct."""
    winners, seen = [], set()
    lineages = read_sweep_lineages(sweep.root)
    for view in views:
        try:
            settings = with_schedule(lineages, sweep, view, settings_of(view, sweep))
        except ReplayError as e:
            raise ConfirmError(str(e)) from e
        key = json.dumps({p: settings.get(p) for p in sweep.params} if sweep.params
                         else settings, sort_keys=True, default=str) + schedule_key(settings)
        if key not in seen:
            seen.add(key)
            winners.append((view, settings))
        if len(winners) == how_many:
            break
    return winners


def split_settings(sweep: Sweep, winners: list[tuple], views, seeds: int) -> tuple[list, dict]:
    """(varying keys, fixed settings) of the confirmation grid: the keys in which the
    winners differ vary together; the rest is fixed, with N runs on fresh seeds."""
    keys = sorted(set().union(*(s for _, s in winners)) - {SEED_KEY})  # fixed: fresh seeds
    varying = [k for k in keys if len({json.dumps(s.get(k)) for _, s in winners}) > 1]
    varying += [p for p in sweep.params if p in keys and p not in varying]
    fixed = {k: v for k, v in winners[0][1].items() if k not in varying}
    used_seeds = {s for view in views if view is not None for s in view.run_seeds
                  if isinstance(s, int)}
    fixed["learning_runs_per_job"] = seeds
    fixed[SEED_KEY] = fresh_seed(used_seeds, seeds)
    for key in [k for k in fixed if k.startswith("pruning.")]:
        del fixed[key]  # no pruning rule: a confirmation trains every setting fully
    if not varying:  # one winner, nothing optimized: vary the run count to have a grid
        varying = ["learning_runs_per_job"]
        fixed.pop("learning_runs_per_job")
        for _, settings in winners:
            settings["learning_runs_per_job"] = seeds
    return varying, fixed


def grid_search_config(root: Path, varying: list[str], fixed: dict, winners: list) -> dict:
    return {
        "optimization_procedure_name": CONFIRM_DIR,
        "results_dir": str(root),
        "script_relative_path": JOB_SCRIPT,
        "run_in_working_dir": True,
        "no_user_interaction": True,
        "local_run": True,
        "restarts": 1,
        "generate_report": "never",
        "remove_jobs_dir": False,
        "environment_setup": _environment_setup(),
        "cluster_requirements": {"request_cpus": 1},
        "fixed_params": fixed,
        "hyperparam_list": [
            {"param": varying, "values": [[s.get(k) for k in varying] for _, s in winners]}
        ],
    }


def _plan_entry(sweep: Sweep, view, settings: dict, varying: list[str]) -> dict:
    std = sweep.std_column
    if view is None:  # the shipped defaults
        return {"job_id": BASELINE_LABEL, "original_rank": None,
                "values": [settings.get(k) for k in varying], "original_mean": None,
                "original_std": None, "original_runs": None}
    return {
        "job_id": view.job_id,
        "original_rank": view.rank,
        "values": [settings.get(k) for k in varying],
        "original_mean": float(view.row[sweep.metric]),
        "original_std": float_or_none(view.row.get(std)) if std else None,
        "original_runs": len(view.run_values) or None,
    }


def with_baseline(sweep: Sweep, winners: list[tuple], project_dir: Path) -> list[tuple]:
    """The winners plus (None, the shipped defaults), unless a winner is the defaults."""
    params = [p for p in sweep.params if p != SEED_KEY]  # the seeds are the confirmation's
    try:
        default = baseline_settings(winners[0][1], params, project_dir)
    except NoBaseline as e:
        raise ConfirmError(f"--baseline: {e}") from e
    default.pop(SCHEDULE_KEY, None)  # the defaults train without a schedule
    key = [json.dumps(default.get(p)) for p in params]
    if any([json.dumps(s.get(p)) for p in params] == key and is_constant(s) for _, s in winners):
        return winners
    return [*winners, (None, default)]


def plan(sweep: Sweep, views, how_many: int, seeds: int, project_dir: Path,
         baseline: bool = False) -> tuple[dict, dict]:
    """The grid-search config and the plan (sweep job per confirmation job).

    ``views`` are the ranked jobs; the first ``how_many`` distinct settings are confirmed,
    with ``baseline`` also the shipped defaults.
    """
    contenders = distinct_winners(sweep, views, how_many)
    if baseline:
        contenders = with_baseline(sweep, contenders, project_dir)
    return grid_and_plan(sweep, contenders, views, seeds, project_dir)


def grid_and_plan(sweep: Sweep, contenders: list[tuple], views, seeds: int, project_dir: Path,
                  envs: list[str] | None = None) -> tuple[dict, dict]:
    """The grid-search config and the plan of these contenders ((view or None, settings));
    ``envs``: a sweep over envs, each contender's env (kept in its plan entry)."""
    contenders = every_contender_scheduled(contenders)
    varying, fixed = split_settings(sweep, contenders, views, seeds)
    config = grid_search_config(sweep.root.resolve(), varying, fixed, contenders)
    jobs = [_plan_entry(sweep, view, s, varying) for view, s in contenders]
    for job, (_, settings) in zip(jobs, contenders, strict=True):
        if settings.get(SCHEDULE_KEY):
            job[PLAN_SCHEDULE] = settings[SCHEDULE_KEY]
    for job, env in zip(jobs, envs or [], strict=False):
        job[ENV_KEY] = env
    plan_data = {
        "metric": sweep.metric,
        "minimize": sweep.minimize,
        "seeds": seeds,
        "varying": varying,
        "project_dir": str(project_dir),
        "jobs": jobs,
    }
    return config, plan_data


def float_or_none(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value



def _environment_setup() -> dict:
    """Run jobs with this interpreter's virtual environment, if it is one."""
    if sys.prefix != sys.base_prefix:
        return {"virtual_env_path": sys.prefix}
    return {}


def name_of(job_id) -> str:
    return "the shipped defaults" if job_id == BASELINE_LABEL else f"job {job_id}"
