"""What a learner attempt's outcome does to the job's restart state (part of the Job of
learning.job.loop): an iteration done, a run finished, a failed attempt counted (the job
fails after ``max_attempts``), a continuation from the newest model the attempt saved, a
write failure that stops the job; then the progress and the running estimate announced
(learning.job.pruning), which may stop the job early."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cluster_utils import client

from learning.contract import (
    MODEL_FILE,
    OUTCOME_CONFIG_ERROR,
    OUTCOME_DIVERGED,
    OUTCOME_FAILED,
    OUTCOME_NO_SPACE,
    OUTCOME_OK,
    OUTCOME_WRITE_FAILED,
)
from learning.job import metrics as job_metrics
from learning.job.attempts import remove_temporary_files
from learning.job.continuation import continue_from_attempt
from learning.job.disk import write_stop
from learning.job.outcomes import Outcome
from learning.job.population import Population
from learning.job.pruning import IterationRecorder, completed_iterations
from learning.job.settings import JobOptions
from learning.records.job_state import FAILED, FINISHED, PENDING, Attempt, JobState, RunState


class OutcomeBookkeeping:
    """The Job's methods that record outcomes. The Job provides these attributes and
    ``save``, ``_fail``, ``_halt`` and ``_stop_learners``."""

    state: JobState
    options: JobOptions
    working_dir: Path
    recorder: IterationRecorder
    population: Population
    log: Callable[[str], None]

    def _apply(self, run: RunState, attempt: Attempt, outcome: Outcome,
               settling: bool = False) -> None:
        """Record how ``attempt`` ended and what the run does next. ``settling``: the
        attempt of an earlier job process (a write failure then does not stop this one)."""
        attempt.outcome, attempt.message, attempt.timesteps = outcome
        self.state.in_flight = [e for e in self.state.in_flight if e.dir != attempt.dir]
        self.log(f"{attempt.dir}: {outcome.kind}"
                 + (f": {outcome.message}" if outcome.message else ""))
        removed = remove_temporary_files(self.working_dir / attempt.dir)
        if removed:
            self.log(f"{attempt.dir}: removed the temporary files of its last save: {removed}")
        if outcome.kind == OUTCOME_OK:
            self._iteration_done(run, attempt)
        elif outcome.kind == OUTCOME_CONFIG_ERROR:
            self._fail(f"config error in {self.working_dir / attempt.dir}: {outcome.message}",
                       config_error=True)
        elif outcome.kind == OUTCOME_DIVERGED:  # its checkpoints may hold the divergence
            self._attempt_failed(run)
        else:  # interrupted, failed, no_space, write_failed: continue from its last save
            self._continue_from(run, attempt)
            if outcome.kind == OUTCOME_FAILED:
                self._attempt_failed(run)
            elif outcome.kind in (OUTCOME_NO_SPACE, OUTCOME_WRITE_FAILED) and not settling:
                self._halt(write_stop(outcome.kind, outcome.message,
                                      self.working_dir / attempt.dir))
        self.save()
        if self.state.status != FAILED:
            self._announce(run)

    def _continue_from(self, run: RunState, attempt: Attempt) -> None:
        """The run waits for its next attempt, which continues from the newest complete
        model this attempt saved (a checkpoint, or its save on a stop signal) if that has
        more timesteps than the run's resume model."""
        run.status = PENDING
        steps = continue_from_attempt(self.working_dir, run, attempt)
        if steps is not None:
            self.log(f"{attempt.dir}: the next attempt continues from its model at {steps}"
                     " timesteps")

    def _iteration_done(self, run: RunState, attempt: Attempt) -> None:
        model = f"{attempt.dir}/{MODEL_FILE}"
        if run.iteration + 1 < self.options.training_iterations:
            run.iteration += 1
            run.next_attempt = 0
            run.iteration_target_timesteps = None
            run.resume_model, run.resume_timesteps = model, attempt.timesteps
            run.status = PENDING
        else:
            run.status = FINISHED
            run.final_model = model
            run.score = job_metrics.run_score(self.working_dir, run)
            self.log(f"run {run.run} finished: {run.score}")

    def _attempt_failed(self, run: RunState) -> None:
        run.failed_attempts += 1
        run.status = PENDING
        if run.failed_attempts < self.options.max_attempts:
            return
        run.status = FAILED
        history = "; ".join(
            f"{a.dir}: {a.outcome}: {a.message}"
            for a in run.attempts
            if a.outcome in (OUTCOME_FAILED, OUTCOME_DIVERGED)
        )
        self._fail(
            f"run {run.run} failed {run.failed_attempts} attempts (max_attempts"
            f" {self.options.max_attempts}) in {self.working_dir}: {history}"
        )

    def _announce(self, run: RunState) -> None:
        """Progress and, after each training iteration of all runs, the running estimate
        (learning.job.pruning), which may stop the job early."""
        iterations = self.options.training_iterations
        done = 0.0
        for r in self.state.runs:
            if r.status == FINISHED:
                done += iterations
                continue
            done += r.iteration
            start, target = r.iteration_start_timesteps, r.iteration_target_timesteps
            if target:
                done += max(0.0, min(1.0, (r.resume_timesteps - start) / (target - start)))
        client.announce_fraction_finished(done / (iterations * len(self.state.runs)))
        if self.recorder.after_settle(self.state):  # the rule stops the job now
            self.save()
            self._stop_learners()
        self._decide_population()

    def _decide_population(self) -> None:
        """Population-based training after each iteration all runs completed
        (learning.job.population): it may replace the runs' models before they go on."""
        self.population.after_settle(completed_iterations(self.state), self.recorder.record,
                                     self.save)
