"""An hp_optimization's optimizer, rebuilt from the sweep's own data files, never unpickled.

cluster_utils continues an optimization by unpickling ``status.pickle`` (its optimizer)
with plain ``pickle.load``: a results folder is a shared artifact (the docs recommend
``umask 002`` for shared results), so a group member could plant a pickle that runs code
as whoever resumes the sweep. The launcher never loads it. It builds a fresh optimizer
of the same kind and settings and hands it what the finished jobs reported, read as
data:

- ``all_data.csv``: cluster_utils' table of every job told to the optimizer (its
  ``full_df``), and
- the finished jobs it was not told yet (their ``metrics.csv`` and ``settings.json``,
  learning.launch.results_folder), tagged with the next iteration.

For ``cem_metaoptimizer`` that is its whole state: the table, the averaged table, the
iteration, and its distributions fitted to the best settings (exactly what its ``tell``
computes). A nevergrad optimizer is told every job again in job-id order ("tell not
asked": ``spawn_child`` with the job's values); its internal random state is new, as
after any restart. ``status.pickle`` is only read with the inert reader the inspection
uses (learning.records.safe_pickle) to check that it optimized the same metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from learning.launch.sweep_file import SweepFile
from learning.numpy_scalars import without_numpy_scalars
from learning.records.safe_pickle import Stub, load_inert

ALL_DATA = "all_data.csv"
STATUS_PICKLE = "status.pickle"


class RebuildError(Exception):
    """The optimizer cannot be rebuilt; the message says why and what to do."""


def recorded_jobs(root: Path) -> pd.DataFrame:
    """``all_data.csv`` as data (an empty table if there is none)."""
    path = Path(root) / ALL_DATA
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, index_col=0)
    except pd.errors.EmptyDataError:  # cluster_utils writes an empty table as ""
        return pd.DataFrame()
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise RebuildError(f"{path}: unreadable ({e}); start again with --fresh") from e


def _check_status(root: Path, metric: str, minimize: bool) -> None:
    path = Path(root) / STATUS_PICKLE
    if not path.is_file():
        return
    try:
        status = load_inert(path)
    except Exception:  # a damaged file: all_data.csv holds the same jobs
        return
    state = status.attributes() if isinstance(status, Stub) else {}
    recorded = (state.get("metric_to_optimize"), state.get("minimize"))
    if None not in recorded and recorded != (metric, minimize):
        raise RebuildError(f"{path}: the sweep optimized {recorded[0]!r} (minimize"
                           f" {recorded[1]}), this file asks for {metric!r} (minimize"
                           f" {minimize}); start again with --fresh")


def _new_optimizer(sweep: SweepFile, distributions: list) -> Any:
    from cluster_utils.server.settings import optimizer_dict

    setting = sweep.params["optimization_setting"]
    return optimizer_dict[sweep.params["optimizer_str"]](
        optimized_params=distributions, metric_to_optimize=setting["metric_to_optimize"],
        minimize=setting["minimize"], number_of_samples=setting["number_of_samples"],
        report_hooks=[], **dict(sweep.params["optimizer_settings"]))


def _tell_nevergrad(optimizer: Any, table: pd.DataFrame) -> None:
    ng = optimizer.optimizer
    order = table.sort_values("_id") if "_id" in table.columns else table
    for _, row in order.iterrows():
        value = float(row[optimizer.metric_to_optimize])
        kwargs = {name: without_numpy_scalars(row[name]) for name in optimizer.params}
        try:
            candidate = ng.parametrization.spawn_child(new_value=((), kwargs))
            ng.tell(candidate, value if optimizer.minimize else -value)
        except Exception as e:  # nevergrad's own errors (an optimizer that cannot)
            raise RebuildError(
                f"nevergrad's {type(ng).__name__} cannot be told the recorded job"
                f" {without_numpy_scalars(row.get('_id'))} ({type(e).__name__}: {e}); start"
                " again with --fresh") from e


def rebuild_optimizer(sweep: SweepFile, distributions: list,
                      extra: pd.DataFrame | None = None) -> Any:
    """A fresh optimizer told every job in ``all_data.csv`` and the rows of ``extra`` (the
    recovered jobs, their ``_iteration`` set)."""
    from cluster_utils.server import data_analysis

    setting = sweep.params["optimization_setting"]
    metric, minimize = setting["metric_to_optimize"], setting["minimize"]
    root = sweep.results_root
    _check_status(root, metric, minimize)
    table = recorded_jobs(root)
    iterations = pd.to_numeric(table["_iteration"], errors="coerce") \
        if "_iteration" in table.columns else pd.Series(dtype=float)
    if extra is not None and len(extra):
        table = pd.concat([table, extra], ignore_index=True, sort=True)
    optimizer = _new_optimizer(sweep, distributions)
    if table.empty:
        return optimizer
    missing = [c for c in [metric, *optimizer.params] if c not in table.columns]
    if missing:
        raise RebuildError(f"{root / ALL_DATA}: no column {', '.join(missing)} (the sweep"
                           " recorded other parameters or another metric); start again"
                           " with --fresh, or give the hp_optim file it started with")
    table[metric] = pd.to_numeric(table[metric], errors="coerce")
    optimizer.full_df = table.sort_values([metric], ascending=minimize)
    optimizer.minimal_df = data_analysis.average_out(
        optimizer.full_df, [metric], optimizer.params, sort_ascending=minimize)
    # the iterations cluster_utils finished (the recovered jobs belong to the next one)
    optimizer.iteration = int(iterations.max()) if iterations.notna().any() else 0
    if hasattr(optimizer, "get_best_params"):  # cem_metaoptimizer: its tell's last step
        best = optimizer.get_best_params()
        for distribution in optimizer.optimized_params:
            distribution.fit(best[distribution.param_name])
    else:
        _tell_nevergrad(optimizer, table)
    return optimizer
