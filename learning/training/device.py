"""The torch device the learner trains on: rl_config ``device``, "cpu" unless it names one.

stable-baselines3's own default, "auto", puts the networks on a GPU wherever one is
visible, and PPO with an MLP policy trains faster on the CPU (SB3 warns so itself); so the
learner trains, continues and evaluates on the CPU unless rl_config says ``"cuda"``,
``"cuda:N"`` or ``"auto"`` (SB3 picks: the first GPU if one is visible, else the CPU).
A CUDA device that this machine does not show is a config error before anything is
trained or written (exit code 2), not a crash in the middle of building the model.
"""

from __future__ import annotations

import os
import socket

import torch

from learning.config import ConfigError, RunConfig
from learning.config.rl import DEVICE_CHOICES


def training_device(config: RunConfig) -> str:
    """rl_config's device ("cpu" where it names none), checked against the CUDA devices
    visible here; raises ConfigError for one that is not."""
    device = config.rl.get("device", "cpu")
    if not device.startswith("cuda"):
        return device
    index = int(device.partition(":")[2] or 0)
    count = torch.cuda.device_count()  # honours CUDA_VISIBLE_DEVICES; 0 on a CPU build
    if index < count:
        return device
    if count == 0:
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = (f"no CUDA device is visible on {socket.gethostname()} (torch {torch.__version__},"
               f" {build}" + (f"; CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None
                              else "") + ")")
    else:
        why = f"only {count} CUDA device(s) are visible here: cuda:0 .. cuda:{count - 1}"
    raise ConfigError(config.files["rl_config"], "device", f"is {device!r}, but {why}",
                      DEVICE_CHOICES)
