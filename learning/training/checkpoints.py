"""Periodic checkpoints: the model saved to save_path while it trains.

Every rl_common_config ``checkpoint_interval`` timesteps (0: never) the learner saves its
model to ``save_path`` with :func:`learning.training.train.save_model`: the normalization
statistics, SAC's replay buffer and the model go to synced temporary files that replace
the old ones only when all are written, the model last. So save_path always holds the
newest complete checkpoint, and a learner killed at any moment (SIGKILL, a lost node)
leaves one to continue from: a job retries from it and trains only what is left
(learning.job.continuation).

A checkpoint is taken where the model is consistent: at the start of a rollout, after
the updates on everything collected so far (PPO: at a rollout boundary, so at least
``checkpoint_interval`` and less than ``checkpoint_interval + n_steps * n_envs`` timesteps
after the previous one; SAC: after its gradient steps). Parameters that became NaN are
never saved: the run diverged (DivergedError). run_info.json records the last checkpoint
(``checkpoint_timesteps``) and how many were taken (``checkpoints``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from learning.training.callbacks import check_parameters, optimizers


class Checkpoints(BaseCallback):
    """Calls ``save()`` at the first rollout start ``interval`` or more timesteps after the
    training's start or the last checkpoint, then ``saved(timesteps, count)``."""

    def __init__(self, interval: int, save: Callable[[], None],
                 saved: Callable[[int, int], Any] | None = None) -> None:
        super().__init__()
        if interval < 1:
            raise ValueError(f"checkpoint interval {interval}: expected >= 1")
        self.interval = interval
        self._save, self._saved = save, saved
        self._last = 0  #: timesteps of the last checkpoint (or of the training's start)
        self.count = 0

    def _on_training_start(self) -> None:
        self._last = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        timesteps = self.model.num_timesteps
        if timesteps - self._last < self.interval:
            return
        check_parameters(optimizers(self.model), timesteps)
        self._save()
        self._last = timesteps
        self.count += 1
        if self._saved is not None:
            self._saved(timesteps, self.count)

    def _on_step(self) -> bool:
        return True
