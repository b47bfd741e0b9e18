"""A stand-in learner for benchmarks/search_efficiency.py: benchmark and testing only.

It has the real learner's interface (``python -m benchmarks.learning_standin CONFIG.json``
in the attempt's folder, the same five role configs) and writes the same files
(``logs/run_info.json``, ``logs/progress.csv``, ``logs/evaluation.json``, the model zip),
so the real job starts, classifies, retries, scores and prunes it as usual. A job runs it
instead of ``python -m learning`` when the environment variable LTTFS_LEARNER_MODULE is
``benchmarks.learning_standin`` (read in learning.job.learner only). It trains nothing:
its learning curve is this noisy function of three hyperparameters, so that hundreds of
trials run in minutes and the true quality of every setting is known.

Quality of a setting (1 at the optimum), learning rate ``lr``, robot x position ``x``,
discount ``gamma``::

    q = exp(-(log10(lr / 3e-4) / 0.8)^2 / 2) * exp(-((x - 0.2) / 0.3)^2 / 2)
        * exp(-(log10((1 - gamma) / 0.01) / 0.7)^2 / 2)

Speed: time constant ``tau = 40000 * (3e-4 / lr)^0.5`` timesteps (higher learning rates
learn faster, to a lower plateau: early leaders are not always the final winners).
True evaluation reward after ``t`` timesteps::

    R(t) = R0 + (RMAX - R0) * q * (1 - exp(-t / tau)),   R0 = -0.45, RMAX = 0.3

Memory: what a run has learned is a level ``L`` carried in its model zip, and
``R = R0 + (RMAX - R0) * L``. Each 1000 timesteps move it towards the quality of the
settings it trains with now, ``L <- q + (L - q) * exp(-1000 / tau)``: from ``L = 0`` with
constant settings that is the closed form above, so sweeps of constant settings score as
without memory; a run that continues another's model (a PBT exploit copies it) starts
from that model's level, and a run whose settings change mid-way keeps what it learned
before.

What the stand-in reports for a run with seed ``s`` after an evaluation of ``n``
episodes: ``R(t) + b_s + e``, with a per-seed offset ``b_s ~ N(0, 0.03)`` (some seeds
learn worse, for the whole run) and evaluation noise ``e ~ N(0, 0.15 / sqrt(n))``, drawn
from a generator seeded by (s, t, n), so the numbers are reproducible. hit_rate and
return_rate follow R; ``rollout/ep_rew_mean`` is R - 0.05 with noise 0.05.

CPU: with LTTFS_STANDIN_SECONDS_PER_1K_STEPS (default 0) it busy-loops that long per
1000 timesteps, so that measured CPU follows the timesteps trained. SIGTERM/SIGUSR1
make it save its model and exit with code 75, like the real learner.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from learning.atomic_io import atomic_write_json
from learning.contract import (
    EPREWMEAN_COLUMN,
    EVALUATION_FILE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROGRESS_FILE,
    RUN_FINISHED,
    RUN_INFO_FILE,
    RUN_INTERRUPTED,
    TIMESTEPS_COLUMN,
)

LR_BEST, X_BEST, ONE_MINUS_GAMMA_BEST = 3e-4, 0.2, 0.01
R0, RMAX, TAU0 = -0.45, 0.3, 40000.0
SEED_SD, EVAL_SD, CHUNK = 0.03, 0.15, 1000
#: the bounds the benchmark samples from (log for the learning rate)
BOUNDS = {"config.rl_config.learning_rate": (1e-5, 1e-2),
          "config.hysr_config.robot_position:0": (-0.5, 0.8),
          "config.rl_config.gamma": (0.9, 0.999)}


def quality(lr: float, x: float, gamma: float) -> float:
    return float(math.exp(-0.5 * (math.log10(lr / LR_BEST) / 0.8) ** 2)
                 * math.exp(-0.5 * ((x - X_BEST) / 0.3) ** 2)
                 * math.exp(-0.5 * (math.log10((1 - gamma) / ONE_MINUS_GAMMA_BEST) / 0.7) ** 2))


def time_constant(lr: float) -> float:
    return TAU0 * (LR_BEST / lr) ** 0.5


def true_reward(lr: float, x: float, gamma: float, timesteps: float) -> float:
    """The noiseless evaluation reward of a setting trained with from the start for
    ``timesteps``."""
    return reward_of_level(level_after(0.0, lr, x, gamma, timesteps))


def level_after(level: float, lr: float, x: float, gamma: float, steps: float) -> float:
    """The learned level after ``steps`` more timesteps with these settings: it moves
    from ``level`` towards the settings' quality with their time constant (from 0 with
    constant settings, this is the closed form of :func:`true_reward`)."""
    target = quality(lr, x, gamma)
    return target + (level - target) * math.exp(-steps / time_constant(lr))


def reward_of_level(level: float) -> float:
    return R0 + (RMAX - R0) * level


def best_true_reward(timesteps: float, points: int = 60) -> float:
    """The highest true reward within BOUNDS after ``timesteps`` (grid search, then the
    best grid point refined)."""
    lrs = np.geomspace(*BOUNDS["config.rl_config.learning_rate"], points)
    xs = np.linspace(*BOUNDS["config.hysr_config.robot_position:0"], points)
    gammas = np.linspace(*BOUNDS["config.rl_config.gamma"], points)
    best = max((true_reward(lr, X_BEST, g, timesteps), lr, g) for lr in lrs for g in gammas)
    x_best = max(true_reward(best[1], x, best[2], timesteps) for x in xs)
    return max(best[0], x_best, true_reward(best[1], X_BEST, best[2], timesteps))


class Stop:
    requested = False

    @classmethod
    def handle(cls, signum, frame) -> None:
        cls.requested = True


def _roles(config_file: Path) -> dict[str, dict]:
    mapping = json.loads(config_file.read_text())
    return {role: json.loads((config_file.parent / name).read_text())
            for role, name in mapping.items()}


def _noise(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**32, *keys])


def _evaluation(lr: float, x: float, gamma: float, level: float, seed: int, timesteps: int,
                episodes: int) -> dict:
    offset = _noise(seed, 0).normal(0, SEED_SD)
    rng = _noise(seed, 1, timesteps, episodes)
    reward = reward_of_level(level) + offset + rng.normal(0, EVAL_SD / episodes**0.5)
    hit_rate = min(1.0, max(0.0, (reward - R0) / (RMAX - R0)))
    return {"mean_reward": float(reward), "std_reward": EVAL_SD, "hit_rate": hit_rate,
            "return_rate": hit_rate * 0.3 * quality(lr, x, gamma), "episodes": episodes,
            "num_timesteps": timesteps, "deterministic": True, "standin": True}


def _burn(steps: int) -> None:
    seconds = float(os.environ.get("LTTFS_STANDIN_SECONDS_PER_1K_STEPS", "0")) * steps / 1000
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def save_model(path: Path, timesteps: int, seed: int, level: float) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr("standin.json", json.dumps({"num_timesteps": timesteps, "seed": seed,
                                                     "level": level}))
        # stable-baselines3's "data" entry with what the job reads from a model (its
        # timesteps: a PBT exploit checks the donor's checkpoint by them)
        archive.writestr("data", json.dumps({"num_timesteps": timesteps}))
    os.replace(tmp, path)


def load_model(load_path: str, lr: float, x: float, gamma: float) -> tuple[int, float]:
    """(timesteps, learned level) of a saved model; a model saved without a level counts
    as trained with these settings all along."""
    if not load_path:
        return 0, 0.0
    with zipfile.ZipFile(load_path) as archive:
        saved = json.loads(archive.read("standin.json"))
    timesteps = int(saved["num_timesteps"])
    if "level" in saved:
        return timesteps, float(saved["level"])
    return timesteps, level_after(0.0, lr, x, gamma, timesteps)


def main(argv: list[str]) -> int:
    for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(signum, Stop.handle)
    roles = _roles(Path(argv[1]))
    rl, common = roles["rl_config"], roles["rl_common_config"]
    lr, gamma = float(rl["learning_rate"]), float(rl["gamma"])
    x = float(roles["hysr_config"]["robot_position"][0])
    seed = int(common["random_seed"])
    logs = Path(rl["log_path"])
    logs.mkdir(parents=True, exist_ok=True)
    timesteps, level = load_model(rl["load_path"], lr, x, gamma)
    start = timesteps
    info = {"status": "running", "seed": seed, "standin": True, "num_timesteps": timesteps,
            "command": sys.argv}
    atomic_write_json(logs / RUN_INFO_FILE, info)
    rng = _noise(seed, 2, start)
    with open(logs / PROGRESS_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([TIMESTEPS_COLUMN, EPREWMEAN_COLUMN])
        while timesteps < start + int(rl["num_timesteps"]) and not Stop.requested:
            steps = min(CHUNK, start + int(rl["num_timesteps"]) - timesteps)
            _burn(steps)
            timesteps += steps
            level = level_after(level, lr, x, gamma, steps)
            reward = reward_of_level(level) - 0.05 + rng.normal(0, 0.05)
            writer.writerow([timesteps, f"{reward:.5f}"])
    save_model(Path(rl["save_path"]), timesteps, seed, level)
    if Stop.requested:
        atomic_write_json(logs / RUN_INFO_FILE, dict(info, status=RUN_INTERRUPTED,
                                                     num_timesteps=timesteps))
        return EXIT_INTERRUPTED
    evaluation = _evaluation(lr, x, gamma, level, seed, timesteps,
                             int(common["evaluation_episodes"]))
    atomic_write_json(logs / EVALUATION_FILE, evaluation)
    atomic_write_json(logs / RUN_INFO_FILE, dict(info, status=RUN_FINISHED,
                                                 num_timesteps=timesteps))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv))
