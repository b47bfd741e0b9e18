"""Env steps per second of TableTennis-v0 next to the bare physics rate of the same model.

Usage: python benchmarks/env_speed.py [--steps N] [--config-dir config]

"env": ``TableTennisEnv.step`` with random actions (resets included, as in training).
"physics": raw ``mujoco.mj_step(model, data, nstep=substeps)`` calls on the env's own model,
replaying the pressures the env applied and the states it reset to (recorded in an untimed
run with the same actions): the same simulation without the environment's Python work.
The ratio env/physics is the fraction of the bare simulation speed the env keeps
(gymnasium's own MuJoCo envs keep about 0.4). Both are timed in CPU time of this
(single-threaded) process, best of several alternating short runs, so that other processes
on the machine disturb the figures less (caches and clock speed still vary with load).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import mujoco
import numpy as np

from learning.envs.table_tennis_v0 import TableTennisEnv

ROOT = Path(__file__).resolve().parent.parent


def load_configs(config_dir: Path) -> tuple[dict, dict, dict]:
    return tuple(
        json.loads((config_dir / f"{name}.json").read_text())
        for name in ("reward", "hysr", "pam")
    )


def record(env: TableTennisEnv, actions: np.ndarray, seed: int) -> tuple[np.ndarray, dict]:
    """The controls (pressures) the env applies and the states it resets to, per step."""
    controls = np.empty((len(actions), env.model.nu))
    resets = {0: _state(env, seed=seed)}
    for i, action in enumerate(actions):
        _, _, terminated, truncated, _ = env.step(action)
        controls[i] = env.data.ctrl
        if terminated or truncated:
            resets[i + 1] = _state(env)
    return controls, resets


def _state(env: TableTennisEnv, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    env.reset(seed=seed)
    return env.data.qpos.copy(), env.data.qvel.copy()


def env_rate(env: TableTennisEnv, actions: np.ndarray, seed: int) -> float:
    """Env steps per second (resets included, as in training)."""
    env.reset(seed=seed)
    start = time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.process_time() - start)


def physics_rate(env: TableTennisEnv, controls: np.ndarray, resets: dict) -> float:
    """Bare mj_step(nstep=substeps) calls per second replaying the env's controls/resets."""
    model, data, substeps = env.model, env.data, env.substeps
    start = time.process_time()
    for i, ctrl in enumerate(controls):
        if i in resets:
            mujoco.mj_resetData(model, data)
            data.qpos[:], data.qvel[:] = resets[i]
        data.ctrl[:] = ctrl
        mujoco.mj_step(model, data, nstep=substeps)
    return len(controls) / (time.process_time() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=8, help="best of this many runs")
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config")
    args = parser.parse_args(argv)

    reward, hysr, pam = load_configs(args.config_dir)
    env = TableTennisEnv(reward, hysr, pam)
    env_best = physics_best = 0.0
    for repeat in range(args.repeats):
        rng = np.random.default_rng(repeat)
        actions = rng.uniform(-1, 1, size=(args.steps, 8)).astype(np.float32)
        controls, resets = record(env, actions, seed=repeat)
        env_best = max(env_best, env_rate(env, actions, seed=repeat))
        physics_best = max(physics_best, physics_rate(env, controls, resets))
    result = {
        "substeps_per_env_step": env.substeps,
        "env_steps_per_s": round(env_best),
        "physics_steps_per_s": round(physics_best),
        "ratio": round(env_best / physics_best, 3),
    }
    print(
        f"TableTennis-v0 ({env.substeps} physics substeps of {hysr['mujoco_time_step']} s "
        f"per env step, best of {args.repeats} x {args.steps} steps, CPU time)\n"
        f"  env.step (random actions):   {result['env_steps_per_s']:>9,} steps/s\n"
        f"  bare mj_step(nstep={env.substeps}):      "
        f"{result['physics_steps_per_s']:>9,} steps/s\n"
        f"  ratio env / physics:         {result['ratio']:>9.3f}"
    )
    return result


if __name__ == "__main__":
    main()
