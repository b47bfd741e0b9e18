"""Confirm a sweep's winners: rerun the top K settings with N fresh seeds each.

Design: one cluster_utils grid search, run through the sweep launcher (``python -m
learning.sweep``: pre-flight, shell safety, guard, results-folder lock, like any sweep;
the winners' settings come from a results folder others may write), so the same command
scales from this machine (``local_run``) to a cluster. Its results go to
``RESULTS/confirm/``, a results folder like any other (``lttfs-inspect RESULTS/confirm``
works on it too).

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
- ``--baseline`` adds the shipped defaults as one more contender (learning/sweep/
  baseline.py): the winner's settings with the optimized parameters at their templates'
  values, on the same seeds; the verdict then says whether the winner beats them.
- ``restarts`` is 1. The plan (which sweep job each confirmation job reruns) is saved
  in ``RESULTS/confirm_plan.json``; inspecting RESULTS later shows the confirmed ranking
  again without rerunning anything.

cluster_utils asks "Delete everything?" when its results folder exists without a
finished run, so a second ``--confirm`` refuses to start while ``RESULTS/confirm``
exists; delete that folder to confirm again.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd

from learning.atomic_io import atomic_write_json
from learning.contract import EXIT_CONFIG, JOB_SCRIPT, PROJECT_DIR, SETTINGS_FILE
from learning.sweep.baseline import LABEL as BASELINE_LABEL
from learning.sweep.baseline import NoBaseline, baseline_settings
from learning.sweep.display import display_path, format_value, short_names
from learning.sweep.results import ResultsError, Sweep, flatten, load_sweep
from learning.sweep.runs import read_job_state, run_scores
from learning.sweep.stats import standard_error_of_difference

CONFIRM_DIR = "confirm"
PLAN_FILE = "confirm_plan.json"
CONFIG_FILE = "confirm_grid_search.json"
LOG_FILE = "confirm.log"
SEED_KEY = "config.rl_common_config.random_seed"
NOT_SETTINGS = ("working_dir", "id")


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
        flat = {k: _plain(view.row[k]) for k in sweep.setting_columns
                if not pd.isna(view.row[k])}
    else:
        raise ConfirmError(
            f"job {view.job_id} (rank {view.rank}): neither its settings.json nor another "
            "job's param_choice.csv is left to rebuild its settings from"
        )
    return {k: v for k, v in flat.items() if k not in NOT_SETTINGS and k != SEED_KEY}


def _plain(value):
    """numpy scalars from pandas -> JSON-able Python values."""
    return value.item() if hasattr(value, "item") else value


def distinct_winners(sweep: Sweep, views, how_many: int) -> list[tuple]:
    """(view, settings) of the first ``how_many`` distinct settings, best first (an
    optimizer may sample the same setting twice)."""
    winners, seen = [], set()
    for view in views:
        settings = settings_of(view, sweep)
        key = json.dumps({p: settings.get(p) for p in sweep.params} if sweep.params
                         else settings, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            winners.append((view, settings))
        if len(winners) == how_many:
            break
    return winners


def split_settings(sweep: Sweep, winners: list[tuple], views, seeds: int) -> tuple[list, dict]:
    """(varying keys, fixed settings) of the confirmation grid: the keys in which the
    winners differ vary together; the rest is fixed, with N runs on fresh seeds."""
    keys = sorted(set().union(*(s for _, s in winners)))
    varying = [k for k in keys if len({json.dumps(s.get(k)) for _, s in winners}) > 1]
    varying += [p for p in sweep.params if p in keys and p not in varying]
    fixed = {k: v for k, v in winners[0][1].items() if k not in varying}
    used_seeds = {s for view in views if view is not None for s in view.run_seeds
                  if isinstance(s, int)}
    fixed["learning_runs_per_job"] = seeds
    fixed[SEED_KEY] = fresh_seed(used_seeds, seeds)
    fixed.pop("pruning.keep_fraction", None)  # a confirmation trains every setting fully
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
        "original_std": _float(view.row.get(std)) if std else None,
        "original_runs": len(view.run_values) or None,
    }


def with_baseline(sweep: Sweep, winners: list[tuple], project_dir: Path) -> list[tuple]:
    """The winners plus (None, the shipped defaults), unless a winner is the defaults."""
    try:
        default = baseline_settings(winners[0][1], sweep.params, project_dir)
    except NoBaseline as e:
        raise ConfirmError(f"--baseline: {e}") from e
    key = [json.dumps(default.get(p)) for p in sweep.params]
    if any([json.dumps(s.get(p)) for p in sweep.params] == key for _, s in winners):
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
    varying, fixed = split_settings(sweep, contenders, views, seeds)
    config = grid_search_config(sweep.root.resolve(), varying, fixed, contenders)
    plan_data = {
        "metric": sweep.metric,
        "minimize": sweep.minimize,
        "seeds": seeds,
        "varying": varying,
        "project_dir": str(project_dir),
        "jobs": [_plan_entry(sweep, view, s, varying) for view, s in contenders],
    }
    return config, plan_data


def _float(value) -> float | None:
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


def run_confirmation(sweep: Sweep, views, how_many: int, seeds: int, write_only: bool = False,
                     project_dir: Path | None = None,
                     baseline: bool = False) -> pd.DataFrame | None:
    """Plan, run (unless write_only) and read the confirmation grid search."""
    project_dir = Path(project_dir or PROJECT_DIR)
    root = sweep.root.resolve()
    target = root / CONFIRM_DIR
    if target.exists():
        raise ConfirmError(
            f"{target} exists from an earlier confirmation; delete it to confirm again "
            "(its results are shown when you inspect without --confirm)"
        )
    if not (project_dir / JOB_SCRIPT).is_file():
        raise ConfirmError(f"{project_dir / JOB_SCRIPT} not found; the "
                           "confirmation runs the sweep's job script from the project folder")
    config, plan_data = plan(sweep, views, how_many, seeds, project_dir, baseline)
    config_path, log_path = root / CONFIG_FILE, root / LOG_FILE
    atomic_write_json(config_path, config)
    atomic_write_json(root / PLAN_FILE, plan_data)
    command = f"cd {project_dir} && python -m learning.sweep {config_path}"
    if write_only:
        print(
            f"wrote {display_path(config_path)} ({len(plan_data['jobs'])} settings x {seeds} "
            f"seeds). To run it on a cluster, set \"local_run\": false and your "
            f"cluster_requirements in it, then:\n  {command}\nand inspect "
            f"{display_path(sweep.root)} again when it has finished."
        )
        return None
    print(f"confirming {len(plan_data['jobs'])} setting(s) with {seeds} fresh seed(s) each "
          f"(a grid search through the sweep launcher, local; log: {display_path(log_path)})"
          " ...", flush=True)
    # through the launcher, like any sweep: the settings come from a results folder that
    # others may write, so they pass its pre-flight (shell safety, no "{...}" evaluated,
    # the job's own checks), its guard and its results-folder lock
    with open(log_path, "w") as log:
        result = subprocess.run(
            [sys.executable, "-m", "learning.sweep", str(config_path)],
            cwd=project_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode == EXIT_CONFIG:
        refused = [line.strip() for line in log_path.read_text().splitlines()
                   if line.strip().startswith(("error:", "sweep error:"))]
        raise ConfirmError("the confirmation's pre-flight refused its settings (taken from"
                           f" the sweep's jobs): {'; '.join(refused) or 'see ' + str(log_path)}")
    if result.returncode != 0:
        raise ConfirmError(f"the grid search exited with code {result.returncode}; see "
                           f"{log_path} and the job logs it names")
    notes: list[str] = []
    confirmed = load_confirmation(sweep, notes)
    if confirmed is None:
        raise ConfirmError("; ".join(notes) or f"no results in {target}")
    for note in notes:
        print(f"note: {note}")
    return confirmed


def load_confirmation(sweep: Sweep, notes: list[str]) -> pd.DataFrame | None:
    """The confirmed ranking, if RESULTS/confirm holds results of a planned confirmation."""
    root = sweep.root
    plan_file, target = root / PLAN_FILE, root / CONFIRM_DIR
    if not plan_file.is_file() or not target.is_dir():
        return None
    plan_data = json.loads(plan_file.read_text())
    try:
        confirm = load_sweep(target, metric=plan_data["metric"], minimize=plan_data["minimize"])
    except ResultsError as e:
        notes.append(f"confirmation: {e}")
        return None
    rows = []
    for entry in plan_data["jobs"]:
        match = _matching_jobs(confirm.jobs, plan_data["varying"], entry["values"])
        row = {k: v for k, v in entry.items() if k != "values"}
        row.update(zip(plan_data["varying"], entry["values"], strict=True))
        if match.empty:
            notes.append(f"confirmation of {_name(entry['job_id'])}: no result (yet) in {target}")
            row.update(confirmed_mean=None, confirmed_std=None, confirmed_runs=None,
                       confirmed_values=[])
        else:
            job = match.iloc[0]
            values = []
            if job["job_dir"]:
                state, _ = read_job_state(Path(job["job_dir"]))
                if state is not None:
                    values = [s.value for s in run_scores(state, confirm.metric)]
            std_column = confirm.std_column
            row.update(
                confirmed_mean=_float(job[confirm.metric]),
                confirmed_std=_float(job[std_column]) if std_column else None,
                confirmed_runs=len(values) or None,
                confirmed_values=values,
                confirm_job_dir=job["job_dir"],
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    table["confirmed_rank"] = table["confirmed_mean"].rank(
        ascending=sweep.minimize, method="min", na_option="keep"
    )
    return table.sort_values("original_rank", na_position="last").reset_index(drop=True)


def _name(job_id) -> str:
    return "the shipped defaults" if job_id == BASELINE_LABEL else f"job {job_id}"


def _matching_jobs(jobs: pd.DataFrame, varying: list[str], values: list) -> pd.DataFrame:
    mask = pd.Series(True, index=jobs.index)
    for key, value in zip(varying, values, strict=True):
        if key not in jobs:
            return jobs.iloc[0:0]
        column = jobs[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            mask &= (pd.to_numeric(column, errors="coerce") - value).abs() <= 1e-12 * max(
                1.0, abs(value)
            )
        else:
            mask &= column.astype(str) == str(value)
    return jobs[mask]


def confirmation_table(sweep: Sweep, confirmed: pd.DataFrame) -> pd.DataFrame:
    """Display form: original and confirmed ranking side by side."""
    names = short_names([p for p in sweep.params if p in confirmed.columns])
    rows = []
    for _, r in confirmed.iterrows():
        rank = r["original_rank"]
        row = {"original rank": "-" if pd.isna(rank) else int(rank), "job": r["job_id"]}
        for param, name in names.items():
            row[name] = format_value(r[param])
        row["sweep mean"] = format_value(_float(r["original_mean"]))
        row["sweep std"] = format_value(_float(r["original_std"]))
        row["confirmed mean"] = format_value(_float(r["confirmed_mean"]))
        row["confirmed std"] = format_value(_float(r["confirmed_std"]))
        row["confirmed runs"] = " ".join(
            "failed" if v is None else format_value(v) for v in r["confirmed_values"]
        ) or "-"
        rank = r["confirmed_rank"]
        row["confirmed rank"] = "-" if pd.isna(rank) else int(rank)
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(confirmed: pd.DataFrame, minimize: bool = False) -> str:
    """Does the sweep's winner hold up on fresh seeds (and beat the shipped defaults, if
    they were confirmed too)? A few sentences."""
    text = _winner_verdict(confirmed)
    default = confirmed[confirmed["job_id"] == BASELINE_LABEL]
    if not default.empty and pd.notna(confirmed.iloc[0]["confirmed_mean"]):
        text += " " + _baseline_verdict(confirmed.iloc[0], default.iloc[0], minimize)
    return text


def _baseline_verdict(first: pd.Series, default: pd.Series, minimize: bool) -> str:
    if pd.isna(default["confirmed_mean"]):
        return "The shipped defaults have no confirmed result."
    lead = first["confirmed_mean"] - default["confirmed_mean"]
    lead = -lead if minimize else lead
    se = _standard_error(first, default)
    noise = f", {lead / se:.1f} standard errors" if se else ""
    if lead > 0 and se and beyond_noise(lead, se):
        judged = "it beats them by more than the noise"
    elif lead > 0:
        judged = "its lead is within the noise"
    else:
        judged = "it does not beat them"
    return (f"Against the shipped defaults (the optimized parameters at their templates'"
            f" values, same seeds): {format_value(lead)}{noise}; {judged}.")


def _winner_verdict(confirmed: pd.DataFrame) -> str:
    first = confirmed.iloc[0]
    done = confirmed[confirmed["confirmed_mean"].notna()]
    if pd.isna(first["confirmed_rank"]):
        return "The sweep's winner has no confirmed result."
    rank = int(first["confirmed_rank"])
    if rank == 1:
        text = (f"The sweep's winner (job {first['job_id']}) also ranks first of {len(done)} "
                "on fresh seeds.")
        # the shipped defaults get a sentence of their own (_baseline_verdict)
        others = done[(done["confirmed_rank"] > 1) & (done["job_id"] != BASELINE_LABEL)]
        others = others.sort_values("confirmed_rank")
        rival = others.iloc[0] if len(others) else None
    else:
        rival = done.loc[done["confirmed_rank"] == 1].iloc[0]
        text = (f"The sweep's winner (job {first['job_id']}) ranks {rank} of {len(done)} on "
                f"fresh seeds; {_name(rival['job_id'])} (sweep rank "
                f"{format_value(rival['original_rank'])}) does best: the sweep's ranking was"
                " partly luck.")
    if rival is not None:
        gap = abs(first["confirmed_mean"] - rival["confirmed_mean"])
        se = _standard_error(first, rival)
        if se:
            within = "larger than the noise" if beyond_noise(gap, se) else "within noise"
            text += (f" The confirmed gap between job {first['job_id']} and"
                     f" {_name(rival['job_id'])}, "
                     f"{format_value(gap)}, is {gap / se:.1f} standard errors ({within}; "
                     "more seeds narrow it).")
    return text


#: a confirmed gap counts as real from this many standard errors of the difference on
NOISE_STANDARD_ERRORS = 2


def beyond_noise(gap: float, se: float) -> bool:
    return gap >= NOISE_STANDARD_ERRORS * se


def _standard_error(a: pd.Series, b: pd.Series) -> float | None:
    """Standard error of the difference of two confirmed means (std over N runs each)."""
    values = [_float(row[k]) for row in (a, b) for k in ("confirmed_std", "confirmed_runs")]
    if any(v is None for v in values):
        return None
    std_a, n_a, std_b, n_b = values
    return standard_error_of_difference(std_a, int(n_a), std_b, int(n_b))


def print_confirmation(sweep: Sweep, confirmed: pd.DataFrame) -> None:
    seeds = confirmed["confirmed_runs"].dropna()
    n = int(seeds.max()) if len(seeds) else "?"
    print(f"confirmation ({n} fresh seeds per setting) of the top {len(confirmed)} "
          f"setting(s), {sweep.metric}:")
    with pd.option_context("display.width", 250):
        print(confirmation_table(sweep, confirmed).to_string(index=False))
    print(verdict(confirmed, sweep.minimize))
