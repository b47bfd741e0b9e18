"""A job process's restart state at its start: the saved one, or a new one.

A saved state (learning.records.job_state) of the same parameters is resumed; one of
other parameters is moved aside into ``stale-<time>/`` with the run folders; a new job
merges its parameters into the templates with every config check (the learner's own,
without importing stable-baselines3: learning.config.sb3_schema), so a bad value fails
the job at once, and draws its runs' seeds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.job.settings import (
    JobConfigError,
    JobFailed,
    JobOptions,
    MergedConfigs,
    merged_configs,
    params_digest,
)
from learning.records.job_state import (
    JobState,
    StateError,
    load_state,
    remove_stale_temporary_files,
    state_path,
)


@dataclass
class StartingState:
    state: JobState
    checked: MergedConfigs | None  #: the configs checked for a new job (None: resumed)
    config_seconds: float | None  #: how long that check took


def load_or_create_state(settings: dict[str, Any], options: JobOptions, working_dir: Path,
                         log: Callable[[str], None]) -> StartingState:
    digest = params_digest(settings)
    remove_stale_temporary_files(working_dir)
    try:
        state = load_state(working_dir)
    except StateError as e:
        raise JobFailed(str(e)) from e
    if state is not None and state.params_digest != digest:
        _move_aside_stale_state(working_dir, log)
        state = None
    if state is not None:
        log(f"resuming from {state_path(working_dir)}")
        state.max_attempts = options.max_attempts
        return StartingState(state, None, None)
    started = time.monotonic()
    try:
        configs = merged_configs(settings)  # now with every config check
    except JobConfigError as e:
        log(f"config error: {e}")
        raise
    checked = time.monotonic() - started
    seeds = _seeds(configs, options)
    state = JobState.new(digest, options.training_iterations, options.max_attempts, seeds)
    state.templates = str(configs.templates_path)
    state.template_files = configs.template_files
    state.overrides = configs.overrides
    log(
        f"new job: templates {configs.templates_path}, overrides {configs.overrides},"
        f" {len(seeds)} runs with seeds {seeds}, options {options}"
    )
    return StartingState(state, configs, checked)


def _move_aside_stale_state(working_dir: Path, log: Callable[[str], None]) -> None:
    stale = working_dir / f"stale-{time.strftime('%Y%m%d-%H%M%S')}"
    stale.mkdir()
    for item in working_dir.iterdir():
        if item == state_path(working_dir) or item.name.startswith("run_"):
            item.rename(stale / item.name)
    log(f"the restart state belonged to other parameters; moved it to {stale}")


def _seeds(configs: MergedConfigs, options: JobOptions) -> list[int]:
    base = configs.roles["rl_common_config"].get("random_seed")
    if not isinstance(base, int) or isinstance(base, bool):
        base = secrets.randbelow(2**31 - 10_000)
    return [base + run for run in range(options.learning_runs_per_job)]
