"""The job's intermediate results after every training iteration, and its pruning rule.

**Intermediate metric.** A job with ``training_iterations`` T > 1 has completed *iteration
k* once every one of its runs has trained and evaluated k chained iterations (the job
trains its runs breadth first, so that this comes as early as its CPUs allow). For each
k < T it computes its running estimate, the job metrics (learning.job.metrics) over the
runs' evaluations after iteration k, records it and announces it to cluster_utils
(``announce_early_results``). The evaluations of iterations before the last use
``intermediate_evaluation_episodes`` episodes (default: rl_common_config's
``evaluation_episodes``), so a short deterministic evaluation gives the estimate cheaply.

**Record.** Every job of a sweep writes ``<results_dir>/<name>/intermediate_results/
job_<id>.json`` (atomically, after each iteration and at its end), outside
``working_directories/``, which cluster_utils deletes; a job run standalone writes
``intermediate_results.json`` in its working dir. Format ``lttfs-intermediate/1``::

    {"format", "job_id", "params_digest", "metric", "minimize", "training_iterations",
     "status": "running" | "finished" | "stopped_early", "stopped_at": k | null,
     "iterations": [{"iteration": k, "metrics": {...}, "time": unix seconds,
                     "learner_cpu_seconds": s, "timesteps_trained": n}, ...],
     "final": {"metrics", "time", "learner_cpu_seconds", "timesteps_trained"} | null}

``learner_cpu_seconds`` is the CPU time of all the job's learner attempts so far (failed
ones included), ``timesteps_trained`` the runs' model timesteps.

**Pruning rule** (job setting ``pruning.keep_fraction``, off by default). After iteration
k < T the job compares its estimate of ``pruning.metric`` with those that the sweep's
other jobs recorded after their iteration k (running, finished or stopped ones: the jobs
that reached k). If at least ``pruning.min_jobs`` of them did and more than
``keep_fraction`` of them did strictly better, the job stops: its running learners save
and exit, and it finishes (``finalize_job``) with its estimate as its metrics and
``stopped_early`` 1.0, so cluster_utils records a metric for the sample as for any job.
keep_fraction 0.5 is the median stopping rule; 1/3 keeps the best third at every
iteration, as asynchronous successive halving (ASHA) with reduction factor 3.
Why not cluster_utils' own ``kill_bad_jobs_early``: see README, "Pruning".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster_utils import client

from learning.atomic_io import atomic_write_json
from learning.config.checks import is_integer
from learning.contract import (
    INTERMEDIATE_DIR,
    INTERMEDIATE_FORMAT,
    OUTCOME_INTERRUPTED,
    OUTCOME_OK,
    STOPPED_EARLY_METRIC,
    intermediate_record_path,
    read_intermediate_record,
)
from learning.job import metrics as job_metrics
from learning.job.settings import JobConfigError
from learning.records.job_state import FINISHED, PENDING, JobState, RunState

PRUNING_KEYS = ("keep_fraction", "metric", "minimize", "min_jobs")
RUNNING, FINISHED_RECORD, STOPPED = "running", "finished", "stopped_early"


@dataclass(frozen=True)
class PruningOptions:
    """The job settings ``pruning.*`` and ``intermediate_evaluation_episodes``."""

    keep_fraction: float | None = None  #: None (left out): never stop early
    metric: str = "mean_eval_reward"  #: must be the sweep's metric_to_optimize
    minimize: bool = False  #: must be the sweep's minimize
    min_jobs: int = 5  #: other jobs needed at an iteration before any stop
    intermediate_evaluation_episodes: int | None = None  #: None: evaluation_episodes

    @property
    def enabled(self) -> bool:
        return self.keep_fraction is not None


def read_pruning(settings: dict[str, Any], training_iterations: int) -> PruningOptions:
    """The pruning options of a job's settings; JobConfigError naming a bad setting."""
    episodes = settings.get("intermediate_evaluation_episodes")
    if episodes is not None and not is_integer(episodes, 1):
        raise JobConfigError("setting intermediate_evaluation_episodes: expected null or an"
                             f" integer >= 1, got {episodes!r}")
    pruning = settings.get("pruning", {})
    if not isinstance(pruning, dict):
        raise JobConfigError(f"setting pruning: expected an object with {', '.join(PRUNING_KEYS)},"
                             f" got {pruning!r}")
    unknown = sorted(set(pruning) - set(PRUNING_KEYS))
    if unknown:
        raise JobConfigError(f"unknown setting pruning.{unknown[0]}; valid: "
                             + ", ".join(f"pruning.{k}" for k in PRUNING_KEYS))
    options = PruningOptions(intermediate_evaluation_episodes=episodes, **pruning)
    fraction = options.keep_fraction
    if fraction is not None and (isinstance(fraction, bool) or not isinstance(
            fraction, (int, float)) or not 0 < fraction < 1):
        raise JobConfigError("setting pruning.keep_fraction: expected null (no pruning) or a"
                             f" number in (0, 1), e.g. 0.5 (median rule), got {fraction!r}")
    if not isinstance(options.metric, str) or options.metric not in job_metrics.METRIC_NAMES:
        raise JobConfigError(f"setting pruning.metric: {options.metric!r} is not a job metric;"
                             f" valid: {', '.join(job_metrics.METRIC_NAMES)}")
    if not isinstance(options.minimize, bool):
        raise JobConfigError(f"setting pruning.minimize: expected true or false, got"
                             f" {options.minimize!r}")
    if not is_integer(options.min_jobs, 1):
        raise JobConfigError(f"setting pruning.min_jobs: expected an integer >= 1, got"
                             f" {options.min_jobs!r}")
    if options.enabled and training_iterations < 2:
        raise JobConfigError("setting pruning.keep_fraction: a job can only be stopped between"
                             " training iterations; set training_iterations >= 2 (or"
                             " leave pruning.keep_fraction out)")
    return options


def read_record(path: Path) -> dict[str, Any] | None:
    """A job's intermediate record with its list of iterations, None if missing or
    unreadable (being replaced, or from another version)."""
    record = read_intermediate_record(path)
    if record is None or not isinstance(record.get("iterations"), list):
        return None
    return record


def value_after(record: dict[str, Any], iteration: int, metric: str) -> float | None:
    """The metric a record holds for ``iteration`` (finite), else None."""
    for entry in record["iterations"]:
        if isinstance(entry, dict) and entry.get("iteration") == iteration:
            value = (entry.get("metrics") or {}).get(metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                return float(value)
    return None


def should_stop(value: float, peers: list[float], options: PruningOptions) -> tuple[bool, str]:
    """The rule: stop when more than keep_fraction of at least min_jobs peers did better
    (a NaN value counts as worse than any)."""
    if len(peers) < options.min_jobs:
        return False, f"{len(peers)} other job(s) reached it (pruning.min_jobs {options.min_jobs})"
    if math.isnan(value):
        better = len(peers)
    elif options.minimize:
        better = sum(p < value for p in peers)
    else:
        better = sum(p > value for p in peers)
    stop = better > options.keep_fraction * len(peers)
    return stop, (f"{better} of {len(peers)} other jobs did better (keep_fraction"
                  f" {options.keep_fraction:g})")


def completed_iterations(state: JobState) -> int:
    """Training iterations every run has completed."""
    return min(state.training_iterations if run.status == FINISHED else run.iteration
               for run in state.runs)


def next_run(state: JobState) -> RunState | None:
    """The waiting run to start next: breadth first (lowest iteration, then run index), so
    that every run completes an iteration before any starts the one after."""
    waiting = [run for run in state.runs if run.status == PENDING]
    return min(waiting, key=lambda run: (run.iteration, run.run)) if waiting else None


def _totals(state: JobState) -> dict[str, float]:
    cpu = sum(a.cpu_seconds or 0.0 for run in state.runs for a in run.attempts)
    timesteps = 0
    for run in state.runs:
        reached = [a.timesteps for a in run.attempts
                   if a.outcome in (OUTCOME_OK, OUTCOME_INTERRUPTED) and a.timesteps]
        timesteps += max(reached, default=0)
    return {"time": time.time(), "learner_cpu_seconds": cpu, "timesteps_trained": timesteps}


class Pruner:
    """The job's intermediate record, announcements and stop decisions."""

    def __init__(self, settings: dict[str, Any], options: PruningOptions, working_dir: Path,
                 state: JobState, log: Callable[[str], None]) -> None:
        self.options = options
        self.working_dir = working_dir
        self.log = log
        self.path = intermediate_record_path(working_dir, settings.get("id"))
        record = read_record(self.path)
        if record is None or record.get("params_digest") != state.params_digest:
            record = {"format": INTERMEDIATE_FORMAT, "job_id": settings.get("id"),
                      "params_digest": state.params_digest, "metric": options.metric,
                      "minimize": options.minimize,
                      "training_iterations": state.training_iterations,
                      "status": RUNNING, "stopped_at": None, "iterations": [], "final": None}
        self.record = record

    @property
    def stopped(self) -> bool:
        return self.record["status"] == STOPPED

    def attempt_roles(self, roles: dict[str, dict[str, Any]], run: RunState,
                      training_iterations: int) -> dict[str, dict[str, Any]]:
        """The configs of the run's next attempt: a short evaluation before the last
        iteration, if intermediate_evaluation_episodes says so."""
        episodes = self.options.intermediate_evaluation_episodes
        if episodes is None or run.iteration >= training_iterations - 1:
            return roles
        common = dict(roles["rl_common_config"], evaluation_episodes=episodes)
        return dict(roles, rl_common_config=common)

    def after_settle(self, state: JobState) -> bool:
        """Record and announce every iteration completed since the last call; whether the
        rule stops the job now (it then finishes with :meth:`stop_metrics`)."""
        stopping = False
        done = min(completed_iterations(state), state.training_iterations - 1)
        for iteration in range(len(self.record["iterations"]) + 1, done + 1):
            scores = [job_metrics.score_after(self.working_dir, run, iteration - 1)
                      for run in state.runs]
            metrics = job_metrics.job_metrics(scores, state.failed_attempts(), iteration)
            self.record["iterations"].append(
                {"iteration": iteration, "metrics": metrics, **_totals(state)})
            self._save()
            client.announce_early_results(dict(metrics))
            value = metrics[self.options.metric]
            self.log(f"after iteration {iteration} of {state.training_iterations}:"
                     f" {self.options.metric} {value:.4g} (running estimate over the runs)")
            if self.options.enabled and not self.stopped:
                stop, why = should_stop(value, self._peer_values(iteration), self.options)
                self.log(f"pruning: {why}: {'stopping early' if stop else 'continuing'}")
                if stop:
                    stopping = True
                    self._stop(state, iteration, scores)
        return stopping

    def _peer_values(self, iteration: int) -> list[float]:
        folder = self.path.parent
        if folder.name != INTERMEDIATE_DIR or not folder.is_dir():
            return []  # a standalone job has no peers
        values = []
        for path in sorted(folder.glob("job_*.json")):
            if path.resolve() == self.path.resolve():
                continue
            record = read_record(path)
            if record is not None and record.get("metric") == self.options.metric:
                value = value_after(record, iteration, self.options.metric)
                if value is not None:
                    values.append(value)
        return values

    def _stop(self, state: JobState, iteration: int, scores: list) -> None:
        self.record.update(status=STOPPED, stopped_at=iteration)
        for run, score in zip(state.runs, scores, strict=True):
            if run.status != FINISHED:
                run.score = score  # what the inspection shows per run
        self._save()

    def stop_metrics(self) -> dict[str, float]:
        """The metrics a stopped job finishes with (its estimate when it was stopped)."""
        entry = self.record["iterations"][self.record["stopped_at"] - 1]
        return dict(entry["metrics"], **{STOPPED_EARLY_METRIC: 1.0})

    def finish(self, state: JobState, metrics: dict[str, float]) -> None:
        """Record the job's final metrics (stopped or finished) and its totals."""
        if not self.stopped:
            self.record["status"] = FINISHED_RECORD
        self.record["final"] = {"metrics": dict(metrics), **_totals(state)}
        self._save()

    def _save(self) -> None:
        """Write the record; a failed write (a full disk) is logged, not fatal: the record
        only informs the other jobs' rule and the inspection."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, self.record, indent=1)
        except OSError as e:
            self.log(f"cannot write the intermediate record {self.path}: {e}")
