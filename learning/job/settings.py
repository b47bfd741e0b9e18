"""A job's settings: the options, the learner configs they merge, and where it runs.

Settings (what cluster_utils passes as ``--parameter-dict``, or a settings.json):

``config.config_templates``
    the templates file mapping the roles (the env's, rl_config, rl_common_config) to
    template files (like config.json).
    A relative path resolves against the current directory (cluster_utils starts jobs
    in the project directory), then against the project directory.
``config.<role>.<key>``
    overrides one template key (learning/config/addressing.py).
``learning_runs_per_job`` (default 3), ``training_iterations`` (default 1),
``max_attempts`` (default 3), ``local_cpu_pinning`` (default false),
``learner_stall_seconds`` (default 1800), ``learner_startup_seconds`` (default 1800),
``warm_learner_start`` (default true), ``resume_after_each_round`` (default false),
``job_time_limit_seconds`` (default: none; under Slurm, the job's time limit)
    see :class:`JobOptions`.
``pruning.*``, ``intermediate_evaluation_episodes``
    the intermediate metric and the pruning rule, see learning.job.pruning.
``working_dir``, ``id``
    set by cluster_utils (standalone: see :func:`standalone_working_dir`).
``singularity``
    read by the run_singularity.py wrapper (learning.container), ignored here.
Any other key is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from learning.config import (
    ConfigError,
    ParameterError,
    apply_overrides,
    collect_overrides,
    merge_and_validate,
    read_role_files,
)
from learning.config.checks import is_integer, is_number
from learning.contract import COMMON_ROLES, METRICS_FILE, PROJECT_DIR
from learning.parameter_dict import ParameterDictError, parse_parameter_dict, plain_repr


class JobFailed(RuntimeError):
    """The job cannot produce a result; the message says why (shown by cluster_utils)."""


class JobConfigError(JobFailed):
    """A setting, parameter or template is unusable: the job fails before any training."""


@dataclass(frozen=True)
class JobOptions:
    """The job's options.

    ``learner_stall_seconds``: a learner whose heartbeat (renewed about once a second
    while it trains and evaluates) the job has not seen renewed for this long is stalled
    (SIGSTOP, hung in a system call): the job stops it and counts a failed attempt,
    retried from its last saved model (learning.job.stall). It must exceed the longest
    pause of a healthy learner between two heartbeats: PPO's update phase, a checkpoint's
    save (SAC: with its replay buffer), the final save before the evaluation. The default,
    30 minutes, is far above those of the shipped configs (seconds).
    ``learner_startup_seconds``: the silence allowed before a learner's first heartbeat
    (imports, env, model load; minutes on a slow cluster file system), or
    ``learner_stall_seconds`` if that is larger; also the longest the job waits for its
    fork server's imports before it starts its learners cold.
    ``warm_learner_start``: fork the learners from one process per job process that has
    imported their libraries (learning.job.warm_start); false: start each as a new
    process (``python -m learning``), importing them again.
    ``resume_after_each_round``: under cluster_utils, exit for resume after every round
    of concurrent learners (each round its own cluster job, as before); false: train all
    rounds in one job process, exiting for resume only on a stop signal or when the time
    left is short (``job_time_limit_seconds``; learning.job.rounds).
    ``job_time_limit_seconds``: the time one job process may run; None: Slurm's time
    limit of the job's allocation where the job runs under Slurm, else no limit.
    """

    learning_runs_per_job: int = 3  #: independent runs, each with its own seed
    training_iterations: int = 1  #: chained trainings per run, each continuing the last
    max_attempts: int = 3  #: failed learner attempts allowed per run
    local_cpu_pinning: bool = False  #: local mode: CPUs no other job on this machine holds
    learner_stall_seconds: float = 1800  #: no heartbeat for this long: stalled
    learner_startup_seconds: float = 1800  #: allowed before the first heartbeat
    warm_learner_start: bool = True  #: fork learners from the job's fork server
    resume_after_each_round: bool = False  #: one round of learners per cluster job
    job_time_limit_seconds: float | None = None  #: None: Slurm's limit, else none


_DEFAULTS = {f.name: f.default for f in fields(JobOptions)}
#: the options that count (integers >= 1), with their defaults
OPTION_DEFAULTS = {key: _DEFAULTS[key]
                   for key in ("learning_runs_per_job", "max_attempts", "training_iterations")}
#: seconds (numbers >= 1) of the watch for stalled learners; not part of the job's identity
STALL_DEFAULTS = {key: _DEFAULTS[key]
                  for key in ("learner_stall_seconds", "learner_startup_seconds")}
#: switches (true or false), with their defaults
SWITCH_DEFAULTS = {key: _DEFAULTS[key]
                   for key in ("local_cpu_pinning", "warm_learner_start",
                               "resume_after_each_round")}
KNOWN_SETTINGS = (
    "config", "working_dir", "id", "singularity", *SWITCH_DEFAULTS, *OPTION_DEFAULTS,
    *STALL_DEFAULTS, "job_time_limit_seconds",
    "pruning", "intermediate_evaluation_episodes",  # learning.job.pruning
    "pbt",  # learning.job.population
)


def read_options(settings: dict[str, Any]) -> JobOptions:
    unknown = [key for key in settings if key not in KNOWN_SETTINGS]
    if unknown:
        raise JobConfigError(
            f"unknown job settings {unknown}; valid: {', '.join(KNOWN_SETTINGS)} (learner"
            " parameters go under config.<role>.<key>)"
        )
    options = {}
    for key, default in OPTION_DEFAULTS.items():
        value = settings.get(key, default)
        if not is_integer(value, 1):
            raise JobConfigError(f"setting {key}: expected an integer >= 1, got {value!r}")
        options[key] = value
    for key, default in STALL_DEFAULTS.items():
        value = settings.get(key, default)
        if not is_number(value) or value < 1:
            raise JobConfigError(f"setting {key}: expected a number of seconds >= 1, got"
                                 f" {value!r}")
        options[key] = value
    for key, default in SWITCH_DEFAULTS.items():
        value = settings.get(key, default)
        if not isinstance(value, bool):
            raise JobConfigError(f"setting {key}: expected true or false, got {value!r}")
        options[key] = value
    limit = settings.get("job_time_limit_seconds")
    if limit is not None and (not is_number(limit) or limit < 1):
        raise JobConfigError(f"setting job_time_limit_seconds: expected a number of seconds"
                             f" >= 1, got {limit!r}")
    return JobOptions(job_time_limit_seconds=limit, **options)


def params_digest(settings: dict[str, Any]) -> str:
    """What identifies a job's work: its learner configs and run layout (not max_attempts,
    which may be raised to let a failed job go on)."""
    relevant = {key: settings.get(key) for key in ("config", *OPTION_DEFAULTS)}
    relevant.pop("max_attempts")
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resolve_templates_path(value: Any, cwd: Path | None = None) -> Path:
    """Find the templates mapping file named by ``config.config_templates``."""
    if not isinstance(value, str) or not value:
        raise ParameterError(
            "parameter 'config.config_templates' is required: the path of a JSON file"
            " mapping the roles of the env (its own, then " + ", ".join(COMMON_ROLES) + ")"
            " to template files (e.g. hp_optim/config_templates_ppo.json)"
        )
    path = Path(value).expanduser()
    candidates = [path] if path.is_absolute() else [(cwd or Path.cwd()) / path,
                                                    PROJECT_DIR / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = " and ".join(str(c) for c in candidates)
    raise ParameterError(f"parameter 'config.config_templates': no file {value!r} (tried {tried})")


@dataclass(frozen=True)
class MergedConfigs:
    """The job's learner configs: the templates with the parameters merged in, checked."""

    templates_path: Path
    template_files: dict[str, str]
    overrides: dict[str, Any]
    roles: dict[str, dict[str, Any]]


def merged_configs(settings: dict[str, Any], cwd: Path | None = None,
                   validate: bool = True) -> MergedConfigs:
    """Merge (and with ``validate`` check) the job's configs; JobConfigError names the
    parameter or the file.

    The checks are those of the learner (rl_config's schema is stable-baselines3's own,
    read from a cache without importing it: learning.config.sb3_schema); a job runs them
    once, when it starts afresh. rl_config's paths are set per attempt, so load_path is
    not checked here.
    """
    try:
        templates_value, overrides = collect_overrides(settings)
        templates_path = resolve_templates_path(templates_value, cwd)
        templates = read_role_files(templates_path)
        if validate:
            roles = merge_and_validate(templates, overrides, check_load_path=False)
        else:
            roles = apply_overrides(templates, overrides)
    except (ParameterError, ConfigError) as e:
        raise JobConfigError(str(e)) from e
    return MergedConfigs(templates_path, {r: str(p) for r, (p, _) in templates.items()},
                         overrides, roles)


# --------------------------------------------------------------------------- standalone


def settings_position(argv: list[str]) -> int | None:
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


def standalone_working_dir(argv: list[str]) -> Path | None:
    """The working directory to impose on a standalone job, or None to keep its own.

    A settings file whose folder holds a finished job (its state finished and its
    metrics.csv written; e.g. a copy in cluster_utils' best_jobs/) is rerun from scratch
    in a new directory: ``<procedure>/reruns/<name>-<time>`` for best_jobs entries,
    ``<folder>-rerun-<time>`` otherwise.  Settings without a working_dir run in
    ``<project>/results/jobs/job-<time>``.
    """
    from learning.records.job_state import StateError, load_state

    if any(arg.startswith("--cluster-utils-server") for arg in argv):
        return None
    position = settings_position(argv)
    if position is None or any(a.startswith("working_dir=") for a in argv[position + 1:]):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fresh = PROJECT_DIR / "results" / "jobs" / f"job-{stamp}"
    if "--parameter-dict" in argv:
        try:
            settings = parse_parameter_dict(argv[position])
        except ParameterDictError:
            return None  # with_plain_parameter_dict reports the malformed dict
        return fresh if isinstance(settings, dict) and "working_dir" not in settings else None
    settings_file = Path(argv[position])
    try:
        settings = json.loads(settings_file.read_text())
    except (OSError, ValueError):
        return None  # cluster_utils reports the unreadable file
    record = settings_file.resolve().parent
    try:
        old = load_state(record)
    except StateError:
        old = None
    if old is not None and old.status == "finished" and (record / METRICS_FILE).exists():
        if record.parent.name == "best_jobs":
            return record.parent.parent / "reruns" / f"{record.name}-{stamp}"
        return record.parent / f"{record.name}-rerun-{stamp}"
    if isinstance(settings, dict) and "working_dir" not in settings:
        return fresh
    return None


def with_plain_parameter_dict(argv: list[str]) -> list[str]:
    """``argv`` with its ``--parameter-dict`` value rewritten as plain Python literals
    (numpy 2's ``np.int64(8)`` -> ``8``), which cluster_utils' own parser reads; a value
    that is not plain data is a JobConfigError."""
    position = settings_position(argv)
    if "--parameter-dict" not in argv or position is None:
        return argv
    try:
        plain = plain_repr(parse_parameter_dict(argv[position]))
    except ParameterDictError as e:
        raise JobConfigError(f"--parameter-dict: {e}") from e
    return [*argv[:position], plain, *argv[position + 1:]]


def with_working_dir(argv: list[str], working_dir: Path) -> list[str]:
    position = settings_position(argv)
    assert position is not None
    return argv[: position + 1] + [f"working_dir={str(working_dir)!r}"] + argv[position + 1:]


def process_start_time() -> float:
    """When this process started (Unix time), from /proc; now if unavailable.

    /proc/self/stat's starttime counts clock ticks since boot (CLOCK_BOOTTIME); the boot's
    Unix time is taken as now minus that clock, not from /proc/stat's ``btime``, which is
    truncated to whole seconds (it put process starts up to a second too early)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        since_start = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - max(since_start, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()
