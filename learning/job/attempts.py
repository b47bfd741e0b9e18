"""One learner attempt's folder: its merged configs, its timesteps, its CPUs.

A run folder ``run_<run>.<iteration>-<attempt>`` (learning.contract) holds ``config/``
(the merged role configs with the attempt's paths, seed and timesteps, and a
config.json naming them), then what the learner writes (learning.job.learner).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

from learning.atomic_io import atomic_write_json
from learning.config import RL_COMMON_DEFAULTS, RL_VEC_ENV_DEFAULTS
from learning.contract import MODEL_FILE, RUN_CONFIG_DIR, run_dir_name
from learning.job.continuation import timesteps_to_train
from learning.records.job_state import RUNNING, Attempt, InFlight, RunState


def torch_threads(roles: dict[str, dict[str, Any]]) -> int:
    """rl_common_config's torch_threads (its default where the job skipped validation)."""
    return roles["rl_common_config"].get("torch_threads", RL_COMMON_DEFAULTS["torch_threads"])


def cpus_per_learner(roles: dict[str, dict[str, Any]]) -> int:
    """CPUs one learner keeps busy: its torch threads while it updates the networks, its
    env worker processes (vec_env "subproc") while it collects experience."""
    rl = roles["rl_config"]
    n_envs = rl.get("n_envs", RL_VEC_ENV_DEFAULTS["n_envs"])
    subproc = rl.get("vec_env", RL_VEC_ENV_DEFAULTS["vec_env"]) == "subproc"
    return max(torch_threads(roles), n_envs if subproc else 1)


def write_run_configs(roles: dict[str, dict[str, Any]], working_dir: Path, run: RunState,
                      run_dir: Path, num_timesteps: int) -> str:
    """The merged configs of this attempt in run_dir/config/; returns its load_path."""
    folder = run_dir / RUN_CONFIG_DIR
    folder.mkdir(parents=True)
    roles = {role: dict(content) for role, content in roles.items()}
    load_path = ""
    if run.resume_model:
        load_path = os.path.relpath(working_dir / run.resume_model, run_dir)
    roles["rl_config"].update(log_path="logs", save_path=MODEL_FILE, load_path=load_path,
                              num_timesteps=num_timesteps)
    roles["rl_common_config"]["random_seed"] = run.seed
    for role, content in roles.items():  # the env's roles, then rl_config, rl_common_config
        atomic_write_json(folder / f"{role}.json", content)
    atomic_write_json(folder / "config.json", {role: f"{role}.json" for role in roles})
    return load_path


def new_attempt(roles: dict[str, dict[str, Any]], working_dir: Path, run: RunState,
                cpus: frozenset[int] | None) -> tuple[Attempt, InFlight, Path]:
    """The run's next attempt, its folder made afresh and its configs written; the run
    is marked running (the caller records both in the restart state)."""
    remaining = timesteps_to_train(run, roles["rl_config"]["num_timesteps"])
    iteration, number = run.iteration, run.next_attempt
    run.next_attempt += 1
    name = run_dir_name(run.run, iteration, number)
    run_dir = working_dir / name
    if run_dir.exists():  # left by a job killed before it recorded the attempt
        shutil.rmtree(run_dir)
    run_dir.mkdir()
    load_path = write_run_configs(roles, working_dir, run, run_dir, remaining)
    attempt = Attempt.start(run, iteration, number, name, remaining, load_path)
    attempt.cpus = sorted(cpus) if cpus else None
    run.attempts.append(attempt)
    run.status = RUNNING
    return attempt, InFlight(run=run.run, dir=name, host=socket.gethostname()), run_dir


def remove_temporary_files(run_dir: Path) -> list[str]:
    """Delete the temporary files a learner left in its folder when it was killed while it
    saved (``.model.<pid>.tmp.zip``, ``.model_replay_buffer.<pid>.tmp.pkl``: a replay
    buffer's can be large; ``.<file>.<pid>.<hex>.tmp`` of atomic writes). Only once its
    process has ended: nothing else writes there. Returns their names."""
    removed = []
    for path in run_dir.rglob(".*"):
        if path.is_file() and (path.name.endswith(".tmp") or ".tmp." in path.name):
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(str(path.relative_to(run_dir)))
    return removed

