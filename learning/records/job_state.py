"""Restart state of a job: one small JSON file (job_state.json) in its working directory.

The dataclasses below are the file's schema and its documentation: the file is their
``asdict`` form (format ``lttfs-job-state/2``). It is replaced atomically (temporary
file in the same folder, fsync, ``os.replace``), so a job killed at any moment leaves
either the previous or the new state, never a mix. Loading checks every field's JSON
type and names the file and the field of the first problem. Times are Unix seconds;
paths are relative to the working directory, so a copied job folder (cluster_utils'
best_jobs) stays readable.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning.atomic_io import atomic_write_json
from learning.contract import OUTCOMES, STATE_FILE
from learning.records.lineage import Lineage
from learning.records.typed_json import from_json

FORMAT = "lttfs-job-state/2"
#: run status values
PENDING, RUNNING, FINISHED, FAILED = "pending", "running", "finished", "failed"


class StateError(RuntimeError):
    """The restart state file exists but cannot be used; the message says why and what to
    do (``problem``: why only, for readers other than the job)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem + HINT)
        self.problem = problem


@dataclass
class Attempt:
    """One learner process: one try at one chained training iteration of a run."""

    dir: str  #: its run folder, contract.run_dir_name(run, iteration, attempt)
    iteration: int
    attempt: int
    seed: int
    num_timesteps: int  #: timesteps asked of the learner
    load_path: str  #: model it continued from, relative to its folder; "" = from scratch
    started: float | None = None
    ended: float | None = None
    cpu_seconds: float | None = None  #: the learner's user + system time (os.wait4)
    exit_code: int | None = None  #: None when killed by a signal
    signal: int | None = None  #: the signal that killed it
    outcome: str | None = None  #: one of contract.OUTCOMES; None while it runs
    #: it left a model the run continues from (saved on a stop signal, or a checkpoint of
    #: an attempt that was killed, crashed or could not write)
    model_saved: bool = False
    timesteps: int | None = None  #: timesteps of the model it left (if model_saved, or ok)
    message: str = ""
    cpus: list[int] | None = None  #: the CPUs the job ran it on
    #: forked by the job's fork server (learning.job.warm_start); False: a new process
    warm: bool | None = None

    @classmethod
    def start(cls, run: RunState, iteration: int, attempt: int, name: str,
              num_timesteps: int, load_path: str) -> Attempt:
        return cls(dir=name, iteration=iteration, attempt=attempt, seed=run.seed,
                   num_timesteps=num_timesteps, load_path=load_path)


@dataclass
class Score:
    """What a finished run contributes to the job's metrics (NaN: not available)."""

    eprewmean: float  #: last rollout/ep_rew_mean of its training
    eval_reward: float  #: mean_reward of its final evaluation.json
    timesteps: int | None  #: timesteps of its final model
    model: str  #: its final model
    #: the env's values of its final evaluation.json that the job aggregates, by their
    #: keys there (its plug-in's ``metrics``, learning.plugins.envs; learning/TableTennis-v0:
    #: hit_rate, return_rate)
    env_metrics: dict[str, float] = field(default_factory=dict)
    env_id: str | None = None  #: the env it trained on; None: the default env


def _env_metrics_of_old_scores(data: Any) -> Any:
    """A state written before env plug-ins kept the env's values as fields of ``score``:
    they become its ``env_metrics`` (in place)."""
    known = {f.name for f in dataclasses.fields(Score)}
    for run in data.get("runs", []) if isinstance(data, dict) else ():
        score = run.get("score") if isinstance(run, dict) else None
        if isinstance(score, dict) and "env_metrics" not in score:
            score["env_metrics"] = {key: score.pop(key) for key in list(score)
                                    if key not in known}
    return data


@dataclass
class RunState:
    """One of the job's learning runs (its own seed), over its chained iterations."""

    run: int
    seed: int
    status: str = PENDING  #: pending | running | finished | failed
    iteration: int = 0  #: current chained training iteration
    failed_attempts: int = 0  #: failed attempts of this run, all iterations
    next_attempt: int = 0  #: attempt number of the next learner start (per iteration)
    resume_model: str | None = None  #: model to continue from
    resume_timesteps: int = 0  #: that model's timesteps
    iteration_start_timesteps: int = 0
    iteration_target_timesteps: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    final_model: str | None = None
    score: Score | None = None


@dataclass
class InFlight:
    """A learner that was running when the state was written (settled on restart)."""

    run: int
    dir: str
    host: str
    pid: int | None = None


@dataclass
class Segment:
    """One process of the job (one cluster job; a job that resumes has several)."""

    pid: int
    host: str
    started: float  #: the process start (interpreter start and imports included)
    main_started: float
    learner_seconds: float = 0.0  #: wall seconds with at least one learner running
    learners: int = 0  #: learners started
    ended: float | None = None
    #: resume | finished | failed | no_space | write_failed (stopped: a disk not writable)
    outcome: str | None = None
    cpus: list[int] | None = None  #: CPUs reserved with local_cpu_pinning
    learner_cpus: list[list[int]] | None = None  #: CPU set of each concurrent learner
    #: seconds the check of the merged configs took (a new job; a resumed one skips it)
    config_seconds: float | None = None
    #: seconds the fork server took to import the learner's libraries (None: not used)
    fork_server_seconds: float | None = None


@dataclass
class JobState:
    params_digest: str  #: sha256 of the job's parameters (not working_dir)
    learning_runs_per_job: int
    training_iterations: int
    max_attempts: int
    runs: list[RunState]
    status: str = RUNNING  #: running | finished | failed
    message: str | None = None  #: why the job failed
    in_flight: list[InFlight] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    templates: str | None = None  #: the templates file the job merged
    template_files: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] | None = None  #: what the job reported when it finished
    #: population-based training (learning.job.population): the job's schedule of
    #: settings, its exploits and decisions; copied to its lineage file after each change
    pbt: Lineage | None = None
    format: str = FORMAT

    @classmethod
    def new(cls, params_digest: str, training_iterations: int, max_attempts: int,
            seeds: list[int]) -> JobState:
        return cls(params_digest=params_digest, learning_runs_per_job=len(seeds),
                   training_iterations=training_iterations, max_attempts=max_attempts,
                   runs=[RunState(run=i, seed=seed) for i, seed in enumerate(seeds)])

    def failed_attempts(self) -> int:
        return sum(run.failed_attempts for run in self.runs)


def state_path(working_dir: Path) -> Path:
    """Where a job keeps its restart state."""
    return Path(working_dir) / STATE_FILE


def save_state(working_dir: Path, state: JobState) -> None:
    atomic_write_json(state_path(working_dir), dataclasses.asdict(state), indent=1,
                      sort_keys=True)


HINT = (
    " The job writes this file atomically, so it was cut off or changed outside the job."
    " Move it away to restart the job from scratch (finished runs are then trained again)."
)


def remove_stale_temporary_files(working_dir: Path) -> None:
    """Delete the temporary files of state writes cut off before their rename (a killed
    job). Only the job holding the working dir's lock may: another process's temporary
    file may be about to replace the state."""
    for stale in Path(working_dir).glob(f".{STATE_FILE}.*.tmp"):
        stale.unlink(missing_ok=True)


def load_state(working_dir: Path) -> JobState | None:
    """The saved state, None if there is none; StateError if it is unusable. Reads only
    (the sweep and a second copy of a job read the states of running jobs)."""
    path = state_path(working_dir)
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise StateError(f"restart state {path} cannot be read ({e}).") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise StateError(
            f"restart state {path} is not valid JSON ({len(text)} bytes, {e})."
        ) from e
    if isinstance(data, dict) and data.get("format", FORMAT) != FORMAT:
        raise StateError(
            f"restart state {path} has format {data['format']!r}; this version reads"
            f" {FORMAT!r}."
        )
    try:
        state = from_json(JobState, _env_metrics_of_old_scores(data))
        _check_consistency(state)
    except ValueError as e:
        raise StateError(f"restart state {path}: {e}.") from e
    return state


def _check_consistency(state: JobState) -> None:
    if not state.runs:
        raise ValueError("runs: is empty; a job has at least one run")
    for i, run in enumerate(state.runs):
        if run.run != i:
            raise ValueError(f"runs:{i}.run: is {run.run}, expected {i}")
        for j, attempt in enumerate(run.attempts):
            if attempt.outcome is not None and attempt.outcome not in OUTCOMES:
                raise ValueError(f"runs:{i}.attempts:{j}.outcome: is {attempt.outcome!r};"
                                 f" valid: {', '.join(OUTCOMES)}")
    for k, entry in enumerate(state.in_flight):
        runs = state.runs
        if not 0 <= entry.run < len(runs) or not runs[entry.run].attempts or \
                runs[entry.run].attempts[-1].dir != entry.dir:
            raise ValueError(f"in_flight:{k}: names run {entry.run}, attempt {entry.dir!r},"
                             " which is not that run's last attempt")
