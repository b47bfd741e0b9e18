"""The job loop: train the runs of one parameter sample, concurrently, with retries.

A job runs up to C learners at once, C = the CPUs it may use (its affinity, or the CPUs
it reserved with ``local_cpu_pinning``) divided by the CPUs one learner keeps busy
(rl_common_config ``torch_threads``, or ``n_envs`` worker processes with ``vec_env``
"subproc"; 1 by default); each learner is pinned to its own CPUs, runs beyond C wait.
A learner is one attempt at one training iteration of one run.

A freed slot takes the next waiting run at once (a retry while another run trains) until
all runs are done, in one job process. It ends its *chunk* of work early and calls
``exit_for_resume`` (exit code 3; cluster_utils starts the job again with the same
parameters in the same working directory) once its running learners ended, when its
time is short or, with ``resume_after_each_round``, after every round of learners
(learning.job.rounds). Learners are forked by the job's fork server where they can be
(warm starts, learning.job.warm_start). The restart state is loaded or made by
learning.job.state_setup; what each outcome does to it is learning.job.bookkeeping.

Waiting runs start breadth first (lowest training iteration first). After each training
iteration of all runs the job records and announces its running estimate and may stop
early (learning.job.pruning): its learners save and exit, and it finishes with that
estimate.

SIGTERM/SIGUSR1 reach every running learner, which saves; the job starts nothing more
and exits for resume once all of them ended. A run that fails ``max_attempts`` times (or
a learner's config error) fails the job: the other learners are asked to save and exit
(SIGTERM), then the job raises. A learner killed, crashed, stopped or stalled (its
heartbeat silent for the job setting ``learner_stall_seconds``: SIGSTOP, hung; the job
stops it, learning.job.stall) is retried from the newest complete model it saved (its
checkpoints, learning.job.continuation). A write that fails, the job's or a learner's (a full
disk, a read-only one), stops the job the same way but leaves its state running, so the
same command continues once the disk is usable (learning.job.disk); a working directory
deleted while the job runs fails it, saying so. Only the main thread changes the restart
state, and every change is written atomically (learning.records.job_state).

Files in the working directory: ``settings.json`` (cluster_utils), ``job_state.json``
(restart state, :mod:`learning.records.job_state`), ``job.log``, ``metrics.csv`` and
``param_choice.csv`` (cluster_utils, when finished) and one run folder per learner
attempt, ``run_<run>.<iteration>-<attempt>`` (learning.contract), with ``config/`` (the
merged configs the learner read), ``command.txt``, ``stdout.log``, ``stderr.log``,
``heartbeat`` (learning.job.stall), ``model.zip`` and ``logs/`` (progress.csv,
evaluation.json, run_info.json, configs/);
``job.lock`` (held while a job process runs, learning.job.lock),
``.job_state.reserve`` (learning.job.disk) and ``fork_server.log`` (the fork server's
output, learning.job.warm_start).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from cluster_utils import client
from cluster_utils.client import submission_state

from learning.contract import (
    EXIT_RESUME,
    JOB_LOG_FILE,
    OUTCOME_FAILED,
    OUTCOME_NO_SPACE,
    OUTCOME_WRITE_FAILED,
    RUN_CONFIG_DIR,
)
from learning.job import metrics as job_metrics
from learning.job.attempts import (
    cpus_per_learner,
    new_attempt,
    torch_threads,
)
from learning.job.bookkeeping import OutcomeBookkeeping
from learning.job.disk import (
    JobLog,
    JobWriteFailed,
    SpaceReserve,
    failed_write,
    job_write_failed,
    working_dir_vanished,
)
from learning.job.learner import (
    CpuReservation,
    LearnerExit,
    SignalForwarder,
    learner_env,
    learner_module,
    learner_slots,
    stop_orphan,
)
from learning.job.outcomes import Outcome, classify, classify_files, stalled
from learning.job.pool import LearnerPool, RunningLearner
from learning.job.population import Population
from learning.job.population_settings import read_population
from learning.job.pruning import IterationRecorder, next_run, read_pruning
from learning.job.rounds import ChunkRule, time_limit
from learning.job.settings import (
    JobConfigError,
    JobFailed,
    merged_configs,
    read_options,
)
from learning.job.stall import StallWatch
from learning.job.state_setup import load_or_create_state
from learning.job.warm_start import ForkServer, WarmProcess
from learning.records.job_state import (
    FAILED,
    FINISHED,
    Attempt,
    RunState,
    Segment,
    save_state,
    state_path,
)


class Job(OutcomeBookkeeping):
    def __init__(
        self, settings: dict[str, Any], process_started: float, main_started: float
    ) -> None:
        self.settings = settings
        self.options = read_options(settings)
        pruning = read_pruning(settings, self.options.training_iterations)
        self.configs = merged_configs(settings, validate=False)
        self.working_dir = Path(settings["working_dir"]).resolve()
        try:
            self.working_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise job_write_failed(e, self.working_dir) from e
        self.log = JobLog(self.working_dir / JOB_LOG_FILE)
        self.reserve = SpaceReserve(self.working_dir)
        self.halt: JobWriteFailed | None = None  #: why the job stops without failing
        self._state_unwritable = False  #: a write of the state failed: no more writes
        self.connected = bool(submission_state.connection_active)
        self.forwarder = SignalForwarder()
        self.pool = LearnerPool(self.forwarder)
        self.slots: list[frozenset[int]] = []  #: the CPUs of each concurrent learner
        self.running: dict[str, tuple[RunState, Attempt]] = {}  #: by attempt folder
        #: why this job process starts no more learners (its chunk ends), once it does not
        self.chunk_end: str | None = None
        self._cold_noted = False  #: logged why learners start cold
        self.failure: JobFailed | None = None  #: why the job fails, once it does
        self._vanished = False  #: the working directory vanished (the job failed)
        self._busy_since: float | None = None  #: since when a learner has been running
        self.stall_watch = StallWatch(self.options.learner_stall_seconds,
                                      self.options.learner_startup_seconds)
        starting = load_or_create_state(settings, self.options, self.working_dir, self.log)
        self.state = starting.state
        if starting.checked is not None:
            self.configs = starting.checked
        self.segment = Segment(pid=os.getpid(), host=socket.gethostname(),
                               started=process_started, main_started=main_started,
                               config_seconds=starting.config_seconds)
        limit = time_limit(self.options.job_time_limit_seconds, process_started)
        self.chunk = ChunkRule(self.connected, self.options.resume_after_each_round, limit)
        if limit is not None:
            self.log(f"time limit: {limit.source}")
        self.state.segments.append(self.segment)
        self.recorder = IterationRecorder(settings, pruning, self.working_dir, self.state,
                                          self.log)
        population = read_population(settings, self.options, pruning)
        self.population = Population(settings, population, self.working_dir, self.state,
                                     self.log)
        self.reserve.create()
        if not self.save():
            raise self.halt or self.failure
        self.population.write_lineage()

    # ----------------------------------------------------------------- state

    def save(self) -> bool:
        """Write the restart state; False if it cannot be written (the job then stops, and
        writes it no more: the file keeps the last complete state, from which the same
        command continues)."""
        if self._state_unwritable:
            return False
        try:
            self.reserve.write(lambda: save_state(self.working_dir, self.state))
        except OSError as e:
            self._state_unwritable = True
            self._halt(job_write_failed(e, state_path(self.working_dir)))
            return False
        return True

    # ----------------------------------------------------------------- loop

    def run(self) -> int:
        self.forwarder.install()
        reservation = None
        cpus = frozenset(os.sched_getaffinity(0))
        if self.options.local_cpu_pinning:
            reservation = CpuReservation(len(cpus))
            cpus = reservation.cpus or cpus
            self.segment.cpus = sorted(reservation.cpus) if reservation.cpus else None
        try:
            self._plan_slots(cpus)
            self._start_fork_server(cpus)
            self._settle_in_flight()
            self._decide_population()  # iterations done before a restart, not yet decided
            return self._loop()
        finally:
            self.pool.close()  # only left running when the job ends on an error
            self.forwarder.restore()
            if reservation is not None:
                reservation.release()

    def _start_fork_server(self, cpus: frozenset[int]) -> None:
        """Start the fork server (warm learner starts) on the job's CPUs if learners are
        to start."""
        if (not self.options.warm_learner_start or self.state.status == FAILED
                or all(run.status == FINISHED for run in self.state.runs)):
            return
        try:
            module = learner_module()
        except ValueError:
            return  # the first cold start reports it
        env = learner_env(torch_threads(self.configs.roles))
        self.pool.fork_server = ForkServer(self.working_dir, module, env,
                                           self.options.learner_startup_seconds, cpus)

    def _plan_slots(self, cpus: frozenset[int]) -> None:
        per_learner = cpus_per_learner(self.configs.roles)
        self.slots = learner_slots(cpus, per_learner)
        self.segment.learner_cpus = [sorted(slot) for slot in self.slots]
        waiting = sum(run.status != FINISHED for run in self.state.runs)
        note = ""
        if waiting < len(self.slots):
            note = (f"; {len(self.slots) - waiting} of them idle (request as many CPUs as"
                    " learning_runs_per_job, or a divisor)")
        self.log(f"{len(self.slots)} learner(s) at once on CPUs {sorted(cpus)},"
                 f" {per_learner} CPU(s) each{note}")

    def _loop(self) -> int:
        while True:
            if self._may_start():
                self._start_learners()
            if not self.pool:
                return self._end_round()
            self._settle_next()

    def _may_start(self) -> bool:
        if (self.state.status == FAILED or self.halt is not None or self.recorder.stopped
                or self.forwarder.received is not None):
            return False
        if self.chunk_end is None:
            self.chunk_end = self.chunk.stop_reason(self.state, self.segment.learners)
            if self.chunk_end is not None and self.pool:
                self.log(f"{self.chunk_end}: starting no more learners in this job process")
        return self.chunk_end is None

    def _start_learners(self) -> None:
        """A learner for each waiting run, as long as a CPU slot is free."""
        busy = {learner.cpus for learner in self.pool.running.values()}
        for slot in [slot for slot in self.slots if slot not in busy]:
            run = next_run(self.state)
            if run is None or not self.population.may_start(run.iteration):
                break  # none waits, or the job has not decided its population step yet
            self._start_attempt(run, slot)

    def _end_round(self) -> int:
        """No learner runs and none may start: fail, finish or exit for resume."""
        if self.state.status == FAILED:
            if self.segment.outcome is None:
                self._end_segment("failed")
            raise self.failure or JobFailed(self.state.message)
        if self.halt is not None:
            self._end_segment(self.halt.outcome)
            raise self.halt
        if self.recorder.stopped:
            return self._finish(self.recorder.stop_metrics())
        if all(run.status == FINISHED for run in self.state.runs):
            return self._finish()
        if self.forwarder.received is not None:
            return self._end_segment_for_resume(f"interrupted by {self.forwarder.describe()}")
        return self._end_segment_for_resume(self.chunk_end or "chunk done")

    def _end_segment(self, outcome: str) -> None:
        self.segment.ended = time.time()
        self.segment.outcome = outcome
        self.save()

    def _end_segment_for_resume(self, why: str) -> int:
        self._end_segment("resume")
        if self.connected:
            self.log(f"{why}; exiting for resume (exit code {EXIT_RESUME})")
        else:
            self.log(
                f"{why}; stopping (exit code {EXIT_RESUME}). Continue with: python"
                f" run_learning.py {self.working_dir / 'settings.json'}"
            )
        client.exit_for_resume()  # with a server: sends the request and exits with code 3
        return EXIT_RESUME

    def _finish(self, metrics: dict[str, float] | None = None) -> int:
        """Finish with the runs' final scores, or with ``metrics`` (stopped early)."""
        unscored = []
        if metrics is None:
            scores = [run.score for run in self.state.runs]
            metrics = job_metrics.job_metrics(scores, self.state.failed_attempts(),
                                              self.options.training_iterations)
            unscored = job_metrics.unscored_runs(self.state.runs)
        if unscored or not job_metrics.all_finite(metrics):
            missing = "; ".join(unscored) or f"its metrics have NaN: {metrics}"
            self._fail(f"no result to report (a job never reports NaN metrics): the runs of"
                       f" {self.working_dir} finished, but {missing}. Check those"
                       f" files, or move {state_path(self.working_dir).name} away to train the job"
                       " again")
            return self._end_round()
        self.state.status = FINISHED
        self.state.metrics = metrics
        self.recorder.finish(self.state, metrics)
        self._end_segment("finished")
        if self.halt is not None or self._vanished:  # the state could not record it
            raise self.halt or self.failure  # a job run again reports it
        self.log(f"{'stopped early' if self.recorder.stopped else 'finished'}: {metrics}")
        try:  # metrics.csv, param_choice.csv (atomic: learning.job.disk), then the server
            client.finalize_job(dict(metrics), self.settings)
        except OSError as e:  # a job run again reports its finished state's metrics
            if self._working_dir_gone():
                raise self.failure from e
            raise job_write_failed(e, self.working_dir) from e
        return 0

    def _fail(self, message: str, config_error: bool = False) -> None:
        """The job fails: record why, ask the other learners to save and exit; the loop
        raises once they have ended."""
        if self.failure is not None or self.halt is not None:
            self.log(f"also: {message}")
            return
        self.state.status = FAILED
        self.state.message = message
        self.failure = (JobConfigError if config_error else JobFailed)(message)
        self.log(f"FAILED: {message}")
        self._stop_learners()

    def _halt(self, error: JobWriteFailed) -> None:
        """A write failed (the job's or a learner's): start nothing more, ask the running
        learners to save and exit; the loop raises ``error`` once they have ended. Not a
        failure of the job: its state stays running. (A write fails too when the working
        directory vanished: the job then fails, saying so.)"""
        if self._working_dir_gone():
            return
        if self.failure is not None or self.halt is not None:
            self.log(f"also: {error}")
            return
        self.halt = error
        self.log(f"STOPPING: {error}")
        self._stop_learners()

    def _working_dir_gone(self) -> bool:
        """Whether the working directory vanished; the job then fails (once), saying so."""
        if self._vanished:
            return True
        why = working_dir_vanished(self.working_dir)
        if why is None:
            return False
        self._vanished = True
        self._fail(why)
        return True

    # ----------------------------------------------------------------- learners

    def _stop_learners(self) -> None:
        """Ask the running learners to save and exit (SIGTERM); the loop waits for them."""
        if self.pool:
            self.log(f"stopping the other learners: {', '.join(self.running)}")
            self.pool.terminate_all()

    def _start_attempt(self, run: RunState, cpus: frozenset[int]) -> None:
        roles = self.recorder.attempt_roles(self.population.roles_for(run.iteration, self.configs),
                                            run, self.options.training_iterations)
        try:
            attempt, entry, run_dir = new_attempt(roles, self.working_dir, run, cpus)
        except JobConfigError as e:  # a template changed between two chunks of the job
            self._fail(str(e), config_error=True)
            return
        except OSError as e:
            self._halt(job_write_failed(e, self.working_dir))
            return
        self.state.in_flight.append(entry)
        if not self.save():
            return
        self.log(f"{attempt.dir}: learner starts on CPU(s) {attempt.cpus}"
                 f" ({attempt.num_timesteps} timesteps, load_path {attempt.load_path!r})")
        try:
            learner = self.pool.start(attempt.dir, run_dir, f"{RUN_CONFIG_DIR}/config.json",
                                      cpus, torch_threads(self.configs.roles))
        except OSError as e:  # command.txt, stdout.log, stderr.log
            if not e.filename or Path(e.filename).parent != run_dir:
                raise
            self._apply(run, attempt, Outcome(*failed_write(e, run_dir), None))
            return
        entry.pid = learner.process.pid
        attempt.warm = isinstance(learner.process, WarmProcess)
        self._note_fork_server()
        self.running[attempt.dir] = (run, attempt)
        self.stall_watch.add(attempt.dir, learner.heartbeat)
        if self._busy_since is None:
            self._busy_since = learner.started
        self.segment.learners += 1
        self.save()

    def _note_fork_server(self) -> None:
        """Log once that the fork server is ready, and once why learners start cold."""
        server = self.pool.fork_server
        if server is None:
            return
        if server.seconds is not None and self.segment.fork_server_seconds is None:
            self.segment.fork_server_seconds = server.seconds
            self.log(f"fork server ready (its imports took {server.seconds:.2f} s): learners"
                     " start warm")
        if server.failure is not None and not self._cold_noted:
            self._cold_noted = True
            self.log(f"learners start cold from now on: {server.failure}")

    def _settle_next(self) -> None:
        """Wait for the next learner to end (stopping those that stall meanwhile) and
        apply its outcome."""
        learner, result, stall = self.stall_watch.wait(self.pool, self.log)
        run, attempt = self.running.pop(learner.key)
        if not self.pool:
            self.segment.learner_seconds += result.ended - self._busy_since
            self._busy_since = None
        self._record_exit(attempt, learner, result)
        if self._working_dir_gone():  # its outcome is that of the missing files
            return
        stopping = (self.forwarder.received is not None or self.state.status == FAILED
                    or self.halt is not None or self.recorder.stopped)
        outcome = classify(self.working_dir / attempt.dir, result, stopping)
        if stall is not None:
            outcome = stalled(outcome, stall.describe(), result)
        self._apply(run, attempt, outcome)

    @staticmethod
    def _record_exit(attempt: Attempt, learner: RunningLearner, result: LearnerExit) -> None:
        attempt.started, attempt.ended = learner.started, result.ended
        attempt.cpu_seconds = result.cpu_seconds
        attempt.exit_code, attempt.signal = result.exit_code, result.signal

    def _settle_in_flight(self) -> None:
        """Settle the attempts whose job ended (killed, node lost) while their learner ran."""
        for entry in list(self.state.in_flight):
            run = self.state.runs[entry.run]
            attempt = run.attempts[-1]
            if entry.pid and entry.host == socket.gethostname():
                stop_orphan(entry.pid)
            outcome = classify_files(self.working_dir / attempt.dir)
            if outcome.kind == OUTCOME_FAILED:
                outcome = Outcome(OUTCOME_FAILED, f"lost: {self._previous_job_end()} while this"
                                  " attempt ran; " + outcome.message, None)
            self.log(f"{attempt.dir}: settling the attempt left by the previous job: {outcome}")
            self._apply(run, attempt, outcome, settling=True)

    def _previous_job_end(self) -> str:
        """How the previous process of this job ended, as far as its state tells."""
        previous = self.state.segments[-2] if len(self.state.segments) > 1 else None
        if previous is not None and previous.outcome in (OUTCOME_NO_SPACE, OUTCOME_WRITE_FAILED):
            return f"the job stopped ({previous.outcome}: its disk could not be written)"
        return "the job ended (job killed or node lost)"
