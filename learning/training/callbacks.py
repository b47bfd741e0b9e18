"""stable-baselines3 callbacks of the learner: stop on a signal, stop on NaN, log episodes;
and the learner's heartbeat, which tells the job that started it that it makes progress."""

from __future__ import annotations

import csv
import io
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from learning.atomic_io import atomic_write_text
from learning.contract import HEARTBEAT_FILE_VARIABLE
from learning.signal_handlers import SignalHandlers
from learning.training.output_errors import writing

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
# The parameters an optimizer updates are checked after every this many of its steps
# (checking after each one costs ~10% of a SAC update; a divergence between two checks
# usually surfaces earlier as torch.distributions' invalid-parameter error anyway).
PARAMETER_CHECK_EVERY = 50


#: the learner touches its heartbeat file at most this often (seconds)
HEARTBEAT_INTERVAL = 1.0


class Heartbeat:
    """Tells the job that started this learner that the learner still makes progress.

    The job names an empty file in the learner's environment (contract
    HEARTBEAT_FILE_VARIABLE); :meth:`beat` sets its modification time to now, at most once
    per ``interval`` seconds: one ``utime`` call, nothing written, no fsync. A job takes a
    learner whose heartbeat stops (SIGSTOP, hung in a system call, deadlocked) for stalled
    and stops it (learning.job.stall). Without the variable (a learner run by hand) it does
    nothing. A beat that fails (the file was removed) is skipped.
    """

    def __init__(self, path: str | None, interval: float = HEARTBEAT_INTERVAL) -> None:
        self.path = path or None
        self.interval = interval
        self._next = 0.0  #: time.monotonic() from which on the next beat is due

    @classmethod
    def from_environment(cls) -> Heartbeat:
        return cls(os.environ.get(HEARTBEAT_FILE_VARIABLE))

    def beat(self) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        try:
            os.utime(self.path)
        except OSError:
            pass


class StopRequest:
    """Set by SIGTERM/SIGUSR1 (see :meth:`install`); training stops at the next env step.

    The learner asks :attr:`requested` at every env step of its training (StopOnRequest)
    and of its evaluation (its ``should_stop``), so each question also beats its
    :class:`Heartbeat` (at most once a second): a learner that stops asking makes no
    progress.
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._handlers = SignalHandlers()
        self.heartbeat = Heartbeat.from_environment()

    @property
    def requested(self) -> bool:
        self.heartbeat.beat()
        return self.signal_number is not None

    def _handle(self, signal_number: int, frame: Any) -> None:
        self.signal_number = signal_number

    def install(self) -> None:
        self._handlers.install(STOP_SIGNALS, self._handle)

    def restore(self) -> None:
        self._handlers.restore()

    def describe(self) -> str:
        if self.signal_number is None:
            return "no stop requested"
        return f"received {signal.Signals(self.signal_number).name}"


class StopOnRequest(BaseCallback):
    """Returns False (SB3: stop training) once a stop was requested.

    An on-policy algorithm (PPO) stopped in the middle of a rollout has counted the steps
    of that rollout in ``num_timesteps`` but never trained on them (its rollout buffer is
    dropped): the counter is set back to the timesteps of the last update, so that the
    saved model's timesteps are those it trained on and a continuation trains the rest.
    An off-policy algorithm (SAC) keeps every collected step in its replay buffer, which
    is saved with the model: its count stays.
    """

    def __init__(self, stop: StopRequest):
        super().__init__()
        self.stop = stop
        self._trained: int | None = None  #: PPO: timesteps when the current rollout began

    def _on_rollout_start(self) -> None:
        if isinstance(self.model, OnPolicyAlgorithm):
            self._trained = self.model.num_timesteps

    def _on_step(self) -> bool:
        if not self.stop.requested:
            return True
        if self._trained is not None:
            self.model.num_timesteps = self._trained
        return False


class DivergedError(RuntimeError):
    """NaN or infinity in an observation, a reward or the network parameters."""


class NaNGuard(BaseCallback):
    """Raises DivergedError on a non-finite observation or reward (checked every step) or
    a non-finite network parameter (checked after the first and then every
    PARAMETER_CHECK_EVERY-th step of each optimizer: a NaN loss spoils the parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list[Any] = []
        self._steps: dict[int, int] = {}

    def _on_training_start(self) -> None:
        for optimizer in optimizers(self.model):
            self._hooks.append(optimizer.register_step_post_hook(self._check_optimizer))

    def _on_step(self) -> bool:
        for name, label in (("rewards", "reward"), ("new_obs", "observation")):
            value = self.locals.get(name)
            if value is not None and not np.all(np.isfinite(value)):
                raise DivergedError(
                    f"non-finite {label} at timestep {self.num_timesteps}: {value!r}"
                )
        return True

    def _check_optimizer(self, optimizer: torch.optim.Optimizer, *args: Any) -> None:
        count = self._steps.get(id(optimizer), 0)
        self._steps[id(optimizer)] = count + 1
        if count % PARAMETER_CHECK_EVERY == 0:
            check_parameters([optimizer], self.num_timesteps)

    def _on_training_end(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()


def check_parameters(optimizers: list[torch.optim.Optimizer], timesteps: int) -> None:
    """Raise DivergedError if a parameter that ``optimizers`` update is NaN or infinite."""
    with torch.no_grad():
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    if not torch.isfinite(parameter).all():
                        raise DivergedError(
                            f"non-finite network parameter after an update at timestep"
                            f" {timesteps} (a loss or gradient became NaN or infinite)"
                        )


def optimizers(model: Any) -> list[torch.optim.Optimizer]:
    """Every torch optimizer of an SB3 model (PPO: the policy's; SAC: actor, critic and
    entropy coefficient)."""
    found: list[torch.optim.Optimizer] = []
    for owner in (model, *model.policy.modules()):
        for value in vars(owner).values():
            if isinstance(value, torch.optim.Optimizer) and all(value is not f for f in found):
                found.append(value)
    return found


def _flat_info(info: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalar entries of an env info dict, nested dicts flattened to dotted names."""
    row: dict[str, Any] = {}
    for key, value in info.items():
        if key in ("episode", "terminal_observation", "TimeLimit.truncated"):
            continue
        if isinstance(value, dict):
            row.update(_flat_info(value, f"{prefix}{key}."))
        elif value is None or isinstance(value, (bool, int, float, str, np.number, np.bool_)):
            row[prefix + key] = value.item() if isinstance(value, (np.number, np.bool_)) else value
    return row


class EpisodeLog(BaseCallback):
    """Appends one row per finished training episode to a CSV file (episodes.csv): the
    timestep, the episode's reward and length, and the scalar info terms of its end
    (nested dicts as dotted names). A term first seen later (the reward terms of a hit
    differ from a miss's) adds a column: the file is rewritten with the wider header."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self._file: Any = None
        self._fields: list[str] = []

    def _on_training_start(self) -> None:
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                self._fields = next(csv.reader(f), [])
        with writing(self.path):
            self._file = open(self.path, "a", newline="")  # closed in _on_training_end

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if done:
                with writing(self.path):
                    self._write(info)
        return True

    def _write(self, info: dict[str, Any]) -> None:
        episode = info.get("episode", {})
        row = {
            "num_timesteps": self.num_timesteps,
            "episode_reward": episode.get("r", math.nan),
            "episode_length": episode.get("l", ""),
        }
        row.update(_flat_info(info))
        new_fields = [key for key in row if key not in self._fields]
        if new_fields:
            self._widen(new_fields)
        csv.DictWriter(self._file, self._fields, restval="").writerow(row)
        self._file.flush()

    def _widen(self, new_fields: list[str]) -> None:
        """Rewrite the file (atomically) with the wider header."""
        self._file.close()
        rows: list[dict[str, str]] = []
        if self._fields:
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
        self._fields = self._fields + new_fields
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, self._fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, text.getvalue())
        self._file = open(self.path, "a", newline="")  # closed in _on_training_end

    def _on_training_end(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with writing(self.path):
                file.close()
