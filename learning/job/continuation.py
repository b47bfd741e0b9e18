"""Which checkpoint a run's next attempt continues from, and how much is left to train.

A learner saves its model to its folder's ``model.zip`` every ``checkpoint_interval``
timesteps (learning.training.checkpoints), when it is stopped (SIGTERM/SIGUSR1), and when
it has trained. Each save is complete or absent (temporary files, then rename), so the
``model.zip`` an attempt left is its newest complete checkpoint whatever ended it (a
SIGKILL, a lost node, a full disk). The run's next attempt continues from it if it has
more timesteps than the model that attempt started from; the timesteps the model
records are those it trained on (a PPO learner stopped mid-rollout counts only the
rollouts it trained), so the next attempt trains exactly what is left of the iteration.
The timesteps are read from the zip's JSON ``data`` (learning.records.model_zip), nothing
is unpickled.
"""

from __future__ import annotations

from pathlib import Path

from learning.config.checks import is_integer
from learning.contract import MODEL_FILE
from learning.job.settings import JobConfigError
from learning.records.job_state import Attempt, RunState
from learning.records.model_zip import ModelZipError, read_model_data


def model_timesteps(model: Path) -> int | None:
    """``num_timesteps`` of a stable-baselines3 model zip; None if it is missing or not
    a readable model."""
    try:
        steps = read_model_data(model).get("num_timesteps")
    except ModelZipError:
        return None
    if not is_integer(steps, 0):
        return None
    return steps


def continue_from_attempt(working_dir: Path, run: RunState, attempt: Attempt) -> int | None:
    """Make the model ``attempt`` left the run's resume model if it has more timesteps
    than the current one; its timesteps if so, else None."""
    model = f"{attempt.dir}/{MODEL_FILE}"
    steps = model_timesteps(Path(working_dir) / model)
    if steps is None or steps <= run.resume_timesteps:
        return None
    run.resume_model, run.resume_timesteps = model, steps
    attempt.model_saved, attempt.timesteps = True, steps
    return steps


def timesteps_to_train(run: RunState, per_iteration: object) -> int:
    """Timesteps left in the run's current iteration (its target is set at its start).

    0 means the resume model has reached the target (it was stopped or killed during its
    evaluation, or PPO's last rollout went past a target that is not a multiple of it):
    the next learner only evaluates it (rl_config num_timesteps 0 with a load_path).
    """
    if run.iteration_target_timesteps is None:
        if not is_integer(per_iteration, 1):
            raise JobConfigError(f"rl_config num_timesteps is {per_iteration!r}; valid: an"
                                 " integer >= 1 (the timesteps of one training iteration)")
        run.iteration_start_timesteps = run.resume_timesteps
        run.iteration_target_timesteps = run.resume_timesteps + per_iteration
    return max(run.iteration_target_timesteps - run.resume_timesteps, 0)
