"""Scores of different envs on one scale: each env's values mapped so that 0 and 1 mean the
same on every env, before settings are compared across envs (learning.analysis.per_env).

- per-env min-max (the default): 0 is the env's worst job (by the jobs' mean of the
  ranked metric), 1 its best; a minimized metric is turned round, so 1 is always best.
  An env whose jobs all scored the same cannot tell settings apart: it is left out.
- reference scores (``--reference-scores FILE.json``), as Atari's human-normalized
  scores: ``{"Pendulum-v1": {"random": -1200, "reference": -200}, ...}``; 0 is the
  ``random`` score, 1 the ``reference`` score, in the metric's units.

Per-run values are mapped with the same two numbers as the jobs' means, so a run may lie
below 0 or above 1. The reference file is read as JSON data only (``NaN`` and
``Infinity`` refused); each problem is an error naming the file and the key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from learning.analysis.display import format_value, printable

KEYS = ("random", "reference")
VALID = ('an object of env ids, each {"random": NUMBER, "reference": NUMBER} in the '
         "metric's units (0 and 1 of the normalized score)")


class ReferenceScoresError(ValueError):
    """The --reference-scores file cannot be used; the message names the file and key."""


@dataclass
class Normalization:
    """Per env, the values mapped to 0 and to 1: ``(value - zero) / (one - zero)``."""

    kind: str  #: "min-max" or "reference"
    metric: str
    bounds: dict[str, tuple[float, float]]
    source: Path | None = None  #: the reference-scores file
    #: envs left out (every job scored the same: min-max has no scale), and why
    dropped: dict[str, str] = field(default_factory=dict)

    def __call__(self, env: str, values) -> np.ndarray:
        zero, one = self.bounds[env]
        return (np.asarray(values, dtype=float) - zero) / (one - zero)

    def describe(self) -> str:
        metric = printable(self.metric)
        if self.kind == "reference":
            return (f"{metric} normalized against the reference scores in "
                    f"{printable(str(self.source))} (0: the env's 'random' score, 1: its "
                    "'reference' score)")
        return (f"{metric} normalized per env by min-max over its jobs' {metric} (0: the "
                "env's worst job, 1: its best)")


def min_max(jobs: pd.DataFrame, env_column: str, metric: str, minimize: bool,
            envs: list[str]) -> Normalization:
    """Each env's worst job mean to 0 and its best to 1."""
    bounds, dropped = {}, {}
    for env in envs:
        values = pd.to_numeric(jobs.loc[jobs[env_column] == env, metric], errors="coerce")
        values = values[np.isfinite(values)]
        low, high = values.min(), values.max()
        if not (math.isfinite(low) and math.isfinite(high)):
            dropped[env] = (f"no job reported a finite {printable(metric)}: the env is left out"
                            " of the comparison")
            continue
        if low == high:
            dropped[env] = (f"every job scored {format_value(float(low))}: min-max has no "
                            "scale, the env is left out of the comparison")
            continue
        bounds[env] = (high, low) if minimize else (low, high)
    return Normalization("min-max", metric, bounds, dropped=dropped)


def reference(path: Path, metric: str, envs: list[str]) -> Normalization:
    """Against the reference scores in ``path``: each of ``envs`` must have them."""
    scores = read_reference_scores(path)
    missing = [env for env in envs if env not in scores]
    if missing:
        raise ReferenceScoresError(
            f"{path}: no scores for env(s) {', '.join(map(repr, missing))}; the sweep's "
            f"envs: {', '.join(map(repr, envs))} (the file has: "
            f"{', '.join(map(repr, scores)) or 'none'}); valid: {VALID}")
    return Normalization("reference", metric, {env: scores[env] for env in envs},
                         source=path)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def read_reference_scores(path: Path) -> dict[str, tuple[float, float]]:
    """``{env: (random, reference)}`` from a JSON file (data only: no code, no NaN)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReferenceScoresError(f"{path}: cannot be read ({getattr(e, 'strerror', None) or e})"
                                   ) from e
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ReferenceScoresError(f"{path}: not JSON ({e.msg}, line {e.lineno} column "
                                   f"{e.colno}); valid: {VALID}") from e
    except ValueError as e:
        raise ReferenceScoresError(f"{path}: {e}; valid: {VALID}") from e
    if not isinstance(data, dict) or not data:
        kind = "an empty object" if data == {} else f"a JSON {type(data).__name__}"
        raise ReferenceScoresError(f"{path}: the file holds {kind}; valid: {VALID}")
    return {env: _pair(path, env, value) for env, value in data.items()}


def _pair(path: Path, env: str, value) -> tuple[float, float]:
    where = f"{path}: {printable(env)!r}"
    if not isinstance(value, dict):
        raise ReferenceScoresError(f"{where}: {printable(repr(value))[:80]} is not an object;"
                                   f" valid: {VALID}")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise ReferenceScoresError(f"{where}.{printable(unknown[0])}: unknown key; valid "
                                   f"keys: {', '.join(KEYS)}")
    numbers = []
    for key in KEYS:
        if key not in value:
            raise ReferenceScoresError(f"{where}.{key}: missing; valid keys: {', '.join(KEYS)}"
                                       f" (numbers in the metric's units)")
        number = value[key]
        try:
            ok = not isinstance(number, bool) and math.isfinite(float(number))
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok or not isinstance(number, (int, float)):
            raise ReferenceScoresError(f"{where}.{key}: {printable(repr(number))[:80]} is not "
                                       "a finite number")
        numbers.append(float(number))
    if numbers[0] == numbers[1]:
        raise ReferenceScoresError(f"{where}: random and reference are both "
                                   f"{format_value(numbers[0])}; they must differ (the score "
                                   "is divided by reference - random)")
    return numbers[0], numbers[1]
