"""The job's intermediate results after every training iteration, and its pruning settings.

**Intermediate metric.** A job with ``training_iterations`` T > 1 has completed *iteration
k* once every one of its runs has trained and evaluated k chained iterations (the job
trains its runs breadth first, so that this comes as early as its CPUs allow). For each
k < T it computes its running estimate, the job metrics (learning.job.metrics) over the
runs' evaluations after iteration k, records it and announces it to cluster_utils
(``announce_early_results``). The evaluations of iterations before the last use
``intermediate_evaluation_episodes`` episodes (default: rl_common_config's
``evaluation_episodes``), so a short deterministic evaluation gives the estimate cheaply.

**Record.** Every job of a sweep writes its intermediate record (its estimate after each
iteration, its final metrics, whether it was stopped; schema, reader and writer:
learning.records.intermediate) to ``<results_dir>/<name>/intermediate_results/
job_<id>.json``, where the other jobs' rule reads it; a job run standalone writes
``intermediate_results.json`` in its working dir.

**Pruning** (off by default). The job settings ``pruning.*`` choose a rule by name
(``pruning.rule``, default ``"median"``; a module of the user's registers more:
``pruning.module``; learning.plugins.pruning) and set its options. After iteration
k < T the job hands the rule its estimate of ``pruning.metric`` and those that the
sweep's other jobs recorded after their iteration k (running, finished or stopped ones:
the jobs that reached k). If the rule says stop, the job stops: its running learners save
and exit, and it finishes (``finalize_job``) with its estimate as its metrics and
``stopped_early`` 1.0, so cluster_utils records a metric for the sample as for any job.
Pruning is on when ``pruning.rule`` names a rule, or when the median rule's
``pruning.keep_fraction`` is given (as sweeps turned it on before rules had names).
Why not cluster_utils' own ``kill_bad_jobs_early``: see README, "Pruning".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster_utils import client

from learning.config.checks import is_integer
from learning.contract import (
    INTERMEDIATE_DIR,
    OUTCOME_INTERRUPTED,
    OUTCOME_OK,
    STOPPED_EARLY_METRIC,
)
from learning.job import metrics as job_metrics
from learning.job.settings import JobConfigError
from learning.plugins.pruning import (
    DEFAULT_RULE,
    GENERAL_KEYS,
    Evidence,
    PruningRule,
    PruningRuleError,
    import_rule_module,
    rule_class,
)
from learning.records.intermediate import (
    FINISHED,
    STOPPED,
    FinalResult,
    IntermediateRecord,
    IterationResult,
    read_intermediate_record,
    record_path,
    sweep_records,
    write_intermediate_record,
)
from learning.records.job_state import FINISHED as RUN_FINISHED
from learning.records.job_state import PENDING, JobState, RunState

#: the defaults of pruning.metric and pruning.minimize
DEFAULT_METRIC, DEFAULT_MINIMIZE = "mean_eval_reward", False


@dataclass(frozen=True)
class PruningOptions:
    """The job settings ``pruning.*`` and ``intermediate_evaluation_episodes``."""

    rule: PruningRule  #: the chosen rule with its options
    enabled: bool = False  #: False: the rule is never asked, the job never stops early
    metric: str = DEFAULT_METRIC  #: must be the sweep's metric_to_optimize
    minimize: bool = DEFAULT_MINIMIZE  #: must be the sweep's minimize
    intermediate_evaluation_episodes: int | None = None  #: None: evaluation_episodes
    switched_on_by: str = ""  #: the setting that turned pruning on (for messages)


def read_pruning(settings: dict[str, Any], training_iterations: int,
                 project_dir: Path | None = None) -> PruningOptions:
    """The pruning options of a job's settings, the rule's checked by the rule;
    JobConfigError naming a bad setting. ``project_dir``: where else ``pruning.module``
    may be found (the pre-flight's, in the launcher's process)."""
    episodes = settings.get("intermediate_evaluation_episodes")
    if episodes is not None and not is_integer(episodes, 1):
        raise JobConfigError("setting intermediate_evaluation_episodes: expected null or an"
                             f" integer >= 1, got {episodes!r}")
    pruning = settings.get("pruning", {})
    if not isinstance(pruning, dict):
        raise JobConfigError("setting pruning: expected an object with "
                             + ", ".join(GENERAL_KEYS) + f" and the rule's options, got"
                             f" {pruning!r}")
    try:
        if pruning.get("module") is not None:
            import_rule_module(pruning["module"], project_dir)
        named = pruning.get("rule")
        rule_type = rule_class(DEFAULT_RULE if named is None else named)
        _check_known(pruning, rule_type)
        rule = rule_type.from_settings(pruning)
    except PruningRuleError as e:
        raise JobConfigError(str(e)) from e
    metric = pruning.get("metric", DEFAULT_METRIC)
    valid = job_metrics.metric_names_of_settings(settings, project_dir)
    if not isinstance(metric, str) or metric not in valid:
        raise JobConfigError(f"setting pruning.metric: {metric!r} is not a job metric;"
                             f" valid: {', '.join(valid)}")
    minimize = pruning.get("minimize", DEFAULT_MINIMIZE)
    if not isinstance(minimize, bool):
        raise JobConfigError(f"setting pruning.minimize: expected true or false, got"
                             f" {minimize!r}")
    switch = rule_type.switch
    switched_on_by = ("pruning.rule" if named is not None else f"pruning.{switch}"
                      if switch is not None and pruning.get(switch) is not None else "")
    if switched_on_by and training_iterations < 2:
        raise JobConfigError(f"setting {switched_on_by}: a job can only be stopped between"
                             " training iterations; set training_iterations >= 2 (or"
                             f" leave {switched_on_by} out)")
    return PruningOptions(rule, bool(switched_on_by), metric, minimize, episodes,
                          switched_on_by)


def _check_known(pruning: dict[str, Any], rule_type: type[PruningRule]) -> None:
    options = [option.name for option in rule_type.options]
    unknown = sorted(set(pruning) - set(options) - set(GENERAL_KEYS))
    if unknown:
        listed = [f"pruning.{name}" for name in options]
        raise PruningRuleError(
            f"unknown setting pruning.{unknown[0]}; valid: "
            + (", ".join(listed) + f" (the options of pruning rule {rule_type.name!r}), "
               if listed else f"(pruning rule {rule_type.name!r} has no options) ")
            + ", ".join(f"pruning.{key}" for key in GENERAL_KEYS))


def completed_iterations(state: JobState) -> int:
    """Training iterations every run has completed."""
    return min(state.training_iterations if run.status == RUN_FINISHED else run.iteration
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


class IterationRecorder:
    """Records and announces the job's estimate after every training iteration, asks the
    pruning rule whether to stop there, and records how the job ended."""

    def __init__(self, settings: dict[str, Any], options: PruningOptions, working_dir: Path,
                 state: JobState, log: Callable[[str], None]) -> None:
        self.options = options
        self.working_dir = working_dir
        self.log = log
        job_id = settings.get("id")
        self.path = record_path(working_dir, job_id)
        record = read_intermediate_record(self.path)
        if record is None or record.params_digest != state.params_digest:
            record = IntermediateRecord(
                job_id=job_id if is_integer(job_id) else None,
                params_digest=state.params_digest, metric=options.metric,
                minimize=options.minimize, training_iterations=state.training_iterations)
        self.record = record

    @property
    def stopped(self) -> bool:
        return self.record.status == STOPPED

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
        for iteration in range(len(self.record.iterations) + 1, done + 1):
            scores = [job_metrics.score_after(self.working_dir, run, iteration - 1)
                      for run in state.runs]
            metrics = job_metrics.job_metrics(scores, state.failed_attempts(), iteration)
            self.record.iterations.append(
                IterationResult(iteration=iteration, metrics=metrics, **_totals(state)))
            self._save()
            client.announce_early_results(dict(metrics))
            value = metrics[self.options.metric]
            self.log(f"after iteration {iteration} of {state.training_iterations}:"
                     f" {self.options.metric} {value:.4g} (running estimate over the runs)")
            if self.options.enabled and not self.stopped:
                decision = self.options.rule.should_stop(self._evidence(state, iteration))
                self.log(f"pruning: {decision.reason}:"
                         f" {'stopping early' if decision.stop else 'continuing'}")
                if decision.stop:
                    stopping = True
                    self._stop(state, iteration, scores)
        return stopping

    def _evidence(self, state: JobState, iteration: int) -> Evidence:
        metric = self.options.metric
        history = tuple(entry.metrics.get(metric, float("nan"))
                        for entry in self.record.iterations[:iteration])
        return Evidence(iteration=iteration, training_iterations=state.training_iterations,
                        value=history[-1], peers=tuple(self._peer_values(iteration)),
                        minimize=self.options.minimize, history=history)

    def _peer_values(self, iteration: int) -> list[float]:
        folder = self.path.parent
        if folder.name != INTERMEDIATE_DIR:
            return []  # a standalone job has no peers
        values = []
        for path, record in sweep_records(folder.parent):
            if record is None or path.resolve() == self.path.resolve() \
                    or record.metric != self.options.metric:
                continue
            entry = record.after(iteration)
            value = entry.value(self.options.metric) if entry is not None else None
            if value is not None:
                values.append(value)
        return values

    def _stop(self, state: JobState, iteration: int, scores: list) -> None:
        self.record.status, self.record.stopped_at = STOPPED, iteration
        for run, score in zip(state.runs, scores, strict=True):
            if run.status != RUN_FINISHED:
                run.score = score  # what the inspection shows per run
        self._save()

    def stop_metrics(self) -> dict[str, float]:
        """The metrics a stopped job finishes with (its estimate when it was stopped)."""
        entry = self.record.iterations[self.record.stopped_at - 1]
        return dict(entry.metrics, **{STOPPED_EARLY_METRIC: 1.0})

    def finish(self, state: JobState, metrics: dict[str, float]) -> None:
        """Record the job's final metrics (stopped or finished) and its totals."""
        if not self.stopped:
            self.record.status = FINISHED
        self.record.final = FinalResult(metrics=dict(metrics), **_totals(state))
        self._save()

    def _save(self) -> None:
        """Write the record; a failed write (a full disk) is logged, not fatal: the record
        only informs the other jobs' rule and the inspection."""
        try:
            write_intermediate_record(self.path, self.record)
        except OSError as e:
            self.log(f"cannot write the intermediate record {self.path}: {e}")
