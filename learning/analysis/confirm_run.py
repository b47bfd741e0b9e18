"""Confirmation, part 2: the run. The planned grid search (learning.analysis.confirm_plan)
goes through the sweep launcher, like any sweep (``python -m learning.launch``: pre-flight,
shell safety, guard, results-folder lock; the winners' settings come from a results
folder others may write), so the same command scales from this machine (``local_run``)
to a cluster; its results go to ``RESULTS/confirm/``, a results folder like any other
(``lttfs inspect RESULTS/confirm`` works on it too), read back by :func:`load_confirmation`.

cluster_utils asks "Delete everything?" when its results folder exists without a
finished run, so a second ``--confirm`` refuses to start while ``RESULTS/confirm``
exists; delete that folder to confirm again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from learning.analysis.confirm_plan import (
    CONFIG_FILE,
    CONFIRM_DIR,
    ENV_KEY,
    LOG_FILE,
    PLAN_FILE,
    ConfirmError,
    float_or_none,
    name_of,
    plan,
)
from learning.analysis.confirm_replay import PLAN_SCHEDULE
from learning.analysis.display import display_path
from learning.analysis.results import ResultsError, Sweep, load_sweep
from learning.analysis.runs import run_scores
from learning.atomic_io import atomic_write_json
from learning.contract import EXIT_CONFIG, JOB_SCRIPT, PROJECT_DIR
from learning.records.job_folder import read_job_state


def run_confirmation(sweep: Sweep, views, how_many: int, seeds: int, write_only: bool = False,
                     project_dir: Path | None = None, baseline: bool = False,
                     axis=None) -> pd.DataFrame | None:
    """Plan, run (unless write_only) and read the confirmation grid search (``axis``: a
    sweep over envs, learning.analysis.per_env.EnvAxis: the top settings of each env)."""
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
    if axis is not None:
        from learning.analysis.confirm_envs import plan_envs

        config, plan_data = plan_envs(sweep, axis.groups, how_many, seeds, project_dir, baseline)
    else:
        config, plan_data = plan(sweep, views, how_many, seeds, project_dir, baseline)
    config_path, log_path = root / CONFIG_FILE, root / LOG_FILE
    atomic_write_json(config_path, config)
    atomic_write_json(root / PLAN_FILE, plan_data)
    command = f"cd {project_dir} && python -m learning.launch {config_path}"
    if write_only:
        print(
            f"wrote {display_path(config_path)} ({len(plan_data['jobs'])} settings x {seeds} "
            f"seeds). To run it on a cluster, set \"local_run\": false and your "
            f"cluster_requirements in it, then:\n  {command}\nand inspect "
            f"{display_path(sweep.root)} again when it has finished."
        )
        return None
    replayed = sum(PLAN_SCHEDULE in job for job in plan_data["jobs"])
    replays = f", {replayed} of them a PBT schedule replayed" if replayed else ""
    print(f"confirming {len(plan_data['jobs'])} setting(s){replays} with {seeds} fresh seed(s)"
          f" each (a grid search through the sweep launcher, local; log:"
          f" {display_path(log_path)}) ...", flush=True)
    # through the launcher, like any sweep: the settings come from a results folder that
    # others may write, so they pass its pre-flight (shell safety, no "{...}" evaluated,
    # the job's own checks), its guard and its results-folder lock
    with open(log_path, "w") as log:
        result = subprocess.run(
            [sys.executable, "-m", "learning.launch", str(config_path)],
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
            notes.append(f"confirmation of {name_of(entry['job_id'])}: no result (yet) in {target}")
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
                confirmed_mean=float_or_none(job[confirm.metric]),
                confirmed_std=float_or_none(job[std_column]) if std_column else None,
                confirmed_runs=len(values) or None,
                confirmed_values=values,
                confirm_job_dir=job["job_dir"],
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    # a sweep over envs: each env's settings ranked among themselves (ENV_KEY of the plan)
    per_env = ENV_KEY in table.columns
    if per_env:
        table[ENV_KEY] = table[ENV_KEY].astype(str)  # the plan is a file others may write
    means = table.groupby(ENV_KEY)["confirmed_mean"] if per_env else table["confirmed_mean"]
    table["confirmed_rank"] = means.rank(ascending=sweep.minimize, method="min",
                                         na_option="keep")
    order = [ENV_KEY, "original_rank"] if per_env else "original_rank"
    return table.sort_values(order, na_position="last", kind="stable").reset_index(drop=True)



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


