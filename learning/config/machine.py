"""Checks of a run's rl_config against the machine the learner runs on: the paths it
writes and reads, and the memory of the algorithm's buffer.

The learner runs them (:func:`learning.config.load_configs`); the job's and the sweep's
checks of merged configs do not, because they may run elsewhere (a login node) and set
the paths per attempt. Each failure is a ConfigError naming the file and the key:

- ``log_path`` must be a folder or creatable (not a file, nor below one); ``save_path``
  must not be a folder (nor below a file);
- ``load_path`` must be a model zip saved by stable-baselines3 for this algorithm and
  this env's observation and action shapes (read from the zip's JSON ``data``, without
  unpickling anything; the env's spaces as its plug-in declares them);
- PPO's rollout buffer (``n_steps``) and SAC's replay buffer (``buffer_size``) must fit
  into the memory available: /proc/meminfo's MemAvailable, lowered by the memory limit
  of the process's cgroup (a Slurm job's ``--mem``, a container's limit).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError
from learning.config.sb3_limits import buffer_bytes
from learning.plugins.envs import EnvSpaces, env_plugin
from learning.records.model_zip import ModelZipError, read_model_data

#: a key only this algorithm's saved ``data`` holds
MODEL_MARKERS = {"ppo": "clip_range", "sac": "tau"}
MODEL_VALID = "a model .zip saved by the learner (save_path) for the same algorithm"


def check_on_this_machine(rl: dict[str, Any], file: Path, algorithm: str,
                          spaces: EnvSpaces | None = None) -> None:
    """All checks; ``spaces``: the env's (None: the default env's)."""
    spaces = spaces or env_plugin().spaces({})
    check_paths(rl, file)
    if rl["load_path"] and Path(rl["load_path"]).is_file():
        check_model_file(Path(rl["load_path"]), file, algorithm, spaces)
    check_buffer_memory(rl, file, algorithm, available_memory(), spaces)


def check_paths(rl: dict[str, Any], file: Path) -> None:
    log_path, save_path = Path(rl["log_path"]), Path(rl["save_path"])
    if log_path.exists() and not log_path.is_dir():
        raise ConfigError(file, "log_path", f"{log_path.resolve()} is a file",
                          "a folder (created if missing)")
    if save_path.is_dir():
        raise ConfigError(file, "save_path", f"{save_path.resolve()} is a folder",
                          "a file path ending in .zip")
    for key, path in (("log_path", log_path), ("save_path", save_path.parent)):
        blocker = _file_above(path)
        if blocker is not None:
            raise ConfigError(file, key, f"{blocker} (part of {rl[key]!r}) is a file, not a "
                              "folder", "a path whose existing parts are folders")


def _file_above(path: Path) -> Path | None:
    """The first existing part of ``path`` (itself or a parent) if it is not a folder."""
    for part in (path.absolute(), *path.absolute().parents):
        if part.exists():
            return None if part.is_dir() else part
    return None


def check_model_file(path: Path, file: Path, algorithm: str,
                     spaces: EnvSpaces | None = None) -> None:
    """``path`` must be a stable-baselines3 model zip of ``algorithm`` for an env with
    these ``spaces`` (None: the default env's)."""
    spaces = spaces or env_plugin().spaces({})
    try:
        data = read_model_data(path)
    except ModelZipError as e:
        raise ConfigError(file, "load_path", f"{path.resolve()} is not a stable-baselines3 "
                          f"model ({e})", MODEL_VALID) from e
    others = [a for a, marker in MODEL_MARKERS.items() if a != algorithm and marker in data]
    if MODEL_MARKERS[algorithm] not in data and others:
        raise ConfigError(file, "load_path", f"{path.resolve()} is a {others[0].upper()} model,"
                          f" the algorithm is {algorithm!r}", MODEL_VALID)
    for space, layout in (("observation_space", spaces.observation),
                          ("action_space", spaces.action)):
        saved = data.get(space)
        shape = saved.get("_shape") if isinstance(saved, dict) else None
        if isinstance(shape, list) and shape != list(layout.shape):
            raise ConfigError(file, "load_path", f"{path.resolve()} was trained on an env whose "
                              f"{space} has shape {shape}; this env's has"
                              f" {list(layout.shape)}", MODEL_VALID)


def check_buffer_memory(rl: dict[str, Any], file: Path, algorithm: str,
                        available: int | None, spaces: EnvSpaces | None = None) -> None:
    """The algorithm's buffer must fit into ``available`` bytes (None: unknown, no check)
    for an env with these ``spaces`` (None: the default env's)."""
    key, entries, needed, each = buffer_bytes(rl, algorithm, spaces)
    if available is None or needed <= available:
        return
    fits = available // max(needed // max(entries, 1), 1)
    what = "PPO's rollout buffer" if algorithm == "ppo" else "SAC's replay buffer"
    raise ConfigError(
        file, key, f"{rl.get(key, entries)} needs about {_human(needed)} of memory for "
        f"{what} ({entries} entries, {each}), more than the {_human(available)} "
        "available on this machine",
        f"at most about {fits} entries here, or a machine with more free memory",
    )


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    raise AssertionError("unreachable")


def available_memory() -> int | None:
    """Bytes this process may still allocate; None if unknown."""
    limits = [value for value in (_mem_available(), _cgroup_headroom()) if value is not None]
    return min(limits) if limits else None


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _cgroup_headroom() -> int | None:
    """The smallest (limit - usage) of the memory cgroups holding this process and their
    ancestors (cgroup v2 memory.max/current, v1 limit_in_bytes/usage_in_bytes)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    headrooms = []
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if controllers == "":
            base, files = Path("/sys/fs/cgroup"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, files = Path("/sys/fs/cgroup/memory"), ("memory.limit_in_bytes",
                                                          "memory.usage_in_bytes")
        else:
            continue
        folder = base / group.lstrip("/")
        for level in (folder, *folder.parents):
            headrooms.append(_headroom(level, *files))
            if level == base:
                break
    known = [h for h in headrooms if h is not None]
    return min(known) if known else None


def _headroom(folder: Path, limit_file: str, usage_file: str) -> int | None:
    try:
        limit = (folder / limit_file).read_text().strip()
        usage = int((folder / usage_file).read_text().strip())
    except (OSError, ValueError):
        return None
    if not limit.isdigit() or int(limit) >= 2**60:  # "max", or v1's "no limit" value
        return None
    return max(int(limit) - usage, 0)
