"""Helpers for the job tests: tiny settings, reading the restart state, signalling learners."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Tiny budgets on the shipped templates: one PPO update of 32 steps per 32 timesteps.
TINY = {
    "config.config_templates": "hp_optim/config_templates_ppo.json",
    "config.rl_config.n_steps": 32,
    "config.rl_config.batch_size": 32,
    "config.rl_config.n_epochs": 1,
    "config.rl_config.num_timesteps": 64,
    "config.rl_common_config.evaluation_episodes": 2,
}


def nested(flat: dict) -> dict:
    """Split dotted names into nested dicts, as cluster_utils does for parameters."""
    out: dict = {}
    for name, value in flat.items():
        node = out
        *parents, last = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def job_settings(working_dir: Path, extra: dict | None = None, **params) -> dict:
    """TINY plus ``extra`` ({"config.x.y:0": v}) plus params (``config__x__y=v``)."""
    flat = dict(TINY)
    flat.update(extra or {})
    flat.update({name.replace("__", "."): value for name, value in params.items()})
    settings = nested(flat)
    settings["working_dir"] = str(working_dir)
    return settings


def write_settings(path: Path, settings: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))
    return path


def read_state(working_dir: Path) -> dict:
    return json.loads((Path(working_dir) / "job_state.json").read_text())


def progress_rows(count: int):
    """``when`` for LearnerSignaller: the attempt logged ``count`` rollouts (rows of
    progress.csv: it has trained on ``count - 1`` of them at least)."""

    def ready(attempt_dir: Path) -> bool:
        try:
            lines = (attempt_dir / "logs" / "progress.csv").read_text().splitlines()
        except OSError:
            return False
        return len(lines) > count

    return ready


def run_info_shows(check):
    """``when`` for LearnerSignaller: ``check(run_info)`` holds for the attempt's
    run_info.json, e.g. ``lambda info: info["status"] == "finished"``."""

    def ready(attempt_dir: Path) -> bool:
        try:
            info = json.loads((attempt_dir / "logs" / "run_info.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(check(info))

    return ready


class LearnerSignaller(threading.Thread):
    """Sends a real signal to learner processes the job under test starts.

    Watches the job's restart state for the in-flight learners' pids.  ``dirs``: the
    attempt directories to hit (None: every attempt).  ``when``: a file (relative to the
    attempt directory) whose existence shows the learner is far enough, or a function of
    the attempt directory that says so (e.g. :func:`progress_rows`); None: at once.
    ``to_job``: signal the job (this process) instead, which forwards it.  ``together``:
    send one signal once every attempt of ``dirs`` is in flight and far enough.
    """

    def __init__(self, working_dir, signum=signal.SIGKILL, dirs=None, when=None, to_job=False,
                 together=False):
        super().__init__(daemon=True)
        self.working_dir = Path(working_dir)
        self.signum, self.dirs, self.when, self.to_job = signum, dirs, when, to_job
        self.together = together
        self.hit: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                in_flight = read_state(self.working_dir)["in_flight"]
            except (OSError, ValueError):
                in_flight = []
            if self.together:
                self._signal_together(in_flight)
                continue
            for entry in in_flight:
                if (
                    entry["pid"]
                    and entry["dir"] not in self.hit
                    and (self.dirs is None or entry["dir"] in self.dirs)
                    and self._ready(entry["dir"])
                ):
                    self.hit.append(entry["dir"])
                    try:
                        os.kill(os.getpid() if self.to_job else entry["pid"], self.signum)
                    except ProcessLookupError:
                        pass
            time.sleep(0.02)

    def _signal_together(self, in_flight: list[dict]) -> None:
        ready = {e["dir"]: e["pid"] for e in in_flight if e["pid"] and self._ready(e["dir"])}
        if not self.hit and set(self.dirs) <= set(ready):
            self.hit = sorted(self.dirs)
            targets = [os.getpid()] if self.to_job else [ready[d] for d in self.hit]
            for pid in targets:
                os.kill(pid, self.signum)
        time.sleep(0.02)

    def _ready(self, attempt_dir: str) -> bool:
        if callable(self.when):
            return self.when(self.working_dir / attempt_dir)
        return self.when is None or (self.working_dir / attempt_dir / self.when).exists()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self.join()
