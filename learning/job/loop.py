"""The job loop: train the runs of one parameter sample, chunk by chunk, with retries.

One *chunk* of work is one learner process: one training iteration of one run.  With a
cluster_utils server the job does one chunk and then calls ``exit_for_resume`` (exit code
3; cluster_utils starts the job again with the same parameters in the same working
directory), so cluster jobs stay short; standalone it loops through all chunks.

Files in the working directory: ``settings.json`` (cluster_utils), ``job_state.json``
(restart state, :mod:`learning.job.state`), ``job.log``, ``metrics.csv`` and
``param_choice.csv`` (cluster_utils, when finished) and one run folder per learner
attempt, ``run_<run>.<iteration>-<attempt>`` (learning.contract), with ``config/`` (the
merged configs the learner read), ``command.txt``, ``stdout.log``, ``stderr.log``,
``model.zip`` and ``logs/`` (progress.csv, evaluation.json, run_info.json, configs/).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from cluster_utils import client
from cluster_utils.client import submission_state

from learning.atomic_io import atomic_write_json
from learning.contract import (
    EXIT_RESUME,
    JOB_LOG_FILE,
    MODEL_FILE,
    OUTCOME_CONFIG_ERROR,
    OUTCOME_DIVERGED,
    OUTCOME_FAILED,
    OUTCOME_INTERRUPTED,
    OUTCOME_OK,
    ROLES,
    RUN_CONFIG_DIR,
    STATE_FILE,
    run_dir_name,
)
from learning.job import metrics as job_metrics
from learning.job.learner import CpuReservation, SignalForwarder, run_learner, stop_orphan
from learning.job.outcomes import Outcome, classify, classify_files
from learning.job.settings import (
    JobConfigError,
    JobFailed,
    merged_configs,
    params_digest,
    read_options,
)
from learning.job.state import (
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    Attempt,
    InFlight,
    JobState,
    RunState,
    Segment,
    StateError,
    load_state,
    save_state,
)


class JobLog:
    """Appends timestamped lines to working_dir/job.log and echoes them to stdout."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [pid {os.getpid()}] {message}"
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


class Job:
    def __init__(
        self, settings: dict[str, Any], process_started: float, main_started: float
    ) -> None:
        self.settings = settings
        self.options = read_options(settings)
        self.configs = merged_configs(settings, validate=False)
        self.working_dir = Path(settings["working_dir"]).resolve()
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self.log = JobLog(self.working_dir / JOB_LOG_FILE)
        self.connected = bool(submission_state.connection_active)
        self.forwarder = SignalForwarder()
        self.cpus: frozenset[int] | None = None
        self.state = self._load_or_create_state()
        self.segment = Segment(pid=os.getpid(), host=socket.gethostname(),
                               started=process_started, main_started=main_started)
        self.state.segments.append(self.segment)
        self.save()

    # ----------------------------------------------------------------- state

    def save(self) -> None:
        save_state(self.working_dir, self.state)

    def _load_or_create_state(self) -> JobState:
        digest = params_digest(self.settings)
        try:
            state = load_state(self.working_dir)
        except StateError as e:
            raise JobFailed(str(e)) from e
        if state is not None and state.params_digest != digest:
            self._move_aside_stale_state()
            state = None
        if state is None:
            state = self._new_state(digest)
        else:
            self.log(f"resuming from {self.working_dir / STATE_FILE}")
        state.max_attempts = self.options.max_attempts
        return state

    def _move_aside_stale_state(self) -> None:
        stale = self.working_dir / f"stale-{time.strftime('%Y%m%d-%H%M%S')}"
        stale.mkdir()
        for item in self.working_dir.iterdir():
            if item.name == STATE_FILE or item.name.startswith("run_"):
                item.rename(stale / item.name)
        self.log(f"the restart state belonged to other parameters; moved it to {stale}")

    def _new_state(self, digest: str) -> JobState:
        try:
            self.configs = merged_configs(self.settings)  # now with every config check
        except JobConfigError as e:
            self.log(f"config error: {e}")
            raise
        seeds = self._seeds()
        state = JobState.new(digest, self.options.training_iterations,
                             self.options.max_attempts, seeds)
        state.templates = str(self.configs.templates_path)
        state.template_files = self.configs.template_files
        state.overrides = self.configs.overrides
        self.log(
            f"new job: templates {self.configs.templates_path}, overrides"
            f" {self.configs.overrides}, {len(seeds)} runs with seeds {seeds},"
            f" options {self.options}"
        )
        return state

    def _seeds(self) -> list[int]:
        base = self.configs.roles["rl_common_config"].get("random_seed")
        if not isinstance(base, int) or isinstance(base, bool):
            base = secrets.randbelow(2**31 - 10_000)
        return [base + run for run in range(self.options.learning_runs_per_job)]

    # ----------------------------------------------------------------- loop

    def run(self) -> int:
        self.forwarder.install()
        reservation = None
        if self.options.local_cpu_pinning:
            reservation = CpuReservation(len(os.sched_getaffinity(0)))
            self.cpus = reservation.cpus
            self.segment.cpus = sorted(self.cpus) if self.cpus else None
        try:
            self._settle_in_flight()
            return self._loop()
        finally:
            self.forwarder.restore()
            if reservation is not None:
                reservation.release()

    def _loop(self) -> int:
        while True:
            if self.state.status == FAILED:
                raise JobFailed(self.state.message)
            run = next((r for r in self.state.runs if r.status != FINISHED), None)
            if run is None:
                return self._finish()
            if self.forwarder.received is not None:
                return self._end_segment_for_resume(
                    f"stopped by {self.forwarder.describe()} before the next learner"
                )
            self._attempt(run)
            if self.forwarder.received is not None:
                return self._end_segment_for_resume(
                    f"interrupted by {self.forwarder.describe()}"
                )
            if self.connected and any(r.status != FINISHED for r in self.state.runs):
                return self._end_segment_for_resume("chunk done")

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

    def _finish(self) -> int:
        scores = [run.score for run in self.state.runs]
        metrics = job_metrics.job_metrics(scores, self.state.failed_attempts())
        self.state.status = FINISHED
        self.state.metrics = metrics
        self._end_segment("finished")
        self.log(f"finished: {metrics}")
        client.finalize_job(dict(metrics), self.settings)
        return 0

    def _fail(self, message: str, config_error: bool = False) -> None:
        self.state.status = FAILED
        self.state.message = message
        self._end_segment("failed")
        self.log(f"FAILED: {message}")
        raise (JobConfigError if config_error else JobFailed)(message)

    # ----------------------------------------------------------------- one attempt

    def _write_run_configs(self, run: RunState, run_dir: Path, num_timesteps: int) -> str:
        """The merged configs of this attempt in run_dir/config/; returns its load_path."""
        folder = run_dir / RUN_CONFIG_DIR
        folder.mkdir(parents=True)
        roles = {role: dict(content) for role, content in self.configs.roles.items()}
        load_path = ""
        if run.resume_model:
            load_path = os.path.relpath(self.working_dir / run.resume_model, run_dir)
        roles["rl_config"].update(log_path="logs", save_path=MODEL_FILE, load_path=load_path,
                                  num_timesteps=num_timesteps)
        roles["rl_common_config"]["random_seed"] = run.seed
        for role in ROLES:
            atomic_write_json(folder / f"{role}.json", roles[role])
        atomic_write_json(folder / "config.json", {role: f"{role}.json" for role in ROLES})
        return load_path

    def _timesteps_to_train(self, run: RunState) -> int:
        """Timesteps left in the run's current iteration (its target set at its start)."""
        if run.iteration_target_timesteps is None:
            run.iteration_start_timesteps = run.resume_timesteps
            run.iteration_target_timesteps = (
                run.resume_timesteps + self.configs.roles["rl_config"]["num_timesteps"]
            )
        # A model interrupted during its evaluation is fully trained: one more step
        # (one rollout for PPO) then evaluates it.
        return max(run.iteration_target_timesteps - run.resume_timesteps, 1)

    def _prepare_attempt(self, run: RunState) -> tuple[Attempt, Path]:
        iteration, number = run.iteration, run.next_attempt
        run.next_attempt += 1
        remaining = self._timesteps_to_train(run)
        name = run_dir_name(run.run, iteration, number)
        run_dir = self.working_dir / name
        if run_dir.exists():  # left by a job killed before it recorded the attempt
            shutil.rmtree(run_dir)
        run_dir.mkdir()
        load_path = self._write_run_configs(run, run_dir, remaining)
        attempt = Attempt.start(run, iteration, number, name, remaining, load_path)
        run.attempts.append(attempt)
        run.status = RUNNING
        self.state.in_flight = [InFlight(run=run.run, dir=name, host=socket.gethostname())]
        self.save()
        self.log(f"{name}: learner starts ({remaining} timesteps, load_path {load_path!r})")
        return attempt, run_dir

    def _attempt(self, run: RunState) -> None:
        attempt, run_dir = self._prepare_attempt(run)

        def started(pid: int) -> None:
            self.state.in_flight[0].pid = pid
            self.save()

        result = run_learner(
            run_dir, f"{RUN_CONFIG_DIR}/config.json", self.forwarder, started, self.cpus
        )
        self.segment.learner_seconds += result.ended - result.started
        self.segment.learners += 1
        attempt.started, attempt.ended = result.started, result.ended
        attempt.cpu_seconds = result.cpu_seconds
        attempt.exit_code, attempt.signal = result.exit_code, result.signal
        stopping = self.forwarder.received is not None
        self._apply(run, attempt, classify(run_dir, result, stopping))

    def _settle_in_flight(self) -> None:
        """Settle the attempts whose job ended (killed, node lost) while their learner ran."""
        for entry in list(self.state.in_flight):
            run = self.state.runs[entry.run]
            attempt = run.attempts[-1]
            if entry.pid and entry.host == socket.gethostname():
                stop_orphan(entry.pid)
            outcome = classify_files(self.working_dir / attempt.dir)
            if outcome.kind == OUTCOME_FAILED:
                outcome = Outcome(OUTCOME_FAILED, "lost: the job ended while this attempt ran (job"
                                  " killed or node lost); " + outcome.message, None)
            self.log(f"{attempt.dir}: settling the attempt left by the previous job: {outcome}")
            self._apply(run, attempt, outcome)

    # ----------------------------------------------------------------- outcomes

    def _apply(self, run: RunState, attempt: Attempt, outcome: Outcome) -> None:
        attempt.outcome, attempt.message, attempt.timesteps = outcome
        self.state.in_flight = [e for e in self.state.in_flight if e.dir != attempt.dir]
        self.log(f"{attempt.dir}: {outcome.kind}"
                 + (f": {outcome.message}" if outcome.message else ""))
        if outcome.kind == OUTCOME_OK:
            self._iteration_done(run, attempt)
        elif outcome.kind == OUTCOME_INTERRUPTED:
            run.status = PENDING
            if outcome.timesteps is not None:  # the learner saved its model: continue from it
                attempt.model_saved = True
                run.resume_model = f"{attempt.dir}/{MODEL_FILE}"
                run.resume_timesteps = outcome.timesteps
        elif outcome.kind == OUTCOME_CONFIG_ERROR:
            self._fail(f"config error in {self.working_dir / attempt.dir}: {outcome.message}",
                       config_error=True)
        else:  # failed or diverged
            self._attempt_failed(run)
        self.save()
        self._announce(run)

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
        """Progress and, once a run finished, the metrics so far (kill_bad_jobs_early)."""
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
        if run.status == FINISHED:
            scores = [r.score for r in self.state.runs if r.status == FINISHED]
            client.announce_early_results(
                job_metrics.job_metrics(scores, self.state.failed_attempts())
            )
