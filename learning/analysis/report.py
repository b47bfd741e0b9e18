"""report.html: one self-contained page (figures embedded as base64 PNG, no server)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from learning.analysis import plots
from learning.analysis.display import short_names
from learning.analysis.results import Sweep
from learning.analysis.stats import parameter_importance
from learning.atomic_io import atomic_write_text

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; }
td:last-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; white-space: pre-wrap; }
img { max-width: 100%; }
.note { color: #8a4b00; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, escape=True, border=0, na_rep="-")


def _header(sweep: Sweep, views, axis=None) -> list[str]:
    from learning.analysis.ranking import ranked_table

    direction = "minimized" if sweep.minimize else "maximized"
    return [
        f"<h1>Optimization {html.escape(sweep.root.name)}</h1>",
        f"<p>{html.escape(str(sweep.root.resolve()))}: {html.escape(sweep.run_type)}, "
        f"{len(sweep.jobs)} job(s) with metrics. Metric <b>{html.escape(sweep.metric)}</b> "
        f"({direction}); std and per-run values are over each job's learning runs.</p>",
    ] + (_envs(axis) if axis else ["<h2>Best jobs</h2>" + _table(ranked_table(sweep, views))])


def _envs(axis) -> list[str]:
    """A sweep over envs (learning.analysis.per_env): a table per env, the settings across
    envs with their statistics, and how to rerun each env's best job."""
    from learning.analysis.per_env import NONE_COMPARED, env_table
    from learning.contract import ENV_PARAMETER

    parts = [f"<p>The sweep varies <code>{ENV_PARAMETER}</code> over {len(axis.groups)} envs: "
             "each env's jobs are ranked among themselves, with the metrics that env's jobs "
             "reported; then the settings are compared across envs.</p>"]
    for group in axis.groups:
        parts.append(f"<h2>Best jobs on env {html.escape(group.env)} "
                     f"({len(group.views)} job(s))</h2>" + _table(env_table(group, axis.top)))
    parts.append("<h2>Settings across envs</h2>")
    if axis.settings.empty:
        parts.append(f"<p class=note>{html.escape(NONE_COMPARED)}.</p>")
    else:
        parts += [f"<p>{html.escape(axis.settings_title())}.</p>", _table(axis.settings)]
        parts += [f"<p>{html.escape(line)}.</p>" for line in axis.statistics_lines()]
    for group in axis.groups:
        if group.views:
            parts += _rerun(group.views[0], group.command, f"on env {group.env}")
    return parts


def _rerun(best, command: str | None, where: str = "") -> list[str]:
    from learning.analysis.ranking import configs_folder

    where = f" {html.escape(where)}" if where else ""
    parts = [f"<h2>Rerun the best job{where} (job {best.job_id})</h2>"]
    if command:
        parts.append(f"<pre>{html.escape(command)}</pre>")
    else:
        parts.append("<p class=note>No settings.json left for the best job.</p>")
    if best.job_dir is not None:
        folder = configs_folder(best.job_dir)
        parts.append(f"<p>Job folder: <code>{html.escape(str(best.job_dir.resolve()))}"
                     "</code>; settings.json there holds the job's parameters.")
        if folder is not None:
            parts.append(f" Merged configs of its first run: "
                         f"<code>{html.escape(str(folder.resolve()))}</code> (command.txt, "
                         "model.zip and logs/ are beside it).")
        parts.append("</p>")
    return parts


def _episode(gif) -> list[str]:
    """The GIF of the best job's episode; a sweep over envs: (env, GIF) per env rendered."""
    parts = []
    for env, path in gif if isinstance(gif, list) else [(None, gif)]:
        if path is None or not Path(path).is_file():
            continue
        where = "" if env is None else f" on env {html.escape(env)}"
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<h2>An episode of the best job's final policy{where}</h2><p>"
                     f"{html.escape(str(path))}</p><img alt=\"best policy episode\" "
                     f'src="data:image/gif;base64,{data}">')
    return parts


def _confirmation(sweep: Sweep, confirmed: pd.DataFrame | None) -> list[str]:
    """The confirmed table, verdict and figure; for a sweep over envs one of each per env."""
    from learning.analysis.confirm_envs import by_env
    from learning.analysis.confirm_verdict import confirmation_table, verdict

    if confirmed is None:
        return []
    parts = ["<h2>Confirmation with fresh seeds</h2>"]
    for env, sub, part in by_env(sweep, confirmed):
        if env is not None:
            parts.append(f"<h3>On env {html.escape(env)}</h3>")
        parts += [_table(confirmation_table(sub, part)),
                  f"<p>{html.escape(verdict(part, sweep.minimize))}</p>",
                  _img(plots.confirmation(part, sweep.metric), "confirmation")]
    return parts


def _parameters(sweep: Sweep) -> list[str]:
    std = sweep.std_column
    parts = ["<h2>The metric over the course of the optimization</h2>",
             _img(plots.metric_over_jobs(sweep.jobs, sweep.metric, std, sweep.minimize),
                  "metric over jobs")]
    if not sweep.params:
        return parts
    names = short_names(sweep.params)
    parts.append("<h2>The metric against each optimized parameter</h2>")
    parts.append(_img(plots.metric_vs_params(sweep.jobs, sweep.params,
                                             [names[p] for p in sweep.params],
                                             sweep.metric, std), "metric vs parameters"))
    importance = parameter_importance(sweep.jobs, sweep.params, sweep.metric)
    parts.append("<h2>Parameter importance</h2>")
    parts.append(
        "<p>|Spearman rank correlation| between each numeric parameter and the metric "
        "(categorical parameters: correlation ratio of the metric's ranks). It ignores "
        "interactions and is noisy with few jobs.</p>"
    )
    if importance["importance"].notna().any():
        scored = importance.dropna(subset=["importance"])
        scored = scored.assign(label=[names[p] for p in scored["parameter"]])
        parts.append(_img(plots.importance(scored), "parameter importance"))
    parts.append(_table(importance.assign(importance=importance["importance"].round(3))))
    return parts


def _curves(curve_data: list, share_y: bool = True) -> list[str]:
    """The best jobs' curves; one y axis for all unless they are of different envs."""
    parts = ["<h2>Learning curves of the best jobs</h2>"]
    if curve_data:
        parts.append(_img(plots.learning_curves(curve_data, share_y), "learning curves"))
    else:
        parts.append("<p class=note>No progress logs found for the best jobs.</p>")
    return parts


def _intermediate(sweep: Sweep, notes: list[str]) -> list[str]:
    from learning.analysis.intermediate import read_intermediate

    points = read_intermediate(sweep.root, sweep.metric, notes)
    iterations = pd.to_numeric(points["training_iterations"], errors="coerce")
    if points.empty or not (iterations > 1).any():
        return []  # jobs of one training iteration: nothing between iterations to show
    stopped = points[points["status"] == "stopped_early"].groupby("job_id")["stopped_at"].first()
    where = ", ".join(f"job {j} after iteration {int(k)}" for j, k in stopped.items())
    return ["<h2>The metric over training iterations</h2>",
            "<p>Every job's running estimate (its runs' evaluations) after each training "
            "iteration, as it recorded it in intermediate_results/ and announced it to "
            "cluster_utils; the last point of a finished job is its reported metric. "
            f"Stopped early by the pruning rule: {html.escape(where) or 'none'}.</p>",
            _img(plots.intermediate_metric(points, sweep.metric), "intermediate metric")]


def _population(sweep: Sweep, views, notes: list[str]) -> list[str]:
    """A population-based-training sweep: the best job's lineage, the schedules, the
    population's metric over iterations (learning.analysis.lineage_report); else []."""
    from learning.analysis.lineage_report import population_section

    return population_section(sweep, views[0].job_id if views else None, notes)


def _failed(sweep: Sweep) -> list[str]:
    if not sweep.failed:
        return []
    rows = pd.DataFrame([{"job": f.job_id, "error (its own output, last line)": f.error,
                          "from": f.source} for f in sweep.failed])
    return [f"<h2>Failed jobs ({len(sweep.failed)})</h2>" + _table(rows)]


def _notes(notes: list[str]) -> list[str]:
    if not notes:
        return []
    return ["<h2>Notes</h2><ul>" + "".join(
        f"<li class=note>{html.escape(n)}</li>" for n in notes) + "</ul>"]


def write_report(path, sweep: Sweep, views, curve_data: list, command: str | None,
                 confirmed: pd.DataFrame | None, notes: list[str],
                 gif: Path | list | None = None, axis=None) -> Path:
    """Write the report atomically and return its path (``gif``: embed this episode, or
    these (env, GIF) pairs; ``axis``: a sweep over envs, learning.analysis.per_env.EnvAxis:
    its tables instead of the one ranking, its normalized score in the figures over
    parameters)."""
    path = Path(path)
    notes = list(notes)
    population = [] if axis else _population(sweep, views, notes)
    parts = (_header(sweep, views, axis) + ([] if axis else _rerun(views[0], command))
             + _episode(gif) + _confirmation(sweep, confirmed) + population
             + _parameters(axis.normalized if axis and axis.normalized else sweep)
             + ([] if population else _intermediate(sweep, notes))
             + _curves(curve_data, share_y=axis is None)
             + _failed(sweep)
             + _notes(notes))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(sweep.root.name)}: optimization report</title>"
        f"<style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path
