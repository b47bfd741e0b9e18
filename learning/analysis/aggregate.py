"""How sure the comparison of settings across envs is: aggregate statistics over their
per-run normalized scores (learning.analysis.per_env builds them: per setting, per env,
the runs of the setting's jobs on that env).

- With rliable (``pip install '.[stats]'``; google-research's library for few-run RL
  evaluation, Agarwal et al. 2021): the interquartile mean (IQM, the mean of the middle
  50% of all runs over all envs) with a 95% stratified bootstrap confidence interval
  (runs resampled within each env; :data:`REPS` resamples with the fixed seed
  :data:`SEED`, so the figures are the same each time), and the probability that the
  first setting's run beats the second's on an env, averaged over envs.
- Without it, where it cannot be imported, or where a setting has fewer than 2 runs on an
  env (a bootstrap over one run has no spread): the mean over envs of each env's run mean,
  and two standard errors of it. The description says which was used and why.

rliable is imported here only, on the first comparison across envs: a single-env sweep's
inspection never pays for it.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

INSTALL = "pip install '.[stats]'"
REPS = 2000  #: bootstrap resamples: a second or so for ten settings
SEED = 0  #: the bootstrap's seed (numpy RandomState), fixed: reproducible intervals
CONFIDENCE = 0.95
FALLBACK = "mean and two standard errors shown"


@dataclass
class Estimate:
    point: float
    low: float | None
    high: float | None


@dataclass
class Aggregate:
    """The statistic of each setting (None: no runs on some env) and how it was made."""

    statistic: str  #: "IQM" or "mean"
    interval: str  #: the interval's column name: "95%-CI" or "±2SE"
    description: str  #: which statistic, over what, and why
    estimates: dict[str, Estimate | None]
    #: (first, second, P(first > second)) where both have equal runs per env
    improvement: tuple[str, str, float] | None = None


def load_rliable():
    """(rliable.library, rliable.metrics), or (None, why not)."""
    try:
        from rliable import library, metrics
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] == "rliable":
            return None, f"rliable not installed ({INSTALL})"
        return None, f"rliable cannot be imported here (its dependency {e.name} is missing)"
    except Exception as e:  # a dependency that breaks on import (arch 7 with pandas 3)
        import pandas as pd

        hint = ("; rliable 1.2 needs arch<8, and arch 7 does not import with pandas 3"
                if int(pd.__version__.split(".")[0]) >= 3 else "")
        return None, f"rliable cannot be imported here ({type(e).__name__}: {e}{hint})"
    return (library, metrics), None


def _shape(scores: dict[str, list[np.ndarray]]) -> str:
    counts = sorted({len(runs) for per_env in scores.values() for runs in per_env})
    envs = len(next(iter(scores.values()), []))
    runs = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{envs} envs x {runs} runs"


def aggregate(scores: dict[str, list[np.ndarray]]) -> Aggregate:
    """Statistics of each setting's per-run normalized scores (``scores[setting]``: one
    array of run scores per env, in the same env order for every setting)."""
    usable = {k: v for k, v in scores.items() if v and all(len(runs) for runs in v)}
    few = [k for k, v in usable.items() if any(len(runs) < 2 for runs in v)]
    shape = _shape(usable) if usable else "no runs"
    if few or not usable:  # decided before rliable is imported: it would not be used
        why_not = (f"setting(s) {', '.join(few)} have 1 run on an env: a bootstrap over one"
                   f" run has no spread; {FALLBACK}") if few else f"no runs; {FALLBACK}"
    else:
        rliable, why_not = load_rliable()
        if rliable is not None:
            return _with_rliable(*rliable, scores, usable, shape)
        why_not += f": {FALLBACK}"
    estimates = {k: _mean_two_se(v) if k in usable else None for k, v in scores.items()}
    return Aggregate("mean", "±2SE", f"mean ± two standard errors over {shape}: {why_not}",
                     estimates)


def _mean_two_se(per_env: list[np.ndarray]) -> Estimate:
    """Mean over envs of the run means; its standard error from each env's own spread."""
    point = float(np.mean([np.mean(runs) for runs in per_env]))
    if any(len(runs) < 2 for runs in per_env):
        return Estimate(point, None, None)
    se = math.sqrt(sum(np.var(runs, ddof=1) / len(runs) for runs in per_env)) / len(per_env)
    return Estimate(point, point - 2 * se, point + 2 * se)


def _matrix(per_env: list[np.ndarray]) -> np.ndarray | None:
    """runs x envs, rliable's layout; None where the envs have different numbers of runs."""
    if len({len(runs) for runs in per_env}) != 1:
        return None
    return np.column_stack(per_env)


def _with_rliable(library, metrics, scores, usable, shape) -> Aggregate:
    estimates = {}
    for key, per_env in scores.items():
        estimates[key] = _iqm(library, metrics, per_env) if key in usable else None
    improvement = None
    first_two = list(usable)[:2]
    if len(first_two) == 2:
        x, y = (_matrix(usable[k]) for k in first_two)
        if x is not None and y is not None:
            improvement = (*first_two, float(metrics.probability_of_improvement(x, y)))
    return Aggregate("IQM", f"{round(CONFIDENCE * 100)}%-CI",
                     f"IQM with stratified bootstrap {round(CONFIDENCE * 100)}% CIs over "
                     f"{shape} (rliable, {REPS} resamples, seed {SEED})", estimates,
                     improvement)


@contextmanager
def _seeded():
    """numpy's global generator seeded with SEED, its state restored afterwards: rliable
    1.2 draws its resamples from it (np.random.choice) whatever random_state says."""
    state = np.random.get_state()
    np.random.seed(SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def _iqm(library, metrics, per_env: list[np.ndarray]) -> Estimate:
    """IQM over all runs of all envs and its stratified bootstrap interval; seeded afresh
    per setting, so a setting's interval does not depend on the others."""
    matrix = _matrix(per_env)
    if matrix is not None:
        data, func = matrix, lambda x: np.array([metrics.aggregate_iqm(x)])
    else:  # envs with different numbers of runs: resampled independently, then pooled
        data = [np.asarray(runs, dtype=float) for runs in per_env]
        func = lambda *xs: np.array([metrics.aggregate_iqm(np.concatenate(xs))])  # noqa: E731
    with warnings.catch_warnings(), _seeded():  # arch 7 warns of RandomState: fixed here
        warnings.simplefilter("ignore", FutureWarning)
        points, intervals = library.get_interval_estimates(
            {"setting": data}, func, reps=REPS, confidence_interval_size=CONFIDENCE,
            random_state=np.random.RandomState(SEED))
    low, high = intervals["setting"][:, 0]
    return Estimate(float(points["setting"][0]), float(low), float(high))
