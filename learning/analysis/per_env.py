"""A sweep over envs: ``config.rl_common_config.env_id`` among its parameters with more
than one value. Rewards of different envs are on different scales, so one ranking over
all jobs means nothing; instead:

- one ranked table per env (its jobs only, with the metrics that env's jobs reported: a
  Pendulum job has no hit rate);
- the settings (the parameter values other than env_id and random_seed) compared across
  envs: each env's job means normalized (learning.analysis.normalization), averaged over
  the setting's jobs on the env, then over envs; and the aggregate statistic of their
  per-run normalized scores with its interval (learning.analysis.aggregate: rliable's IQM
  and stratified bootstrap where it can, else mean ± two standard errors).

A sweep with one env (the usual case) is not touched: :func:`read_env_axis` returns None.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from learning.analysis import normalization
from learning.analysis.aggregate import Aggregate, aggregate
from learning.analysis.display import format_value, printable, short_names
from learning.analysis.ranking import JobView, job_notes, job_views, learning_curves, ranked_table
from learning.analysis.results import Sweep
from learning.contract import ENV_PARAMETER

SEED_PARAM = "config.rl_common_config.random_seed"
NORMALIZED = "normalized score"
NONE_COMPARED = ("settings across envs: none compared, no env has a scale (its jobs all "
                 "scored the same: see the notes)")


@dataclass
class EnvGroup:
    """One env's jobs, ranked among themselves."""

    env: str
    sweep: Sweep  #: the sweep restricted to the env's jobs (env_id no longer a parameter)
    views: list[JobView]  #: all its jobs, best first
    command: str | None = None  #: the rerun command of its best job, once printed


@dataclass
class EnvAxis:
    groups: list[EnvGroup]
    norm: normalization.Normalization
    settings: pd.DataFrame  #: the cross-env table of the top settings
    stats: Aggregate
    #: the jobs of the kept envs, NORMALIZED added: the report's parameter plots (None: no
    #: env kept)
    normalized: Sweep | None
    top: int
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Per-env tables, then the settings across envs, blocks apart by a blank line."""
        blocks = []
        with pd.option_context("display.width", 250, "display.max_colwidth", 80):
            for group in self.groups:
                blocks.append(f"env {printable(group.env)}: {_count(group, self.top)}, "
                              f"ranked by {printable(group.sweep.metric)}\n"
                              + env_table(group, self.top).to_string(index=False))
            blocks.append("\n".join([self.settings_title(), self.settings.to_string(
                index=False), *self.statistics_lines()]) if not self.settings.empty
                else NONE_COMPARED)
        return "\n\n".join(blocks)

    def settings_title(self) -> str:
        kept = len(self.norm.bounds)
        return (f"settings across {kept} envs (parameters other than env_id and random_seed),"
                f" ranked by the mean over envs of {self.norm.describe()}")

    def statistics_lines(self) -> list[str]:
        lines = ["statistics of the per-run normalized scores (a setting's runs over its "
                 f"jobs on each env): {self.stats.description}"]
        if self.stats.improvement:
            first, second, p = self.stats.improvement
            lines.append(f"P({first} > {second}) = {p:.2f}: rliable's probability of "
                         f"improvement (a run of {first} beats one of {second} on the same "
                         "env, averaged over envs)")
        return lines

    def curves(self, how_many: int) -> tuple[list, list[str]]:
        """Learning curves of the best jobs taken from each env in turn, titled by env."""
        order = [g.views[i] for i in range(how_many) for g in self.groups if i < len(g.views)]
        curves, notes = learning_curves(order[:how_many], how_many)
        env = {f"rank {v.rank}: job {v.job_id}": g.env for g in self.groups for v in g.views}
        return [(f"{env.get(title, '')} {title}".strip(), runs) for title, runs in curves], notes


def _count(group: EnvGroup, top: int) -> str:
    n = len(group.views)
    return f"{n} job(s)" + (f", the best {top}" if n > top else "")


def envs_of(sweep: Sweep) -> list[str]:
    """The envs a sweep varies over (sorted), [] where it has one."""
    if ENV_PARAMETER not in sweep.jobs.columns:
        return []
    envs = sorted(set(sweep.jobs[ENV_PARAMETER].dropna().astype(str)))
    return envs if len(envs) > 1 else []


def env_group(sweep: Sweep, env: str) -> EnvGroup:
    jobs = sweep.jobs[sweep.jobs[ENV_PARAMETER].astype(str) == env].drop(columns="rank")
    jobs = jobs.reset_index(drop=True)
    jobs.insert(0, "rank", range(1, len(jobs) + 1))
    sub = replace(sweep, jobs=jobs, params=[p for p in sweep.params if p != ENV_PARAMETER],
                  notes=[], pending=[], failed=[])
    return EnvGroup(env, sub, job_views(sub, len(jobs)))


def env_table(group: EnvGroup, top: int) -> pd.DataFrame:
    """The ranked table of one env, with the other mean_* metrics its jobs reported."""
    jobs, views = group.sweep.jobs, group.views[:top]
    table = ranked_table(group.sweep, views)
    position = list(table.columns).index("std") + 1
    for column in [c for c in jobs.columns if str(c).startswith("mean_")
                   and c != group.sweep.metric and c not in group.sweep.params]:
        values = pd.to_numeric(jobs[column], errors="coerce")
        if values.notna().any():
            table.insert(position, printable(str(column)),
                         [format_value(float(v)) for v in values.iloc[: len(views)]])
            position += 1
    return table


def read_env_axis(sweep: Sweep, top: int, reference_scores: Path | None,
                  notes: list[str]) -> EnvAxis | None:
    """The per-env view of a sweep over envs, None for a sweep of one env (``notes``: what
    a single-env sweep makes of --reference-scores). ReferenceScoresError: a bad file."""
    envs = envs_of(sweep)
    if not envs:
        if reference_scores is not None:
            normalization.read_reference_scores(reference_scores)  # a bad file is an error
            notes.append(f"--reference-scores {reference_scores}: ignored, the sweep has one "
                         "env (it normalizes settings compared across envs)")
        return None
    if reference_scores is not None:
        norm = normalization.reference(reference_scores, sweep.metric, envs)
    else:
        norm = normalization.min_max(sweep.jobs, ENV_PARAMETER, sweep.metric, sweep.minimize, envs)
    axis_notes = [f"env {printable(env)}: {why}" for env, why in norm.dropped.items()]
    unnamed = sweep.jobs[sweep.jobs[ENV_PARAMETER].isna()]["job_id"].tolist()
    if unnamed:
        axis_notes.append(f"job(s) {', '.join(map(str, unnamed))}: no {ENV_PARAMETER}; left out")
    groups = [env_group(sweep, env) for env in envs]
    for group in groups:
        axis_notes += [f"env {printable(group.env)}: {n}" for n in job_notes(group.views[:top])]
    settings, scores = _settings(sweep, groups, norm, top, axis_notes)
    stats = aggregate(scores)
    settings[stats.statistic] = [format_value(e.point) if e else "-"
                                 for e in stats.estimates.values()]
    settings[stats.interval] = [_interval(e) for e in stats.estimates.values()]
    return EnvAxis(groups, norm, settings, stats, _normalized_sweep(sweep, groups, norm), top,
                   axis_notes)


def _interval(estimate) -> str:
    if estimate is None or estimate.low is None:
        return "-"
    return f"[{format_value(estimate.low)}, {format_value(estimate.high)}]"


def _settings(sweep: Sweep, groups: list[EnvGroup], norm, top: int, notes: list[str]
              ) -> tuple[pd.DataFrame, dict[str, list[np.ndarray]]]:
    """The cross-env table of the best ``top`` settings and their per-run normalized scores
    (per env, in the table's env order)."""
    params = [p for p in sweep.params if p not in (ENV_PARAMETER, SEED_PARAM)]
    kept = [g for g in groups if g.env in norm.bounds]
    found: dict[tuple, dict] = {}
    for group in kept:
        means = norm(group.env, group.sweep.jobs[sweep.metric])
        for view, mean in zip(group.views, means, strict=True):
            key = tuple(str(view.row[p]) for p in params)
            entry = found.setdefault(key, {"row": view.row, "job": view.job_id, "jobs": 0,
                                           "means": {}, "runs": {}, "missing": []})
            entry["jobs"] += 1
            if np.isfinite(mean):
                entry["means"].setdefault(group.env, []).append(mean)
            runs = [v for v in view.run_values if v is not None]
            entry["runs"].setdefault(group.env, []).extend(norm(group.env, runs))
            if not runs:
                entry["missing"].append(f"{printable(group.env)} job {view.job_id}")
    rows = []
    for entry in found.values():
        per_env = [np.mean(entry["means"][g.env]) if g.env in entry["means"] else np.nan
                   for g in kept]
        rows.append((np.mean(per_env), entry))
    rows.sort(key=lambda r: (-r[0] if np.isfinite(r[0]) else np.inf, r[1]["job"]))
    names = short_names(params)
    table, scores = [], {}
    for rank, (score, entry) in enumerate(rows[:top], start=1):
        row = {"rank": rank} | {names[p]: format_value(entry["row"][p]) for p in params}
        if not params:
            row["setting"] = "(all jobs)"
        row["normalized"] = format_value(float(score))
        for group in kept:
            values = entry["means"].get(group.env)
            row[printable(group.env)] = format_value(float(np.mean(values))) if values else "-"
        row["jobs"] = entry["jobs"]
        table.append(row)
        # sorted: the bootstrap's draws do not depend on the order the jobs were read in
        scores[f"rank {rank}"] = [np.sort(np.asarray(entry["runs"].get(g.env, []), dtype=float))
                                  for g in kept]
        if entry["missing"]:
            notes.append(f"setting rank {rank}: no per-run values for "
                         f"{', '.join(entry['missing'])} (job folder deleted or unreadable): "
                         "its statistic uses the runs found")
        if not np.isfinite(score):
            notes.append(f"setting rank {rank}: no jobs on some env; ranked last")
    return pd.DataFrame(table), scores


def _normalized_sweep(sweep: Sweep, groups: list[EnvGroup], norm) -> Sweep | None:
    """The kept envs' jobs with NORMALIZED as the metric (higher is better): what the
    report's figures over parameters show for a sweep over envs."""
    parts = [g.sweep.jobs.assign(**{NORMALIZED: norm(g.env, g.sweep.jobs[sweep.metric])})
             for g in groups if g.env in norm.bounds]
    if not parts:
        return None
    jobs = pd.concat(parts, ignore_index=True).sort_values(NORMALIZED, ascending=False,
                                                            na_position="last")
    return replace(sweep, jobs=jobs.reset_index(drop=True), metric=NORMALIZED,
                   minimize=False, params=[p for p in sweep.params if p != ENV_PARAMETER])
