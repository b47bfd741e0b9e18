"""Read what cluster_utils wrote for one optimization, finished or still running.

cluster_utils 3.0 writes to ``results_dir/<optimization_procedure_name>/``:

- ``metadata.json``: ``{"run_type": "HP_OPTIMIZATION" | "GRID_SEARCH", "start_time"}``;
- ``all_data.csv``: one row per job that reported metrics: its flattened settings
  (``config.rl_config.learning_rate``, ..., ``working_dir``, ``id``), ``_id``,
  ``_iteration`` (hp_optimization only) and the metrics the job reported.
  hp_optimization rewrites it after every iteration, grid_search only at the end;
- ``reduced_data.csv`` (hp_optimization): the optimized parameters, the metric averaged
  over jobs with identical settings, ``job_restarts`` and ``<metric>__std``;
- ``status.pickle`` (hp_optimization): the optimizer (metric, minimize, parameters);
- ``report_data.pickle`` (grid_search, at the end): parameters and metric names
  (both pickles are read without running code from them: learning.records.safe_pickle);
- ``best_jobs/directories_<id>/`` (hp_optimization with
  ``num_best_jobs_whose_data_is_kept`` > 0): copies of the best jobs' working dirs;
- ``working_directories/<id>/``: the jobs' working dirs (``settings.json``,
  ``param_choice.csv``, and ``metrics.csv`` once the job finished). hp_optimization
  deletes them after each iteration unless ``remove_working_dirs`` is false.

Everything here reads those files with pandas; nothing needs the optimization to be over.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from learning.analysis.cluster_utils_files import Recorded, read_recorded
from learning.analysis.tables import integer, read_all_data, read_csv
from learning.contract import FAILED_JOBS_FILE, METRICS_FILE, PARAM_CHOICE_FILE, SETTINGS_FILE
from learning.records.failed_jobs import FailedJob, read_failed_jobs

#: Metrics tried, in this order, when neither the user nor cluster_utils names one.
DEFAULT_METRICS = ("mean_eval_reward", "mean_eprewmean")
#: Columns of all_data.csv / param_choice.csv that are bookkeeping, not parameters.
BOOKKEEPING = ("working_dir", "id", "_id", "_iteration")
JOB_DIR = re.compile(r"^\d+$")
BEST_JOB_DIR = re.compile(r"^directories_\d+$")
MARKERS = (
    "metadata.json",
    FAILED_JOBS_FILE,
    "all_data.csv",
    "reduced_data.csv",
    "status.pickle",
    "best_jobs",
    "working_directories",
)


class ResultsError(Exception):
    """The given directory cannot be read as cluster_utils results."""


@dataclass
class Sweep:
    """One optimization as read from disk.

    ``jobs`` has one row per job that reported metrics, best first, with the columns of
    all_data.csv plus ``rank``, ``job_id`` and ``job_dir`` (the directory that still
    holds the job's files, "" if none is left).
    """

    root: Path
    run_type: str
    metric: str
    minimize: bool
    params: list[str]
    jobs: pd.DataFrame
    metric_columns: list[str]
    #: the jobs' flattened settings (param_choice.csv), as far as a job dir shows them
    setting_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending: list[tuple[int, Path]] = field(default_factory=list)
    number_of_samples: int | None = None
    finished: bool | None = None
    #: jobs that failed without metrics, as the launcher recorded them (failed_jobs.json;
    #: ``error``: the last line of the job's own error output)
    failed: list[FailedJob] = field(default_factory=list)

    @property
    def std_column(self) -> str | None:
        """Column with the std over a job's runs of the optimized metric, if reported."""
        if self.metric.startswith("mean_"):
            name = "std_" + self.metric[len("mean_") :]
            if name in self.jobs.columns:
                return name
        return None

    def best(self, how_many: int) -> pd.DataFrame:
        return self.jobs[self.jobs[self.metric].notna()].head(how_many)


def _scan_job_dirs(root: Path, notes: list[str]) -> tuple[list[dict], list, set, set]:
    """Rows (params + metrics) of job dirs that hold metrics.csv; dirs that do not;
    the metric names and the (flattened) setting names found."""
    rows, pending, metric_names, setting_names = [], [], set(), set()
    candidates = []
    for sub, pattern in (("working_directories", JOB_DIR), ("best_jobs", BEST_JOB_DIR)):
        folder = root / sub
        if folder.is_dir():  # not e.g. reruns written beside them (<id>-rerun-<time>)
            candidates += sorted(
                p for p in folder.iterdir() if p.is_dir() and pattern.match(p.name)
            )
    for job_dir in candidates:
        params_file, metrics_file = job_dir / PARAM_CHOICE_FILE, job_dir / METRICS_FILE
        settings_file = job_dir / SETTINGS_FILE
        if not metrics_file.is_file():
            job_id = _job_id_of_dir(job_dir)
            if settings_file.is_file() and job_id is not None:
                pending.append((job_id, job_dir))
            continue
        metrics = read_csv(metrics_file, notes)
        params = read_csv(params_file, notes) if params_file.is_file() else None
        if metrics is None or metrics.empty:
            continue
        row = {}
        if params is not None and not params.empty:
            row.update(params.iloc[0].to_dict())
        elif settings_file.is_file():
            row.update(flatten(_read_settings(settings_file, notes)))
        setting_names.update(row)
        job_id = integer(row.get("id"))
        row["id"] = job_id if job_id is not None else _job_id_of_dir(job_dir)
        if row["id"] is None:
            continue
        row.update(metrics.iloc[0].to_dict())
        metric_names.update(metrics.columns)
        rows.append(row)
    return rows, pending, metric_names, setting_names


def _read_settings(path: Path, notes: list[str]) -> dict:
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        notes.append(f"{path}: unreadable ({type(e).__name__}: {e}); its settings not shown")
        return {}
    return settings if isinstance(settings, dict) else {}


def _job_id_of_dir(job_dir: Path) -> int | None:
    tail = job_dir.name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def flatten(nested: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}, the way cluster_utils names parameters."""
    out = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def resolve_job_dir(root: Path, job_id: int, working_dir: str | float | None) -> Path | None:
    """The directory that still holds a job's files: working dir, or its best_jobs copy.

    The results folder may have been moved (e.g. copied from the cluster), so the
    folders under ``root`` are tried before the absolute path cluster_utils recorded.
    """
    candidates = [
        root / "working_directories" / str(job_id),
        root / "best_jobs" / f"directories_{job_id}",
    ]
    if isinstance(working_dir, str) and working_dir:
        candidates.append(Path(working_dir))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def _collect_jobs(root: Path, notes: list[str]) -> tuple[pd.DataFrame, list, set, set, bool]:
    """all_data.csv plus the finished jobs it does not hold yet (a running optimization);
    the last value: all_data.csv was damaged."""
    frames = []
    all_data, damaged = read_all_data(root, notes)
    if all_data is not None:
        frames.append(all_data)
    rows, pending, metric_names, setting_names = _scan_job_dirs(root, notes)
    known = set(frames[0]["id"]) if frames and "id" in frames[0] else set()
    extra = {r["id"]: r for r in rows if r["id"] not in known}  # a job in both dirs: once
    if extra:
        frames.append(pd.DataFrame(list(extra.values())))
    jobs = pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
    finished_ids = set(jobs["id"]) if "id" in jobs else set()
    pending = sorted({(i, d) for i, d in pending if i not in finished_ids})
    if pending:
        notes.append(
            f"job(s) {', '.join(str(i) for i, _ in pending)} started but have no metrics.csv: "
            "still running, or failed (see job.log in "
            f"{', '.join(str(d) for _, d in pending[:3])}{' ...' if len(pending) > 3 else ''}"
            " and cluster_utils' job logs)"
        )
    return jobs, pending, metric_names, setting_names, damaged


def _rank(root: Path, jobs: pd.DataFrame, metric: str, minimize: bool,
          notes: list[str]) -> pd.DataFrame:
    jobs["job_id"] = jobs["id"].astype(int)
    working_dirs = jobs["working_dir"] if "working_dir" in jobs else [None] * len(jobs)
    jobs["job_dir"] = [
        str(resolve_job_dir(root, i, w) or "")
        for i, w in zip(jobs["job_id"], working_dirs, strict=True)
    ]
    jobs[metric] = pd.to_numeric(jobs[metric], errors="coerce")
    missing = jobs[jobs[metric].isna()]["job_id"].tolist()
    if missing:
        notes.append(f"job(s) {', '.join(map(str, missing))} reported no value for {metric}; "
                     "ranked last")
    jobs = jobs.sort_values(
        [metric, "job_id"], ascending=[minimize, True], na_position="last"
    ).reset_index(drop=True)
    jobs.insert(0, "rank", range(1, len(jobs) + 1))
    return jobs


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise ResultsError(f"{root}: no such directory")
    if not any((root / m).exists() for m in MARKERS):
        raise ResultsError(
            f"{root} is not a cluster_utils results directory: it holds none of "
            f"{', '.join(MARKERS)}. Pass results_dir/<optimization_procedure_name>, "
            "the folder cluster_utils printed as 'Results are stored in ...'."
        )


def _no_jobs_error(root: Path, pending: list, notes: list[str]) -> ResultsError:
    failed = read_failed_jobs(root)
    return ResultsError(
        f"{root}: no job has reported metrics yet (no usable all_data.csv and no "
        "working_directories/*/metrics.csv)"
        + (f"; {len(pending)} job(s) started" if pending else "")
        + (f"; {len(failed)} failed:" + "".join(f"\n  job {f.job_id}: {f.error}"
                                                for f in failed)
           if failed else ". Wait for the first jobs to finish, or look at the jobs' logs in "
           "~/.cache/cluster_utils/<name>-<time>-jobs/ if they failed.")
        + "".join(f"\n  - {note}" for note in notes)
    )


def failed_without_metrics(root: Path, jobs: pd.DataFrame) -> list[FailedJob]:
    """The launcher's record of failed jobs (failed_jobs.json), less those that reported
    metrics after all (a job continued by --resume)."""
    finished = {int(i) for i in pd.to_numeric(jobs.get("id", pd.Series(dtype=float)),
                                              errors="coerce").dropna()}
    return [job for job in read_failed_jobs(root) if job.job_id not in finished]


def _optimized_params(rec: Recorded, jobs: pd.DataFrame, metric_columns: set,
                      notes: list[str]) -> list[str]:
    params = rec.params
    if not params:
        params = _varied_params(jobs, metric_columns)
        notes.append(
            "optimized parameters not recorded by cluster_utils (yet); showing the "
            f"parameters that differ between jobs: {', '.join(params) or 'none'}"
        )
    return [p for p in params if p in jobs.columns]


def _is_finished(rec: Recorded, jobs: pd.DataFrame, pending: list) -> bool | None:
    if rec.run_type == "GRID_SEARCH":
        return rec.grid_search_done
    if rec.number_of_samples is not None:
        return len(jobs) >= rec.number_of_samples and not pending
    return None


def load_sweep(root: str | Path, metric: str | None = None, minimize: bool | None = None) -> Sweep:
    """Read one optimization (``results_dir/<optimization_procedure_name>``).

    ``metric``/``minimize`` override what the optimization used (grid searches record
    neither: the default is the first of DEFAULT_METRICS the jobs reported, maximized).
    """
    root = Path(root)
    _check_root(root)
    notes: list[str] = []
    rec = read_recorded(root, notes)
    jobs, pending, metric_names, setting_columns, damaged = _collect_jobs(root, notes)
    if jobs.empty:
        raise _no_jobs_error(root, pending, notes)
    metric_columns = rec.metric_columns | metric_names
    if not metric_columns:
        metric_columns = {c for c in jobs.columns if c not in rec.params and c not in BOOKKEEPING}
    params = _optimized_params(rec, jobs, metric_columns, notes)
    metric = _choose_metric(root, jobs, metric, rec.metric, metric_columns)
    if minimize is None:
        minimize = bool(rec.minimize) if rec.minimize is not None else False
    jobs = _rank(root, jobs, metric, minimize, notes)
    return Sweep(
        root=root,
        run_type=rec.run_type,
        metric=metric,
        minimize=minimize,
        params=params,
        jobs=jobs,
        metric_columns=sorted(str(c) for c in metric_columns if c in jobs.columns),
        setting_columns=sorted(str(c) for c in setting_columns if c in jobs.columns),
        notes=notes,
        pending=pending,
        number_of_samples=rec.number_of_samples,
        finished=None if damaged else _is_finished(rec, jobs, pending),
        failed=failed_without_metrics(root, jobs),
    )


def _varied_params(jobs: pd.DataFrame, metric_columns: set) -> list[str]:
    out = []
    for column in jobs.columns:
        if column in metric_columns or column in BOOKKEEPING or column == "time_elapsed":
            continue
        if jobs[column].astype(str).nunique() > 1:
            out.append(column)
    return out


def _choose_metric(root, jobs, requested, recorded, metric_columns) -> str:
    numeric = sorted(
        str(c) for c in metric_columns
        if c in jobs.columns and pd.api.types.is_numeric_dtype(jobs[c])
    )
    if requested is not None:
        if requested not in jobs.columns:
            raise ResultsError(
                f"{root}: metric {requested!r} was not reported by any job; "
                f"valid: {', '.join(numeric) or '(none)'}"
            )
        return requested
    for name in (recorded, *DEFAULT_METRICS):
        if name and name in jobs.columns:
            return name
    if not numeric:
        raise ResultsError(f"{root}: the jobs reported no numeric metric")
    return numeric[0]
