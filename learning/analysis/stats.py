"""Statistics of a sweep: which parameters matter, how far apart two settings are."""

from __future__ import annotations

import math

import pandas as pd


def parameter_importance(jobs: pd.DataFrame, params: list[str], metric: str) -> pd.DataFrame:
    """Rank parameters by how strongly the metric follows them, numpy/pandas only.

    Numeric parameter: |Spearman rank correlation| between its value and the metric
    (insensitive to log vs linear scale). Categorical parameter: the correlation ratio
    eta of the metric's ranks grouped by category. Both lie in [0, 1]; neither sees
    interactions, and with a handful of jobs both are noisy (the column ``jobs`` says
    how many jobs a score rests on).
    """
    rows = []
    valid = jobs[jobs[metric].notna()]
    y = valid[metric].rank()
    for param in params:
        x = valid[param]
        kind = "numeric" if pd.api.types.is_numeric_dtype(x) else "categorical"
        score = float("nan")
        if x.nunique(dropna=True) > 1 and len(valid) > 2:
            if kind == "numeric":
                score = abs(x.rank().corr(y))
            else:
                total = ((y - y.mean()) ** 2).sum()
                means = y.groupby(x.astype(str)).transform("mean")
                between = ((means - y.mean()) ** 2).sum()
                score = math.sqrt(between / total) if total > 0 else float("nan")
        rows.append({"parameter": param, "importance": score, "kind": kind, "jobs": len(valid)})
    table = pd.DataFrame(rows, columns=["parameter", "importance", "kind", "jobs"])
    return table.sort_values("importance", ascending=False, na_position="last").reset_index(
        drop=True
    )


def standard_error_of_difference(std_a: float, n_a: int, std_b: float, n_b: int) -> float | None:
    """Standard error of the difference of two means, each over n runs whose std was
    computed with ddof=0 (as the job's metrics are); None with fewer than 2 runs."""
    if n_a < 2 or n_b < 2:
        return None
    total = math.sqrt(std_a**2 / (n_a - 1) + std_b**2 / (n_b - 1))
    return total or None
