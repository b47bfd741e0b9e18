"""The cluster_utils job (``run_learning.py``): train several runs of one parameter sample.

``main(argv)`` takes cluster_utils' job arguments (``--parameter-dict "{...}" --job-id N
--cluster-utils-server HOST:PORT``) or, standalone, a settings file
(``run_learning.py settings.json ['key=value' ...]``).  Settings:

``config.*``
    the templates and overrides (see :mod:`learning.hpo.params`).
``learning_runs_per_job`` (default 3)
    independent runs, each with its own seed (``random_seed`` of the template or of a
    parameter plus the run index; a random base recorded in the state if it is null).
``training_iterations`` (default 1)
    chained trainings per run: each trains ``rl_config.num_timesteps`` and the next
    continues from the saved model.
``max_attempts`` (default 3)
    failed learner attempts allowed per run before the job fails.
``local_cpu_pinning`` (default false)
    for cluster_utils' local mode: run the learners on CPUs no other job on this machine
    holds, instead of the randomly drawn ones (see :class:`learner.CpuReservation`).
``working_dir``, ``id``
    set by cluster_utils (standalone: see :func:`_standalone_working_dir`).
``singularity``
    read by the run_singularity.py wrapper, ignored here.  Any other key is an error.

One *chunk* of work is one learner process.  With a cluster_utils server the job does
one chunk and then calls ``exit_for_resume`` (exit code 3; cluster_utils starts the job
again with the same parameters in the same working directory), so cluster jobs stay
short; standalone it loops through all chunks.  Exit codes: 0 finished (metrics
reported with ``finalize_job``), 3 resume (standalone: interrupted by a signal, run the
same command again to continue); a failure raises :class:`JobFailed`, which Python turns
into exit code 1 and cluster_utils shows to the user.

Files in the working directory: ``settings.json`` (cluster_utils), ``job_state.json``
(restart state, :mod:`learning.hpo.state`), ``job.log``, ``metrics.csv`` and
``param_choice.csv`` (cluster_utils, when finished) and one directory per learner
attempt, ``run_<run>.<iteration>-<attempt>``, with ``config/`` (the merged configs the
learner read), ``command.txt``, ``stdout.log``, ``stderr.log``, ``model.zip`` and
``logs/`` (progress.csv, evaluation.json, run_info.json, configs/).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from cluster_utils import client
from cluster_utils.client import submission_state

from learning.hpo import metrics as hpo_metrics
from learning.hpo.learner import CpuReservation, SignalForwarder, run_learner, stop_orphan
from learning.hpo.params import (
    PROJECT_DIR,
    ROLES,
    ParameterError,
    apply_overrides,
    collect_overrides,
    load_templates,
    resolve_templates_path,
)
from learning.hpo.state import STATE_FILE, StateError, load_state, new_state, save_state

OPTION_DEFAULTS = {"learning_runs_per_job": 3, "max_attempts": 3, "training_iterations": 1}
# "singularity": the run_singularity.py wrapper's settings (learning/hpo/singularity_settings.py),
# passed through to the job unchanged; the job does not use them.
KNOWN_SETTINGS = (
    "config", "working_dir", "id", "singularity", "local_cpu_pinning", *OPTION_DEFAULTS
)
EXIT_RESUME = 3  # cluster_utils' RETURN_CODE_FOR_RESUME
LOG_FILE = "job.log"
RUN_CONFIG_DIR = "config"
LOG_DIR = hpo_metrics.LOG_DIR
MODEL_FILE = hpo_metrics.MODEL_FILE


class JobFailed(RuntimeError):
    """The job cannot produce a result; the message says why (shown by cluster_utils)."""


# --------------------------------------------------------------------------- set-up


def process_start_time() -> float:
    """When this process started (Unix time), from /proc; now if unavailable."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return time.time()


def _settings_position(argv: list[str]) -> int | None:
    """Index in argv of the settings file / dict argument (first positional)."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("--job-id", "--cluster-utils-server"):
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return i
    return None


def _standalone_working_dir(argv: list[str]) -> Path | None:
    """The working directory to impose on a standalone job, or None to keep its own.

    A settings file whose folder holds a finished job (e.g. a copy in cluster_utils'
    best_jobs/) is rerun from scratch in a new directory: ``<procedure>/reruns/<name>-<time>``
    for best_jobs entries, ``<folder>-rerun-<time>`` otherwise.  Settings without a
    working_dir run in ``<project>/results/jobs/job-<time>``.
    """
    if any(arg.startswith("--cluster-utils-server") for arg in argv):
        return None
    position = _settings_position(argv)
    if position is None:
        return None
    if any(arg.startswith("working_dir=") for arg in argv[position + 1 :]):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if "--parameter-dict" in argv:
        try:
            settings = ast.literal_eval(argv[position])
        except (ValueError, SyntaxError):
            return None  # cluster_utils reports the malformed dict
        if isinstance(settings, dict) and "working_dir" not in settings:
            return PROJECT_DIR / "results" / "jobs" / f"job-{stamp}"
        return None
    settings_file = Path(argv[position])
    try:
        settings = json.loads(settings_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # cluster_utils reports the unreadable file
    record = settings_file.resolve().parent
    try:
        old = load_state(record)
    except StateError:
        old = None
    if old is not None and old["status"] == "finished":
        if record.parent.name == "best_jobs":
            return record.parent.parent / "reruns" / f"{record.name}-{stamp}"
        return record.parent / f"{record.name}-rerun-{stamp}"
    if isinstance(settings, dict) and "working_dir" not in settings:
        return PROJECT_DIR / "results" / "jobs" / f"job-{stamp}"
    return None


def _with_working_dir(argv: list[str], working_dir: Path) -> list[str]:
    position = _settings_position(argv)
    assert position is not None
    return argv[: position + 1] + [f"working_dir={str(working_dir)!r}"] + argv[position + 1 :]


def read_options(settings: dict[str, Any]) -> dict[str, int]:
    unknown = [key for key in settings if key not in KNOWN_SETTINGS]
    if unknown:
        raise JobFailed(
            f"unknown job settings {unknown}; valid: {', '.join(KNOWN_SETTINGS)} (learner"
            " parameters go under config.<role>.<key>)"
        )
    options = {}
    for key, default in OPTION_DEFAULTS.items():
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise JobFailed(f"setting {key}: expected an integer >= 1, got {value!r}")
        options[key] = value
    pinning = settings.get("local_cpu_pinning", False)
    if not isinstance(pinning, bool):
        raise JobFailed(f"setting local_cpu_pinning: expected true or false, got {pinning!r}")
    options["local_cpu_pinning"] = pinning
    return options


def params_digest(settings: dict[str, Any]) -> str:
    relevant = {key: settings.get(key) for key in ("config", *OPTION_DEFAULTS)}
    relevant.pop("max_attempts")
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class JobLog:
    """Appends timestamped lines to working_dir/job.log and echoes them to stdout."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [pid {os.getpid()}] {message}"
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


# --------------------------------------------------------------------------- the job


class Job:
    def __init__(
        self, settings: dict[str, Any], process_started: float, main_started: float
    ) -> None:
        self.settings = settings
        self.options = read_options(settings)
        try:
            templates_value, overrides = collect_overrides(settings)
            self.templates_path = resolve_templates_path(templates_value)
            templates = load_templates(self.templates_path)
            self.merged = apply_overrides(templates, overrides)
        except ParameterError as e:
            raise JobFailed(f"config error: {e}") from e
        self.overrides = overrides
        self.template_files = {role: str(path) for role, (path, _) in templates.items()}
        self.working_dir = Path(settings["working_dir"]).resolve()
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self.log = JobLog(self.working_dir / LOG_FILE)
        self.connected = bool(submission_state.connection_active)
        self.forwarder = SignalForwarder()
        self.state = self._load_or_create_state()
        self.segment = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": process_started,  # the process (interpreter start, imports)
            "main_started": main_started,
            "learner_seconds": 0.0,
            "learners": 0,
            "ended": None,
            "outcome": None,
        }
        self.state["segments"].append(self.segment)
        self.save()

    # ----------------------------------------------------------------- state

    def save(self) -> None:
        save_state(self.working_dir, self.state)

    def _load_or_create_state(self) -> dict[str, Any]:
        digest = params_digest(self.settings)
        try:
            state = load_state(self.working_dir)
        except StateError as e:
            raise JobFailed(str(e)) from e
        if state is not None and state["params_digest"] != digest:
            stale = self.working_dir / f"stale-{time.strftime('%Y%m%d-%H%M%S')}"
            stale.mkdir()
            for item in self.working_dir.iterdir():
                if item.name == STATE_FILE or item.name.startswith("run_"):
                    item.rename(stale / item.name)
            self.log(f"the restart state belonged to other parameters; moved it to {stale}")
            state = None
        if state is None:
            seeds = self._seeds()
            state = new_state(
                digest,
                self.options["learning_runs_per_job"],
                self.options["training_iterations"],
                self.options["max_attempts"],
                seeds,
            )
            state["templates"] = str(self.templates_path)
            state["template_files"] = self.template_files
            state["overrides"] = self.overrides
            self.log(
                f"new job: templates {self.templates_path}, overrides {self.overrides},"
                f" {len(seeds)} runs with seeds {seeds}, options {self.options}"
            )
        else:
            self.log(f"resuming from {self.working_dir / STATE_FILE}")
        state["max_attempts"] = self.options["max_attempts"]
        return state

    def _seeds(self) -> list[int]:
        base = self.merged["rl_common_config"].get("random_seed")
        if not isinstance(base, int) or isinstance(base, bool):
            base = secrets.randbelow(2**31 - 10_000)
        return [base + run for run in range(self.options["learning_runs_per_job"])]

    def run_dir(self, name: str) -> Path:
        return self.working_dir / name

    # ----------------------------------------------------------------- loop

    def run(self) -> int:
        self.forwarder.install()
        self.cpus = None
        reservation = None
        if self.options["local_cpu_pinning"]:
            reservation = CpuReservation(len(os.sched_getaffinity(0)))
            self.cpus = reservation.cpus
            self.segment["cpus"] = sorted(self.cpus) if self.cpus else None
        try:
            self._reconcile_in_flight()
            while True:
                if self.state["status"] == "failed":
                    raise JobFailed(self.state["message"])
                run = next((r for r in self.state["runs"] if r["status"] != "finished"), None)
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
                if self.connected and any(
                    r["status"] != "finished" for r in self.state["runs"]
                ):
                    return self._end_segment_for_resume("chunk done")
        finally:
            self.forwarder.restore()
            if reservation is not None:
                reservation.release()

    def _end_segment_for_resume(self, why: str) -> int:
        self.segment["ended"] = time.time()
        self.segment["outcome"] = "resume"
        self.save()
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
        scores = [run["score"] for run in self.state["runs"]]
        metrics = hpo_metrics.job_metrics(scores, self.failed_attempts())
        self.state["status"] = "finished"
        self.state["metrics"] = metrics
        self.segment["ended"] = time.time()
        self.segment["outcome"] = "finished"
        self.save()
        self.log(f"finished: {metrics}")
        client.finalize_job(dict(metrics), self.settings)
        return 0

    def _fail(self, message: str) -> None:
        self.state["status"] = "failed"
        self.state["message"] = message
        self.segment["ended"] = time.time()
        self.segment["outcome"] = "failed"
        self.save()
        self.log(f"FAILED: {message}")
        raise JobFailed(message)

    def failed_attempts(self) -> int:
        return sum(run["failed_attempts"] for run in self.state["runs"])

    # ----------------------------------------------------------------- one attempt

    def _write_run_configs(self, run: dict[str, Any], run_dir: Path, num_timesteps: int) -> str:
        folder = run_dir / RUN_CONFIG_DIR
        folder.mkdir(parents=True)
        roles = json.loads(json.dumps(self.merged))
        load_path = ""
        if run["resume_model"]:
            load_path = os.path.relpath(self.working_dir / run["resume_model"], run_dir)
        roles["rl_config"].update(
            log_path=LOG_DIR, save_path=MODEL_FILE, load_path=load_path, num_timesteps=num_timesteps
        )
        roles["rl_common_config"]["random_seed"] = run["seed"]
        for role in ROLES:
            (folder / f"{role}.json").write_text(json.dumps(roles[role], indent=2) + "\n")
        mapping = {role: f"{role}.json" for role in ROLES}
        (folder / "config.json").write_text(json.dumps(mapping, indent=2) + "\n")
        return load_path

    def _attempt(self, run: dict[str, Any]) -> None:
        iteration, attempt = run["iteration"], run["next_attempt"]
        run["next_attempt"] += 1
        per_iteration = self.merged["rl_config"]["num_timesteps"]
        if run["iteration_target_timesteps"] is None:
            run["iteration_start_timesteps"] = run["resume_timesteps"]
            run["iteration_target_timesteps"] = run["resume_timesteps"] + per_iteration
        # A model interrupted during its evaluation is fully trained: one more step
        # (one rollout for PPO) then evaluates it.
        remaining = max(run["iteration_target_timesteps"] - run["resume_timesteps"], 1)
        name = f"run_{run['run']}.{iteration}-{attempt}"
        run_dir = self.run_dir(name)
        if run_dir.exists():  # left by a job killed before it recorded the attempt
            shutil.rmtree(run_dir)
        run_dir.mkdir()
        load_path = self._write_run_configs(run, run_dir, remaining)
        record: dict[str, Any] = {
            "dir": name,
            "iteration": iteration,
            "attempt": attempt,
            "seed": run["seed"],
            "num_timesteps": remaining,
            "load_path": load_path,
            "started": None,
            "ended": None,
            "cpu_seconds": None,
            "exit_code": None,
            "signal": None,
            "outcome": None,
            "model_saved": False,
            "timesteps": None,
            "message": "",
        }
        run["attempts"].append(record)
        run["status"] = "running"
        self.state["in_flight"] = {"run": run["run"], "dir": name, "pid": None,
                                   "host": socket.gethostname()}
        self.save()
        self.log(f"{name}: learner starts ({remaining} timesteps, load_path {load_path!r})")

        def started(pid: int) -> None:
            self.state["in_flight"]["pid"] = pid
            self.save()

        result = run_learner(
            run_dir, f"{RUN_CONFIG_DIR}/config.json", self.forwarder, started, self.cpus
        )
        self.segment["learner_seconds"] += result.ended - result.started
        self.segment["learners"] += 1
        record.update(
            started=result.started,
            ended=result.ended,
            cpu_seconds=result.cpu_seconds,
            exit_code=result.exit_code,
            signal=result.signal,
        )
        stopping = self.forwarder.received is not None
        self._apply(run, record, hpo_metrics.classify(run_dir, result, stopping))

    def _reconcile_in_flight(self) -> None:
        """Settle an attempt whose job ended (killed, node lost) while its learner ran."""
        in_flight = self.state.get("in_flight")
        if not in_flight:
            return
        run = self.state["runs"][in_flight["run"]]
        record = run["attempts"][-1]
        if in_flight.get("pid") and in_flight.get("host") == socket.gethostname():
            stop_orphan(in_flight["pid"])
        outcome = hpo_metrics.classify_files(self.run_dir(record["dir"]))
        if outcome[0] == "failed":
            outcome = ("failed", "lost: the job ended while this attempt ran (job killed or"
                       " node lost); " + outcome[1], None)
        self.log(f"{record['dir']}: settling the attempt left by the previous job: {outcome}")
        self._apply(run, record, outcome)

    def _apply(self, run: dict[str, Any], record: dict[str, Any], outcome: tuple) -> None:
        kind, message, timesteps = outcome
        record.update(outcome=kind, message=message, timesteps=timesteps)
        self.state["in_flight"] = None
        name = record["dir"]
        self.log(f"{name}: {kind}{': ' + message if message else ''}")
        if kind == "ok":
            model = f"{name}/{MODEL_FILE}"
            if run["iteration"] + 1 < self.options["training_iterations"]:
                run["iteration"] += 1
                run["next_attempt"] = 0
                run["iteration_target_timesteps"] = None
                run["resume_model"], run["resume_timesteps"] = model, timesteps
                run["status"] = "pending"
            else:
                run["status"] = "finished"
                run["final_model"] = model
                run["score"] = hpo_metrics.run_score(self.working_dir, run)
                self.log(f"run {run['run']} finished: {run['score']}")
        elif kind == "interrupted":
            run["status"] = "pending"
            if timesteps is not None:  # the learner saved its model: continue from it
                record["model_saved"] = True
                run["resume_model"], run["resume_timesteps"] = f"{name}/{MODEL_FILE}", timesteps
        elif kind == "config_error":
            self._fail(f"config error in {self.working_dir / name}: {message}")
        else:  # failed or diverged
            run["failed_attempts"] += 1
            run["status"] = "pending"
            if run["failed_attempts"] >= self.options["max_attempts"]:
                run["status"] = "failed"
                history = "; ".join(
                    f"{a['dir']}: {a['outcome']}: {a['message']}"
                    for a in run["attempts"]
                    if a["outcome"] in ("failed", "diverged")
                )
                self._fail(
                    f"run {run['run']} failed {run['failed_attempts']} attempts (max_attempts"
                    f" {self.options['max_attempts']}) in {self.working_dir}: {history}"
                )
        self.save()
        self._announce(run)

    def _announce(self, run: dict[str, Any]) -> None:
        iterations = self.options["training_iterations"]
        done = 0.0
        for r in self.state["runs"]:
            if r["status"] == "finished":
                done += iterations
            else:
                done += r["iteration"]
                start, target = r["iteration_start_timesteps"], r["iteration_target_timesteps"]
                if target:
                    done += max(0.0, min(1.0, (r["resume_timesteps"] - start) / (target - start)))
        client.announce_fraction_finished(done / (iterations * len(self.state["runs"])))
        if run["status"] == "finished":
            scores = [r["score"] for r in self.state["runs"] if r["status"] == "finished"]
            client.announce_early_results(
                hpo_metrics.job_metrics(scores, self.failed_attempts())
            )


# --------------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> int:
    """Run the job; ``argv`` like sys.argv (program name first)."""
    main_started = time.time()
    process_started = process_start_time()
    argv = list(sys.argv if argv is None else argv)
    forced_dir = _standalone_working_dir(argv)
    if forced_dir is not None:
        argv = _with_working_dir(argv, forced_dir)
        print(f"running the job in {forced_dir}", flush=True)
    settings = client.initialize_job(argv, verbose=False)
    if "working_dir" not in settings:
        raise JobFailed("the settings have no working_dir")
    return Job(settings, process_started, main_started).run()
