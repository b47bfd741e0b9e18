"""Slurm's time-limit warning: the job saves its model, exits for resume, and finishes.

One job of hp_optim/ppo_slurm.json (one learning run, one training iteration) asks for
one minute (request_time "00:01:00", Slurm's smallest limit) and for Slurm's warning
signal 20 s before the end (signal_seconds_to_timeout -> sbatch --signal=USR1@20).
Its training takes longer than one Slurm job may run, so Slurm's SIGUSR1 reaches the
job, which forwards it to the learner; the learner saves its model and exits 75, the
job exits for resume (3), and cluster_utils submits it again: the next Slurm job
continues from the saved model with the remaining timesteps.

Timing (measured on the test cluster): slurmctld checks time limits every 30 s and
sends the warning at the first check that falls less than 30 s before the warning
time, so the signal arrives 10-40 s after a job starts.  A resumed job can be warned
again if its remaining training outlasts that window; every job makes progress, so the
chain ends, and the test checks the timesteps of all its pieces.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROCEDURE = "slurm_timeout_test"
N_STEPS = 256
# Must take longer than the warning window (40 s after the job starts): ~65 s of PPO
# at ~2000 steps/s on one idle core of the reference machine (~1000 under load).
TIMESTEPS = 512 * N_STEPS


def timeout_settings() -> dict:
    settings = json.loads((REPO / "hp_optim" / "ppo_slurm.json").read_text())
    settings["optimization_procedure_name"] = PROCEDURE
    settings["optimization_setting"].update(number_of_samples=1, n_jobs_per_iteration=1)
    settings["num_best_jobs_whose_data_is_kept"] = 1
    settings["cluster_requirements"].update(
        request_time="00:01:00", signal_seconds_to_timeout=20
    )
    settings["fixed_params"].update({
        "learning_runs_per_job": 1,
        "training_iterations": 1,
        "max_attempts": 1,  # an attempt that fails (not interrupted) fails the test
        "config.rl_config.num_timesteps": TIMESTEPS,
        "config.rl_config.n_steps": N_STEPS,
        "config.rl_config.batch_size": 64,
        "config.rl_config.n_epochs": 2,
        "config.rl_common_config.evaluation_episodes": 2,
    })
    return settings


def test_timeout_signal_saves_model_and_next_job_finishes(slurm_cluster, run_optimization):
    run = run_optimization(timeout_settings(), timeout=420)
    print(f"cluster_utils on Slurm: {run.seconds:.1f} s")
    assert run.returncode == 0, run.explain()

    # several Slurm jobs, none killed at its time limit: each warned one exited for resume
    slurm_ids = run.slurm_job_ids().get(0, [])
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
        assert attempt["num_timesteps"] == TIMESTEPS - done, attempt
        if done:
            assert attempt["load_path"], attempt
        if not (attempt["model_saved"] or attempt["outcome"] == "ok"):
            continue  # stopped before it could train (and save): the next one starts over
        info = json.loads((folder / attempt["dir"] / "logs" / "run_info.json").read_text())
        assert info["num_timesteps_start"] == done, (attempt["dir"], info)
        assert info["num_timesteps"] > done, (attempt["dir"], info)
        done = info["num_timesteps"]
    assert saved[0]["timesteps"] < TIMESTEPS  # really stopped early
    evaluation = json.loads(
        (folder / attempts[-1]["dir"] / "logs" / "evaluation.json").read_text()
    )
    # PPO trains whole rollouts, so a continuation can end up to one rollout past the target
    assert TIMESTEPS <= evaluation["num_timesteps"] == done < TIMESTEPS + N_STEPS
