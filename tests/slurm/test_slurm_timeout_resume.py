"""Slurm's time-limit warning: the job saves its model, exits for resume, and finishes.

One job of hp_optim/ppo_slurm.json (one learning run, one training iteration) asks for
one minute (request_time "00:01:00", Slurm's smallest limit) and for Slurm's warning
signal 20 s before the end (signal_seconds_to_timeout -> sbatch --signal=USR1@20).
Its training outlasts the time until that warning, so Slurm's SIGUSR1 reaches the job
while the learner trains (Slurm signals the processes of the job step; the job also
forwards it to the learner); the learner saves its model and exits 75, the
job exits for resume (3), and cluster_utils submits it again: the next Slurm job
continues from the saved model with the remaining timesteps.

Timing (measured on the test cluster): slurmctld checks time limits every 30 s and
sends the warning at the first check that falls less than 30 s before the warning
time, so the signal arrives 10-40 s after a job starts.  The training is sized to
take ~55 s on this machine now (a short calibration run of the same learner on one
CPU measures its speed first), so the first job is always warned while it trains,
whatever the machine's speed.  A resumed job can be warned again if its remaining
training outlasts its window; every job makes progress, so the chain ends, and the
test checks the timesteps of all its pieces.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROCEDURE = "slurm_timeout_test"
N_STEPS = 256
PPO = {"n_steps": N_STEPS, "batch_size": 64, "n_epochs": 2}
CALIBRATION_TIMESTEPS = 32 * N_STEPS
# The warning comes at most 40 s after a job starts; training starts a few seconds in.
TRAINING_SECONDS = 55


def learner_speed(folder: Path) -> float:
    """Timesteps per second of the test's PPO settings on one CPU of this machine, now.

    Runs the learner (python -m learning) on the templates of hp_optim/ppo_slurm.json
    with CALIBRATION_TIMESTEPS; its run_info.json wall time covers set-up, training and
    evaluation (not the imports), so this errs on the slow side: longer training.
    """
    templates = REPO / "hp_optim" / "config_templates_ppo.json"
    roles = {role: (templates.parent / path).resolve()
             for role, path in json.loads(templates.read_text()).items()}
    rl_config = json.loads(roles["rl_config"].read_text())
    rl_config.update(PPO, num_timesteps=CALIBRATION_TIMESTEPS, log_path="logs",
                     save_path="model.zip", load_path="")
    common = json.loads(roles["rl_common_config"].read_text())
    common.update(evaluation_episodes=2)
    folder.mkdir()
    (folder / "rl_config.json").write_text(json.dumps(rl_config))
    (folder / "rl_common_config.json").write_text(json.dumps(common))
    roles.update(rl_config="rl_config.json", rl_common_config="rl_common_config.json")
    (folder / "config.json").write_text(json.dumps({k: str(v) for k, v in roles.items()}))
    cpu = min(os.sched_getaffinity(0))  # one CPU, like a Slurm job with request_cpus 1
    subprocess.run(
        [sys.executable, "-m", "learning", "config.json"], cwd=folder, check=True,
        capture_output=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)),
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    info = json.loads((folder / "logs" / "run_info.json").read_text())
    return info["num_timesteps"] / info["wall_time_s"]


def timeout_settings(timesteps: int) -> dict:
    settings = json.loads((REPO / "hp_optim" / "ppo_slurm.json").read_text())
    settings["optimization_procedure_name"] = PROCEDURE
    settings["optimization_setting"].update(number_of_samples=1, n_jobs_per_iteration=1)
    settings["num_best_jobs_whose_data_is_kept"] = 1
    settings["cluster_requirements"].update(
        request_time="00:01:00", signal_seconds_to_timeout=20, request_cpus=1  # one run
    )
    settings["fixed_params"].update({
        "learning_runs_per_job": 1,
        "training_iterations": 1,
        "max_attempts": 1,  # an attempt that fails (not interrupted) fails the test
        "config.rl_config.num_timesteps": timesteps,
        **{f"config.rl_config.{key}": value for key, value in PPO.items()},
        "config.rl_common_config.evaluation_episodes": 2,
    })
    return settings


def test_timeout_signal_saves_model_and_next_job_finishes(
    slurm_cluster, run_optimization, tmp_path
):
    speed = learner_speed(tmp_path / "calibration")
    timesteps = max(64, math.ceil(speed * TRAINING_SECONDS / N_STEPS)) * N_STEPS
    for tries_left in (1, 0):
        run = run_optimization(timeout_settings(timesteps), timeout=420)
        print(f"learner: {speed:.0f} timesteps/s, {timesteps} timesteps;"
              f" cluster_utils on Slurm: {run.seconds:.1f} s")
        assert run.returncode == 0, run.explain()
        slurm_ids = run.slurm_job_ids().get(0, [])
        if len(slurm_ids) >= 2 or not tries_left:
            break
        # Inconclusive, not wrong: the machine got faster after the calibration (other
        # load went away) and the training ended before Slurm's warning.  Once more,
        # with three times the training.
        print(f"one Slurm job {slurm_ids} finished before the warning: trying again")
        timesteps *= 3

    # several Slurm jobs, none killed at its time limit: each warned one exited for resume
    assert len(slurm_ids) >= 2, f"Slurm jobs {slurm_ids}: no resume\n{run.explain()}"
    records = {r["JobID"]: r for r in slurm_cluster.sacct([f"{PROCEDURE}_0"], run.since)}
    assert sorted(records) == sorted(slurm_ids), f"sacct: {records}\n{run.explain()}"
    for record in records.values():
        assert (record["State"], record["ExitCode"]) == ("COMPLETED", "0:0"), record
    print("Slurm jobs:", [(r["JobID"], r["Elapsed"]) for r in records.values()])

    [folder] = (run.results / "best_jobs").iterdir()
    state = json.loads((folder / "job_state.json").read_text())
    assert state["status"] == "finished", run.explain()
    outcomes = [segment["outcome"] for segment in state["segments"]]
    assert outcomes == ["resume"] * (len(slurm_ids) - 1) + ["finished"], outcomes
    job_log = (folder / "job.log").read_text()
    assert "interrupted by SIGUSR1" in job_log, job_log
    # each job process read its allocation's limit from the real squeue (learning.job.rounds)
    assert job_log.count("time limit: Slurm's time limit") == len(slurm_ids), job_log

    [run_state] = state["runs"]
    attempts = run_state["attempts"]
    assert attempts[-1]["outcome"] == "ok", attempts
    interrupted = [a for a in attempts[:-1] if a["outcome"] == "interrupted"]
    assert interrupted == attempts[:-1], attempts  # nothing failed
    saved = [a for a in interrupted if a["model_saved"]]
    assert saved, f"no interrupted attempt saved its model: {attempts}"

    # the pieces add up: each learner continued from the model the previous one saved
    done = 0
    for attempt in attempts:
        assert attempt["num_timesteps"] == timesteps - done, attempt
        if done:
            assert attempt["load_path"], attempt
        if not (attempt["model_saved"] or attempt["outcome"] == "ok"):
            continue  # stopped before it could train (and save): the next one starts over
        info = json.loads((folder / attempt["dir"] / "logs" / "run_info.json").read_text())
        assert info["num_timesteps_start"] == done, (attempt["dir"], info)
        # more, or a model stopped during its evaluation: then only evaluated (0 more)
        assert info["num_timesteps"] > done or attempt["num_timesteps"] == 0, (attempt, info)
        done = info["num_timesteps"]
    assert saved[0]["timesteps"] < timesteps  # really stopped early
    evaluation = json.loads(
        (folder / attempts[-1]["dir"] / "logs" / "evaluation.json").read_text()
    )
    # a learner stopped mid-rollout counts only the rollouts it trained, and the target is a
    # multiple of the rollout: the pieces add up to exactly the target
    assert evaluation["num_timesteps"] == done == timesteps
