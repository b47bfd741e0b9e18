"""report.html's section on a population-based-training sweep: the best job's lineage
(its exploits, and the jobs its final model's training went through), a plot per mutated
parameter of the schedules, and the population's metric over training iterations.

Everything shown from the files (parameter names and values, metric names) is escaped:
tables through pandas' escaping, text with html.escape, figures drawn as written.
"""

from __future__ import annotations

import html

import pandas as pd

from learning.analysis import lineage_plots
from learning.analysis.display import format_value, printable, short_names
from learning.analysis.lineage import (
    Segment,
    SweepLineages,
    read_sweep_lineages,
    values_per_iteration,
)
from learning.analysis.report import _img as image
from learning.analysis.report import _table as table

SECTION = "Population-based training"


def _values(values: dict, names: dict[str, str], moves: dict | None = None) -> str:
    """"learning_rate 0.001" per parameter, with how it moved ("(x1.2)") if given."""
    return "; ".join(
        f"{names.get(p, printable(p))} {format_value(value)}"
        + (f" ({printable(str(moves.get(p, '?')))})" if moves is not None else "")
        for p, value in values.items())


def lineage_table(lineages: SweepLineages, job_id: int, names: dict[str, str]) -> pd.DataFrame:
    """One row per decision of the job that exploited or found no donor: after which
    iteration, from which job, the two metric values, the job's values, the donor's and
    the ones explored from the donor's (with how they moved)."""
    lineage = lineages.jobs[job_id]
    rows = [{"after iteration": e.iteration, "continued from": f"job {e.donor}",
             "its metric, the donor's": f"{format_value(e.own_value)}, "
                                        f"{format_value(e.donor_value)}",
             "its values": _values(e.before, names),
             "the donor's": _values(e.donor_values, names),
             "explored from the donor's": _values(e.after, names, e.moves)}
            for e in lineages.exploits(job_id)]
    rows += [{"after iteration": s.iteration, "continued from": "itself (no donor usable)",
              "its metric, the donor's": "-", "its values": "-", "the donor's": "-",
              "explored from the donor's": printable(s.reason)}
             for s in lineage.skipped]
    return pd.DataFrame(rows).sort_values("after iteration", kind="stable")


def _segment_values(lineages: SweepLineages, segment: Segment, names: dict[str, str]) -> str:
    """The values the job trained the segment's iterations with ("a -> b" where they
    changed within it)."""
    lineage = lineages.jobs.get(segment.job_id) if segment.known else None
    if lineage is None:
        return "unknown (no readable lineage of this job)"
    seen: dict[str, list[str]] = {}
    for values in values_per_iteration(lineage)[segment.first - 1: segment.last]:
        for param, value in values.items():
            shown = seen.setdefault(param, [])
            if not shown or shown[-1] != format_value(value):
                shown.append(format_value(value))
    return "; ".join(f"{names.get(p, printable(p))} {' -> '.join(v)}" for p, v in seen.items())


def ancestry_table(lineages: SweepLineages, job_id: int, names: dict[str, str]) -> pd.DataFrame:
    rows = [{"training iterations": str(s.first) if s.first == s.last
             else f"{s.first}-{s.last}", "trained by": f"job {s.job_id}",
             "with": _segment_values(lineages, s, names)}
            for s in lineages.ancestry(job_id)]
    return pd.DataFrame(rows)


def population_section(sweep, best: int | None, notes: list[str]) -> list[str]:
    """The section's HTML parts; [] for a sweep without lineages (``sweep``: its root,
    metric; ``best``: the job ranked first)."""
    from learning.analysis.intermediate import read_intermediate

    lineages = read_sweep_lineages(sweep.root)
    if not lineages:
        return []
    names = short_names(lineages.mutations)
    exploited = [job for job in lineages.jobs if lineages.exploits(job)]
    parts = [f"<h2>{SECTION}</h2>",
             f"<p>{len(lineages.jobs)} job(s) recorded a lineage (pbt_lineage/); "
             f"{len(exploited)} of them continued from a better job's checkpoint at least once"
             f" and explored its values of {html.escape(', '.join(names.values()) or '-')}. The"
             " parameters in the tables above are each job's starting values.</p>"]
    if best in lineages.jobs:
        parts += _best_lineage(lineages, best, names)
    else:
        parts.append(f"<p class=note>The best job (job {best}) has no readable lineage.</p>")
    parts.append("<h3>The schedules</h3><p>Each mutated parameter over training iterations"
                 " in every job (faint), the best job's own schedule (bold; red triangles"
                 " where it exploited) and the values that trained its final model"
                 " (dashed).</p>")
    for param, label in names.items():
        parts.append(image(lineage_plots.schedule(lineages, param, label, best),
                           f"schedule of {label}"))
    points = read_intermediate(sweep.root, sweep.metric, notes)
    if not points.empty:
        parts += ["<h3>The population's metric over training iterations</h3>",
                  "<p>Every job's running estimate after each training iteration "
                  "(intermediate_results/; a finished job's last point is its reported "
                  "metric). A red triangle marks an exploit: the job went on from its donor's"
                  " checkpoint, whose value the dotted line jumps to.</p>",
                  image(lineage_plots.population(points, lineages, sweep.metric, best),
                        "population metric over iterations")]
    return parts


def _best_lineage(lineages: SweepLineages, best: int, names: dict[str, str]) -> list[str]:
    lineage = lineages.jobs[best]
    parts = [f"<h3>The lineage of the best job (job {best})</h3>"]
    if lineage.exploits or lineage.skipped:
        metric = html.escape(lineage.metric or "its metric")
        parts.append(f"<p>Its decisions to exploit, comparing {metric} after the"
                     " iteration:</p>")
        parts.append(table(lineage_table(lineages, best, names)))
    else:
        parts.append("<p>It never exploited another job: it trained on its own weights"
                     " throughout.</p>")
    parts += ["<p>Its final model's training, first iteration first: each exploit copied"
              " the donor's checkpoint, which the donor had trained from its own history."
              " The rerun command above starts the job over with its starting values; it"
              " does not replay this lineage.</p>",
              table(ancestry_table(lineages, best, names))]
    return parts
