"""Confirmation of a sweep over envs (``config.rl_common_config.env_id`` a grid parameter
with several values: learning.analysis.per_env).

Each env's rewards have their own scale, so the sweep's overall ranking would confirm
whichever env has the larger numbers. Instead ``--top K`` takes the K best distinct
settings of *each* env, ranked within that env as its table ranks them; with
``--baseline`` also the shipped defaults on each env (learning.analysis.baseline: that
env's winner with the optimized parameters at their templates' values). All of them run
in the one confirmation grid on the same fresh seeds (the env is one of the keys varied
together; each plan entry names its env: learning.analysis.confirm_plan.ENV_KEY), and
the confirmed table and the verdict (learning.analysis.confirm_verdict) are given per env,
over that env's settings only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from learning.analysis.confirm_plan import (
    ENV_KEY,
    ConfirmError,
    distinct_winners,
    grid_and_plan,
    with_baseline,
)
from learning.analysis.display import printable
from learning.analysis.results import Sweep
from learning.contract import ENV_PARAMETER


def plan_envs(sweep: Sweep, groups, how_many: int, seeds: int, project_dir: Path,
              baseline: bool = False) -> tuple[dict, dict]:
    """The grid-search config and the plan: the best ``how_many`` distinct settings of each
    env (``groups``: per_env.EnvGroup, each env's jobs ranked among themselves), with
    ``baseline`` that env's shipped defaults, all on the same fresh seeds."""
    contenders, envs = [], []
    for group in groups:
        try:
            winners = distinct_winners(group.sweep, group.views, how_many)
            if baseline:
                winners = with_baseline(group.sweep, winners, project_dir)
        except ConfirmError as e:
            raise ConfirmError(f"env {printable(group.env)}: {e}") from e
        contenders += winners
        envs += [group.env] * len(winners)
    views = [view for group in groups for view in group.views]  # the seeds the sweep used
    return grid_and_plan(sweep, contenders, views, seeds, project_dir, envs)


def by_env(sweep: Sweep, confirmed: pd.DataFrame) -> list[tuple[str | None, Sweep,
                                                                 pd.DataFrame]]:
    """What to show of a confirmation, one part per verdict: (None, the sweep, the whole
    table) for a sweep of one env; for a sweep over envs, per env (its id, the sweep with
    env_id no longer among its parameters, its confirmed settings, ranked among
    themselves by learning.analysis.confirm_run.load_confirmation)."""
    if ENV_KEY not in confirmed.columns:
        return [(None, sweep, confirmed)]
    without_env = replace(sweep, params=[p for p in sweep.params if p != ENV_PARAMETER])
    return [(str(env), without_env, part.reset_index(drop=True))
            for env, part in confirmed.groupby(ENV_KEY, sort=True)]
