"""One training run from validated configs: build or load the model, learn, save, evaluate.

Exit codes of :func:`train` (and of ``python -m learning``), from learning.contract:
EXIT_OK (trained and evaluated), EXIT_CONFIG (config error, nothing trained),
EXIT_DIVERGED (NaN or infinity in a reward, an observation or the network),
EXIT_INTERRUPTED (SIGTERM/SIGUSR1: model saved), EXIT_NO_SPACE / EXIT_WRITE_FAILED (a file
could not be written: learning.training.output_errors). While it trains, the model is saved
to save_path every rl_common_config checkpoint_interval timesteps
(learning.training.checkpoints). It trains, continues and evaluates on rl_config's
``device``, the CPU unless it names another (learning.training.device), and run_info.json
records the device the model is on.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from learning.atomic_io import atomic_write_json
from learning.config import ConfigError, RunConfig, algorithm_class
from learning.config.policy import architecture_differences
from learning.contract import (
    EPISODES_FILE,
    EVALUATION_FILE,
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROGRESS_FILE,
    RUN_DIVERGED,
    RUN_FAILED,
    RUN_FINISHED,
    RUN_INFO_FILE,
    RUN_INTERRUPTED,
    RUN_RUNNING,
    TENSORBOARD_DIR,
    normalization_path,
    replay_buffer_path,
)
from learning.envs.opengl import disable_opengl
from learning.training.callbacks import (
    DivergedError,
    EpisodeLog,
    NaNGuard,
    StopOnRequest,
    StopRequest,
)
from learning.training.checkpoints import Checkpoints
from learning.training.device import training_device
from learning.training.evaluation import evaluate, model_policy
from learning.training.normalization import load_observation_normalizer, normalize_training_env
from learning.training.output_errors import (
    OutputError,
    as_output_error,
    remove_quietly,
    say,
    writing,
)
from learning.training.progress_log import log_evaluation, make_logger
from learning.training.run_record import RunRecord, copy_configs

# The evaluation env is reset with seed + EVALUATION_SEED_OFFSET: its balls differ from the
# training env's first ones but are fixed by the run's seed.
EVALUATION_SEED_OFFSET = 1_000_003


def make_env(config: RunConfig) -> Any:
    """A new env of the run: rl_common_config's env_id, built by its plug-in from the
    env's role configs and env_kwargs (learning.plugins.envs)."""
    return config.make_env()


def make_monitored_env(config: RunConfig) -> Any:
    """One training env, wrapped in SB3's Monitor (episode rewards and lengths)."""
    return Monitor(make_env(config))


def make_worker_env(config: RunConfig) -> Any:
    """One training env in a SubprocVecEnv worker process. The worker ignores the stop
    signals: Slurm signals every process of a job step, and a worker killed by SIGUSR1
    would turn the learner's save-and-exit into a crash; it ends when the learner closes
    the env or dies (its pipe closes). It never renders: mujoco is imported without an
    OpenGL backend, whatever MUJOCO_GL the worker got (learning.envs.opengl)."""
    for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    disable_opengl()
    return make_monitored_env(config)


def make_training_env(config: RunConfig) -> VecEnv:
    """The vectorized env the learner trains on (before normalization): rl_config
    ``n_envs`` Monitor-wrapped envs of the run (whose episode returns progress.csv and
    episodes.csv log) in one process (``vec_env`` "dummy") or one worker process each
    ("subproc")."""
    n_envs = config.rl["n_envs"]
    if config.rl["vec_env"] == "subproc":
        return SubprocVecEnv([partial(make_worker_env, config) for _ in range(n_envs)])
    return DummyVecEnv([partial(make_monitored_env, config) for _ in range(n_envs)])


def is_invalid_distribution(error: ValueError) -> bool:
    """Whether torch.distributions rejected the policy's output (NaN or infinite mean or
    standard deviation): how stable-baselines3 training fails when it diverges."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and "torch/distributions" in frames[-1].filename.replace("\\", "/")


def save_model(model: BaseAlgorithm, save_path: Path, with_replay_buffer: bool) -> None:
    """Save the model atomically, with what continuing it needs beside it: the
    normalization statistics of its VecNormalize env (a stale file of an earlier model is
    removed) and, with ``with_replay_buffer``, the replay buffer. Each goes to a temporary
    file that is synced; only when all are written do they replace the old files, the
    model last, so a model on disk has its companions. A failed save (a full disk) removes
    the temporary files, leaves the old files as they were, and raises OutputError naming
    the file."""
    with writing(save_path.parent):
        save_path.parent.mkdir(parents=True, exist_ok=True)
    vec_normalize = model.get_vec_normalize_env()
    stats_path = normalization_path(save_path)
    staged: list[tuple[Path, Callable[[Path], None]]] = []  # (file, how to write it)
    if vec_normalize is not None:
        staged.append((stats_path, lambda tmp: vec_normalize.save(str(tmp))))
    else:
        with writing(stats_path):
            stats_path.unlink(missing_ok=True)
    if with_replay_buffer:
        staged.append((replay_buffer_path(save_path), model.save_replay_buffer))
    staged.append((save_path, model.save))
    _write_all_then_replace(staged)


def _write_all_then_replace(staged: list[tuple[Path, Callable[[Path], None]]]) -> None:
    """``write(temporary file)`` beside each file and sync it; then replace the files in
    order. On any failure no temporary file stays and no file has been replaced."""
    pid = os.getpid()
    temporary = [(path.with_name(f".{path.stem}.{pid}.tmp{path.suffix}"), path, write)
                 for path, write in staged]
    target = staged[0][0]  # the file being written, named if it fails
    try:
        for tmp, path, write in temporary:
            target = path
            write(tmp)
            _fsync_file(tmp)
        for tmp, path, _ in temporary:
            target = path
            os.replace(tmp, path)
    except BaseException as e:
        # The failed save's frames still hold its open files, whose space a full disk frees
        # only when they are closed: clear them (closing the files), then delete the files.
        traceback.clear_frames(e.__traceback__)
        remove_quietly(*(tmp for tmp, _, _ in temporary))
        if isinstance(e, OSError):
            raise OutputError(target, e) from e
        raise


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_model(
    config: RunConfig, env: Any, seed: int, device: str = "cpu"
) -> tuple[BaseAlgorithm, dict[str, Any]]:
    """A new model, or the one at load_path (hyperparameters from rl_config) to continue,
    on ``device`` (learning.training.device: rl_config's, "cpu" unless it names one)."""
    cls = algorithm_class(config.algorithm)
    kwargs = config.sb3_kwargs()
    kwargs.pop("device", None)
    load_path = config.rl["load_path"]
    if not load_path:
        model = cls("MlpPolicy", env, seed=seed, policy_kwargs=config.policy_kwargs(),
                    device=device, **kwargs)
        return model, {}
    model = cls.load(load_path, env=env, device=device, **kwargs)
    differences = architecture_differences(
        model.policy_kwargs, config.policy_kwargs(), config.algorithm
    )
    if differences:
        raise ConfigError(
            config.files["rl_config"],
            "policy_kwargs",
            f"{'; '.join(differences)}: differs from the model at load_path {load_path}",
            "the networks the loaded model was trained with (policy_kwargs.net_arch,"
            " num_layers/num_hidden, policy_kwargs.activation_fn)",
        )
    model.set_random_seed(seed)
    extra: dict[str, Any] = {}
    if config.algorithm == "sac":
        extra["replay_buffer_loaded"] = load_replay_buffer(config, model, env.num_envs)
    return model, extra


def load_replay_buffer(config: RunConfig, model: BaseAlgorithm, n_envs: int) -> str | None:
    """Load the replay buffer saved beside load_path; its path, None if there is none."""
    buffer = replay_buffer_path(config.rl["load_path"])
    if not buffer.is_file():
        say(f"warning: no replay buffer at {buffer}; continuing with an empty one", sys.stderr)
        return None
    model.load_replay_buffer(buffer)
    stored = model.replay_buffer.n_envs
    if stored != n_envs:
        raise ConfigError(
            config.files["rl_config"], "n_envs",
            f"is {n_envs}, but the replay buffer {buffer} was filled by {stored} envs",
            f"{stored} (the n_envs the loaded model was trained with)",
        )
    return str(buffer)


def train(config: RunConfig, argv: list[str], stop: StopRequest | None = None) -> int:
    """Train rl_config.num_timesteps more steps, save, evaluate; return the exit code.
    (0 more steps, with a load_path: evaluate that model and save it to save_path.)

    ``stop``: an installed StopRequest (signal handlers); one is installed if None.
    """
    own_stop = stop is None
    if stop is None:
        stop = StopRequest()
        stop.install()
    try:
        return _train(config, argv, stop)
    finally:
        if own_stop:
            stop.restore()


def _train(config: RunConfig, argv: list[str], stop: StopRequest) -> int:
    rl, common = config.rl, config.rl_common
    device = training_device(config)  # a CUDA device not visible here: before any write
    log_path = Path(rl["log_path"])
    with writing(log_path):
        log_path.mkdir(parents=True, exist_ok=True)
    if common["random_seed"] is None:
        seed, seed_source = secrets.randbelow(2**31), "random (random_seed is null)"
    else:
        seed, seed_source = common["random_seed"], "config"
    threads = common["torch_threads"]
    torch.set_num_threads(threads)
    if not rl["load_path"]:
        # a fresh run: logs of an earlier run in the same log_path would mix with its own
        for name in (PROGRESS_FILE, EPISODES_FILE, EVALUATION_FILE, RUN_INFO_FILE):
            with writing(log_path / name):
                (log_path / name).unlink(missing_ok=True)
        shutil.rmtree(log_path / TENSORBOARD_DIR, ignore_errors=True)
    copy_configs(config, log_path)
    record = RunRecord(config, log_path, seed, seed_source, argv)
    record.update(torch_threads=threads, cpus=sorted(os.sched_getaffinity(0)))

    try:
        return _learn_and_evaluate(config, record, stop, seed, device)
    except BaseException as e:
        if record.info["status"] == RUN_RUNNING:
            output_error = as_output_error(e)
            message = str(output_error or f"{type(e).__name__}: {e}")
            extra = {"exit_code": output_error.exit_code} if output_error else {}
            try:
                record.finish(RUN_FAILED, record.info["num_timesteps"], message, **extra)
            except OutputError:
                pass  # the disk that failed holds run_info.json too: the exit code tells
        raise


def _learn_and_evaluate(
    config: RunConfig, record: RunRecord, stop: StopRequest, seed: int, device: str
) -> int:
    rl, common = config.rl, config.rl_common
    log_path, save_path = Path(rl["log_path"]), Path(rl["save_path"])
    env = make_training_env(config)
    try:
        env, normalization = normalize_training_env(env, config)
        model, extra = build_model(config, env, seed, device)
    except BaseException:
        env.close()  # SubprocVecEnv: end the worker processes
        raise
    start = model.num_timesteps
    record.update(num_timesteps_start=start, num_timesteps=start, device=str(model.device),
                  training_started=round(time.time(), 3), **normalization, **extra)
    model.set_logger(make_logger(log_path, rl.get("verbose", 0)))
    callbacks = [StopOnRequest(stop), NaNGuard()]
    if common["log_episodes"]:
        callbacks.append(EpisodeLog(log_path / EPISODES_FILE))
    with_replay_buffer = config.algorithm == "sac"
    if common["checkpoint_interval"]:
        callbacks.append(Checkpoints(
            common["checkpoint_interval"],
            save=partial(save_model, model, save_path, with_replay_buffer),
            saved=lambda timesteps, count: record.update(checkpoint_timesteps=timesteps,
                                                         checkpoints=count),
        ))
    try:
        model.learn(
            total_timesteps=rl["num_timesteps"],
            callback=CallbackList(callbacks),
            log_interval=1,
            reset_num_timesteps=not rl["load_path"],
        )
    except (DivergedError, ValueError) as e:
        if isinstance(e, ValueError) and not is_invalid_distribution(e):
            raise
        detail = str(e).splitlines()[0]
        if isinstance(e, ValueError):
            detail = f"non-finite policy output at timestep {model.num_timesteps} ({detail})"
        message = f"training diverged: {detail}"
        say(message, sys.stderr)
        record.finish(RUN_DIVERGED, model.num_timesteps, message)
        return EXIT_DIVERGED
    finally:
        model.logger.close()
        env.close()
    save_model(model, save_path, with_replay_buffer)
    if stop.requested:
        return _interrupted(record, stop, model.num_timesteps, "during training")

    eval_env = make_env(config)
    try:
        normalizer = load_observation_normalizer(save_path, eval_env, config)
        evaluation = evaluate(
            model_policy(model, normalizer),
            eval_env,
            episodes=common["evaluation_episodes"],
            seed=(seed + EVALUATION_SEED_OFFSET) % 2**32,
            target_radius=common["evaluation_target_radius"],
            should_stop=lambda: stop.requested,
            plugin=config.env,
        )
    finally:
        eval_env.close()
    if evaluation is None:
        return _interrupted(record, stop, model.num_timesteps, "during the evaluation")
    evaluation["num_timesteps"] = model.num_timesteps
    with writing(log_path / EVALUATION_FILE):
        atomic_write_json(log_path / EVALUATION_FILE, evaluation)
    with writing(log_path / TENSORBOARD_DIR):
        log_evaluation(log_path, evaluation, model.num_timesteps)
    record.finish(RUN_FINISHED, model.num_timesteps, evaluation=evaluation)
    say(
        f"trained to {model.num_timesteps} timesteps; evaluation over {evaluation['episodes']}"
        f" episodes: mean reward {evaluation['mean_reward']:.3f}"
        + "".join(f", {key.replace('_', ' ')} {evaluation[key]:.2f}"
                  for key in config.env.metrics if isinstance(evaluation.get(key), float))
    )
    return EXIT_OK


def _interrupted(record: RunRecord, stop: StopRequest, num_timesteps: int, when: str) -> int:
    message = f"interrupted {when} ({stop.describe()}); model saved, continue from save_path"
    say(message, sys.stderr)
    record.finish(RUN_INTERRUPTED, num_timesteps, message)
    return EXIT_INTERRUPTED
