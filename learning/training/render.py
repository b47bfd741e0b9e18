"""Render one episode of a job's final policy to a GIF, headless.

MuJoCo picks its OpenGL backend when it is first imported (``MUJOCO_GL``), so the
rendering runs in a child process (``python -m learning.training.render MODEL CONFIG OUT``)
started with ``MUJOCO_GL=egl`` (GPU or Mesa's EGL) and, if that fails, again with
``MUJOCO_GL=osmesa`` (Mesa's software renderer; Debian packages libegl1, libosmesa6,
installed by ``make setup``). A ``MUJOCO_GL`` already set by the user is tried first.
(The learner, which never renders, imports MuJoCo with ``MUJOCO_GL=disable`` whatever the
user set (learning/envs/opengl.py): this child is the one process that loads a backend.)
GIFs need no ffmpeg (imageio's pillow plugin writes them). A policy trained with
rl_config.normalize sees its observations through the statistics saved beside its model,
frozen (learning.training.normalization).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from learning.contract import CONFIGS_DIR, LOG_DIR
from learning.records.job_folder import read_job_state, run_dirs, score_key, score_value
from learning.records.job_state import RunState

BACKENDS = ("egl", "osmesa")
#: Safety limit for an episode that never ends (the table tennis: nb_steps_per_episode <= 0).
MAX_STEPS = 1000


class RenderError(Exception):
    """Nothing could be rendered; the message says why."""


def run_configs(run_dir: Path) -> Path | None:
    """The run's resolved configs (written by the learner), or the job's merged ones."""
    for candidate in (run_dir / LOG_DIR / CONFIGS_DIR / "config.json", run_dir / "config.json"):
        if candidate.is_file():
            return candidate
    return None


def pick_run(job_dir: Path, metric: str | None = None) -> tuple[Path, Path]:
    """Final model and configs of the job's best-scoring finished run."""
    state, problem = read_job_state(job_dir)
    if state is None:
        raise RenderError(f"{job_dir}: {problem}")
    key = score_key(metric) if metric else None
    finished = [run for run in state.runs if run.final_model]
    if not finished:
        raise RenderError(f"{job_dir}: no run has a final model (runs failed or still running)")

    def score(run: RunState) -> float:
        value = score_value(run.score, key) if key else None
        return value if value is not None else float("-inf")

    best = max(finished, key=score)
    model = job_dir / best.final_model
    if not model.is_file():
        raise RenderError(f"{model}: final model of run {best.run} is missing")
    dirs = run_dirs(job_dir).get(best.run, [])
    candidates = [model.parent] + [d.path for d in reversed(dirs)]
    for run_dir in candidates:
        configs = run_configs(run_dir)
        if configs is not None:
            return model, configs
    raise RenderError(f"{model.parent}: no configs (logs/configs/config.json) beside the model")


def render_best(job_dir: Path | None, output: Path, metric: str | None = None,
                max_steps: int = MAX_STEPS, backends: tuple[str, ...] = BACKENDS,
                ) -> tuple[Path, str, list[str]]:
    """Render the job's final policy to ``output`` (GIF), trying the GL backends in turn.

    Returns the output, the backend that worked and why the ones before it failed.
    """
    if job_dir is None:
        raise RenderError("the best job's files are gone; nothing to render")
    model, configs = pick_run(Path(job_dir), metric)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    backends = list(backends)
    if os.environ.get("MUJOCO_GL") in backends:
        backends.remove(os.environ["MUJOCO_GL"])
        backends.insert(0, os.environ["MUJOCO_GL"])
    errors = []
    for backend in backends:
        env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        result = subprocess.run(
            [sys.executable, "-m", "learning.training.render", str(model), str(configs),
             str(output), "--max-steps", str(max_steps)],
            env=env, capture_output=True, text=True, check=False,
        )
        if result.returncode == 0 and output.is_file():
            return output, backend, errors
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        errors.append(f"MUJOCO_GL={backend}: exit {result.returncode}: {' | '.join(tail)}")
    raise RenderError("rendering failed with every backend: " + "; ".join(errors))


def render_episode(model_path: Path, config_path: Path, output: Path, max_steps: int,
                   seed: int = 0) -> int:
    """Roll out one deterministic episode, write its frames; return the frame count."""
    import imageio.v3 as iio
    import numpy as np

    from learning.config import algorithm_class, load_configs
    from learning.training.evaluation import model_policy
    from learning.training.normalization import load_observation_normalizer

    config = load_configs(config_path, check_load_path=False)
    env = config.make_env(render_mode="rgb_array")  # the run's env, by its plug-in
    model = algorithm_class(config.algorithm).load(str(model_path), device="cpu")
    # a model trained with rl_config.normalize sees observations as it did in training
    policy = model_policy(model, load_observation_normalizer(model_path, env, config))
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    for _ in range(max_steps):
        obs, _, terminated, truncated, _ = env.step(policy(obs))
        frames.append(env.render())
        if terminated or truncated:
            break
    # seconds per frame: the env's control step (MuJoCo envs' dt), else its render_fps
    step = getattr(env.unwrapped, "dt", None) or 1 / (env.metadata.get("render_fps") or 20)
    env.close()
    tmp = output.with_name(f".{output.stem}.{os.getpid()}.tmp{output.suffix}")
    iio.imwrite(tmp, np.stack(frames), duration=max(20, int(step * 1000)), loop=0)
    os.replace(tmp, output)
    return len(frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render one episode of a policy to a GIF "
                                     "(child process of lttfs render).")
    parser.add_argument("model", type=Path, help="the model .zip")
    parser.add_argument("configs", type=Path, help="config.json naming the role files")
    parser.add_argument("output", type=Path, help="GIF to write")
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS)
    parser.add_argument("--seed", type=int, default=0, help="seed of the episode's ball")
    args = parser.parse_args(argv)
    frames = render_episode(args.model, args.configs, args.output, args.max_steps, args.seed)
    print(f"{args.output}: {frames} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
