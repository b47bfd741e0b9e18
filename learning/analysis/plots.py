"""The report's figures (matplotlib, Agg backend), returned as PNG bytes.

Parameter names and values and metric names come from a results folder that others may
have written: every text a figure shows (labels, titles, tick labels, legends) is drawn
with :data:`LITERAL`, as written, never parsed as mathtext (``$...$``) or TeX; a value
such as ``$\\frac{$`` is shown, not an error.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLORS = plt.get_cmap("tab10").colors
#: Text properties of every text the figures show: drawn as written (no mathtext, no TeX)
LITERAL = {"parse_math": False, "usetex": False}


def _legend(ax, *args, **kwargs):
    """``ax.legend(...)`` whose entries are drawn as written (:data:`LITERAL`)."""
    legend = ax.legend(*args, **kwargs)
    for text in legend.get_texts():
        text.update(LITERAL)
    return legend


def to_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _log_scale(values: pd.Series) -> bool:
    """Log axis for positive values spanning more than a factor of 3 (learning rates)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    return len(values) > 1 and values.min() > 0 and values.max() / values.min() > 3


def metric_over_jobs(jobs: pd.DataFrame, metric: str, std: str | None, minimize: bool) -> bytes:
    """The metric of every job in submission order, with the best value so far."""
    df = jobs.sort_values("job_id")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    groups = df.groupby("_iteration") if "_iteration" in df and df["_iteration"].notna().any() \
        else [(None, df)]
    for i, (iteration, part) in enumerate(groups):
        label = f"iteration {int(iteration)}" if iteration is not None else "jobs"
        yerr = part[std] if std else None
        ax.errorbar(part["job_id"], part[metric], yerr=yerr, fmt="o", capsize=3,
                    color=COLORS[i % len(COLORS)], label=label)
    values = df[metric]
    best = values.cummin() if minimize else values.cummax()
    ax.step(df["job_id"], best, where="post", color="black", lw=1, label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("job id (submission order)", **LITERAL)
    ax.set_ylabel(metric + (" (error bar: std over runs)" if std else ""), **LITERAL)
    _legend(ax, fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return to_png(fig)


def metric_vs_params(jobs: pd.DataFrame, params: list[str], labels: list[str],
                     metric: str, std: str | None) -> bytes:
    """One panel per optimized parameter: the metric of every job against its value."""
    n = max(1, len(params))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    rank_one = jobs["rank"] == jobs["rank"].min()
    for ax, param, label in zip(axes.flat, params, labels, strict=False):
        x = jobs[param]
        numeric = pd.api.types.is_numeric_dtype(x)
        if numeric:
            positions = x.astype(float)
        else:
            categories = sorted(x.astype(str).unique())
            codes = {c: i for i, c in enumerate(categories)}
            positions = x.astype(str).map(codes).astype(float)
            positions = positions + np.random.default_rng(0).uniform(-0.1, 0.1, len(x))
            ax.set_xticks(range(len(categories)), categories, rotation=30, fontsize=7,
                          **LITERAL)
        yerr = jobs[std] if std else None
        ax.errorbar(positions, jobs[metric], yerr=yerr, fmt="o", color=COLORS[0],
                    alpha=0.7, capsize=2)
        ax.plot(positions[rank_one], jobs[metric][rank_one], "*", color="red",
                markersize=14, label="best job")
        if numeric and _log_scale(x):
            ax.set_xscale("log")
        elif numeric:
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.tick_params(axis="x", which="both", labelrotation=30, labelsize=8)
        ax.set_xlabel(label, **LITERAL)
        ax.set_ylabel(metric, **LITERAL)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(params):]:
        ax.axis("off")
    _legend(axes.flat[0], fontsize=7)
    fig.tight_layout()
    return to_png(fig)


def learning_curves(curves: list[tuple[str, dict[int, pd.DataFrame]]],
                    share_y: bool = True) -> bytes:
    """One panel per job: reward over timesteps of each of its runs; ``share_y``: one
    reward scale for all panels (not for jobs of different envs)."""
    n = len(curves)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.2 * rows), squeeze=False,
                             sharey=share_y)
    for ax, (title, runs) in zip(axes.flat, curves, strict=False):
        for run, curve in runs.items():
            ax.plot(curve["timesteps"], curve["reward"], color=COLORS[run % len(COLORS)],
                    marker="." if len(curve) < 20 else None, label=f"run {run}")
        ax.set_title(title, fontsize=9, **LITERAL)
        ax.set_xlabel("timesteps", **LITERAL)
        ax.set_ylabel("rollout/ep_rew_mean", **LITERAL)
        ax.grid(alpha=0.3)
        if runs:
            _legend(ax, fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return to_png(fig)


def importance(table: pd.DataFrame) -> bytes:
    """Horizontal bars: importance score per parameter, most important on top."""
    table = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(table) + 1.2))
    rows = np.arange(len(table))
    ax.barh(rows, table["importance"], color=COLORS[0])
    ax.set_yticks(rows, table["label"], **LITERAL)
    ax.set_xlim(0, 1)
    ax.set_xlabel("|Spearman rank correlation| with the metric (categorical: eta)", **LITERAL)
    ax.grid(alpha=0.3, axis="x")
    return to_png(fig)


def confirmation(table: pd.DataFrame, metric: str) -> bytes:
    """Original vs confirmed mean (error bars: std over runs) per rerun setting."""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    x = np.arange(len(table))
    # None (the defaults' sweep mean, a setting without a confirmed result) as NaN: no point
    value = {c: pd.to_numeric(table[c], errors="coerce").astype(float) for c in (
        "original_mean", "original_std", "confirmed_mean", "confirmed_std")}
    ax.errorbar(x - 0.1, value["original_mean"], yerr=value["original_std"], fmt="o",
                capsize=3, label="original sweep")
    ax.errorbar(x + 0.1, value["confirmed_mean"], yerr=value["confirmed_std"], fmt="s",
                capsize=3, label="confirmation (fresh seeds)")
    ax.set_xticks(x, [f"job {j}" for j in table["job_id"]], **LITERAL)
    ax.set_ylabel(metric, **LITERAL)
    _legend(ax, fontsize=7)
    ax.grid(alpha=0.3)
    return to_png(fig)


def intermediate_metric(points: pd.DataFrame, metric: str) -> bytes:
    """The metric of every job after each training iteration; a cross where the pruning
    rule stopped a job, a dot for a finished job's reported metric."""
    fig, ax = plt.subplots(figsize=(7, 4))
    palette = [c for i, c in enumerate(COLORS) if i != 7]  # tab10's grey marks stopped jobs
    for i, (job_id, job) in enumerate(points.sort_values("iteration").groupby("job_id")):
        stopped = job["status"].iloc[0] == "stopped_early"
        color = "0.55" if stopped else palette[i % len(palette)]
        ax.plot(job["iteration"], job["value"], color=color, lw=1, alpha=0.8,
                ls=":" if stopped else "-", label=None if stopped else f"job {job_id}")
        last = job.iloc[-1]
        if stopped:
            ax.plot(last["iteration"], last["value"], "x", color="red", markersize=8)
        elif bool(last["final"]):
            ax.plot(last["iteration"], last["value"], "o", color=color, markersize=5)
    ax.plot([], [], "x", color="red", label="stopped early (grey dotted line)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training iterations completed by all the job's runs", **LITERAL)
    ax.set_ylabel(f"{metric} (running estimate)", **LITERAL)
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) <= 12:
        _legend(ax, fontsize=7, loc="best")
    else:
        _legend(ax, handles[-1:], labels[-1:], fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return to_png(fig)
