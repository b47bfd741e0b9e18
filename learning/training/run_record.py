"""What a run directory records about its run: run_info.json and configs/.

run_info.json (rewritten atomically at the start and the end of every run) holds the
seed, the command line, package versions, the torch device, timesteps and the status:
"running", "finished", "interrupted", "diverged" or "failed". A continued run (load_path)
in the same log_path keeps the records of the earlier runs under "previous_runs" (a fresh
run starts a new run_info.json, progress.csv, episodes.csv and tensorboard/).
configs/ holds copies of the role configs as they were used (command-line overrides
merged in, defaults filled in) and a config.json that points to them, so
``python -m learning <log_path>/configs/config.json`` reruns the run.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from learning.atomic_io import atomic_write_json
from learning.config import RunConfig
from learning.contract import CONFIGS_DIR, RUN_INFO_FILE, RUN_RUNNING
from learning.training.output_errors import writing

VERSIONED_PACKAGES = ("lttfs", "stable-baselines3", "torch", "gymnasium", "mujoco", "numpy")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def copy_configs(config: RunConfig, log_path: Path) -> Path:
    """Write the validated role configs and a config.json naming them to log_path/configs."""
    folder = log_path / CONFIGS_DIR
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        for role, content in config.roles.items():
            atomic_write_json(folder / f"{role}.json", content)
        atomic_write_json(folder / "config.json", {role: f"{role}.json" for role in config.roles})
    return folder


class RunRecord:
    """run_info.json of one run, updated as the run goes."""

    def __init__(
        self, config: RunConfig, log_path: Path, seed: int, seed_source: str, argv: list[str]
    ):
        self.path = log_path / RUN_INFO_FILE
        previous: list[dict[str, Any]] = []
        if self.path.exists():
            try:
                old = json.loads(self.path.read_text())
                previous = old.pop("previous_runs", []) + [old]
            except (json.JSONDecodeError, AttributeError):
                previous = []
        self._start = time.time()
        self.info: dict[str, Any] = {
            "status": RUN_RUNNING,
            "message": "",
            "seed": seed,
            "seed_source": seed_source,
            "command": list(getattr(sys, "orig_argv", sys.argv)),
            "argv": list(argv),
            "cwd": os.getcwd(),
            "config": str(config.main_file.resolve()),
            "config_files": {role: str(path.resolve()) for role, path in config.files.items()},
            "overrides": dict(config.overrides),
            "algorithm": config.algorithm,
            "load_path": config.rl["load_path"],
            "save_path": config.rl["save_path"],
            "log_path": config.rl["log_path"],
            "num_timesteps_requested": config.rl["num_timesteps"],
            "num_timesteps_start": None,
            "num_timesteps": None,
            "torch_threads": None,
            "cpus": None,  # the CPUs the learner may run on (its affinity)
            "device": None,  # the torch device the model is on: "cpu", "cuda:0", ...
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self._start)),
            "finished_at": None,
            "wall_time_s": None,
            "versions": package_versions(),
            "previous_runs": previous,
        }

    def update(self, **values: Any) -> None:
        self.info.update(values)
        self.write()

    def finish(
        self, status: str, num_timesteps: int | None, message: str = "", **values: Any
    ) -> None:
        now = time.time()
        self.update(
            status=status,
            message=message,
            num_timesteps=num_timesteps,
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
            wall_time_s=round(now - self._start, 3),
            **values,
        )

    def write(self) -> None:
        with writing(self.path):
            atomic_write_json(self.path, self.info)
