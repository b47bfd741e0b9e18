"""The report's figures of a population-based-training sweep (matplotlib, Agg backend, as
learning.analysis.plots: PNG bytes, every text drawn as written, never as mathtext).

Both share one x axis, training iterations completed: the metric after iteration k is at
k, and a value that trained iteration k holds from k-1 to k, so an exploit after k is a
jump at k in both.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.ticker import MaxNLocator

from learning.analysis.lineage import (
    SweepLineages,
    is_number,
    iterations_of,
    schedule_steps,
    values_per_iteration,
)
from learning.analysis.plots import COLORS, LITERAL, _legend, _log_scale, plt, to_png

BEST = "black"  #: the best job's colour; the others get tab10's, faint
MAX_LEGEND = 12  #: jobs named in a legend; more: only the best job and the marks


def _job_color(index: int) -> tuple:
    return COLORS[index % len(COLORS)]


def _finish(ax, total: int, legend: bool) -> None:
    ax.set_xlim(0, max(total, 1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training iterations completed", **LITERAL)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if not legend:  # many jobs: keep the best job and the marks
        keep = [i for i, label in enumerate(labels) if not label.startswith("job ")]
        handles, labels = [handles[i] for i in keep], [labels[i] for i in keep]
    _legend(ax, handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))


def schedule(lineages: SweepLineages, param: str, label: str, best: int | None) -> bytes:
    """One mutated parameter's value over training iterations in every job (faint), the
    best job's own schedule (bold, its exploits marked), and the values that trained its
    final model (dashed: its ancestry, through the donors it copied). Non-numeric values
    are categories, in order of appearance."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    lines = {job: _steps(lineage, param) for job, lineage in lineages.jobs.items()}
    if best in lineages.jobs:
        ancestry = [values.get(param) for values in lineages.ancestry_values(best)]
        lines["ancestry"] = (list(range(len(ancestry) + 1)), ancestry + ancestry[-1:])
    values = [v for _, ys in lines.values() for v in ys if v is not None]
    numeric = all(is_number(v) for v in values)
    categories = list(dict.fromkeys(str(v) for v in values))

    def position(value):
        if value is None:
            return float("nan")
        return float(value) if numeric else float(categories.index(str(value)))

    total = max((iterations_of(lineage) for lineage in lineages.jobs.values()), default=1)
    legend = len(lineages.jobs) <= MAX_LEGEND
    for i, (job, (xs, ys)) in enumerate(lines.items()):
        y = [position(v) for v in ys]
        if job == "ancestry":
            ax.step(xs, y, where="post", color=BEST, lw=1.6, ls="--", zorder=4,
                    label=f"values that trained job {best}'s final model (its lineage)")
        elif job == best:
            ax.step(xs, y, where="post", color=BEST, lw=2.6, alpha=0.55, zorder=3,
                    label=f"job {job} (best): its own schedule")
            marks = [e.iteration for e in lineages.exploits(job)]
            own = values_per_iteration(lineages.jobs[job])  # index k: from iteration k on
            ax.plot(marks, [position(own[k].get(param)) for k in marks], "v", color="red",
                    markersize=7, zorder=5, label=f"job {job} exploited")
        else:
            ax.step(xs, y, where="post", color=_job_color(i), lw=1, alpha=0.45,
                    label=f"job {job}")
    if numeric and _log_scale(pd.Series(values, dtype=float)):
        ax.set_yscale("log")
    elif not numeric:
        ax.set_yticks(range(len(categories)), categories, fontsize=7, **LITERAL)
    ax.set_ylabel(label, **LITERAL)
    _finish(ax, total, legend)
    return to_png(fig)


def _steps(lineage, param: str) -> tuple[list[int], list]:
    """x (0, change points, the job's iterations) and y (value from each x on) of a step
    line; None where the job's schedule does not hold the parameter."""
    steps = schedule_steps(lineage)
    xs = [start for start, _ in steps] + [iterations_of(lineage)]
    ys = [values.get(param) for _, values in steps]
    return xs, ys + ys[-1:]


def population(points: pd.DataFrame, lineages: SweepLineages, metric: str,
               best: int | None) -> bytes:
    """Every job's metric after each training iteration (from intermediate_results/; the
    best job in bold). An exploit after k is a dotted jump at k from the job's value to
    its donor's (the model it trains on from there), marked with a triangle."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    series = {job: dict(zip(part["iteration"], part["value"], strict=True))
              for job, part in points.sort_values("iteration").groupby("job_id")}
    legend = len(series) <= MAX_LEGEND
    total = max([1, *(int(k) for s in series.values() for k in s)])
    for i, (job, values) in enumerate(series.items()):
        jumps = {e.iteration: e for e in lineages.exploits(job) if e.iteration in values}
        is_best = job == best
        color = BEST if is_best else _job_color(i)
        style = {"color": color, "lw": 2.2 if is_best else 1, "alpha": 1 if is_best else 0.6}
        xs, ys = [], []
        for k in sorted(values):
            xs.append(k)
            ys.append(values[k])
            exploit = jumps.get(k)
            if exploit is None:
                continue
            donor = series.get(exploit.donor, {}).get(exploit.donor_iteration)
            ax.plot([k], [values[k]], "v", color="red", markersize=6, zorder=5)
            if donor is not None:
                ax.plot([k, k], [values[k], donor], ":", color=color, lw=1.2)
                ax.plot(xs, ys, **style)
                xs, ys = [k], [donor]
        ax.plot(xs, ys, **style, label=f"job {job}" + (" (best)" if is_best else ""))
    ax.plot([], [], "v", color="red", label="exploited: continued from a better job's"
            " checkpoint (dotted: to its value)")
    ax.set_ylabel(f"{metric} (running estimate)", **LITERAL)
    _finish(ax, total, legend)
    return to_png(fig)
