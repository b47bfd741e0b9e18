"""A tiny hyperparameter optimization through a real Slurm cluster.

hp_optim/ppo_slurm.json, shrunk to a tiny budget on the command line, runs through
``python -m cluster_utils.hp_optimization`` with run_learning.py.  Two samples, two
learning runs per job, two chained training iterations, two CPUs per Slurm job: every
job is started twice by Slurm (one round of two concurrent learners, one per CPU, per
Slurm job, then exit for resume: cluster_utils submits the next chunk with sbatch), and
the last chunk finalizes the job.  The test checks that every chunk ran as its own Slurm
job and completed (sacct), that the learners of a chunk trained at once on distinct CPUs
of the allocation, and that best_jobs/ holds the self-explaining job folders.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SAMPLES = 2
RUNS_PER_JOB = 2
ITERATIONS = 2
TIMESTEPS_PER_ITERATION = 256  # one PPO rollout of n_steps 256
PROCEDURE = "slurm_optimization_test"
REPO = Path(__file__).resolve().parents[2]


def tiny_settings() -> dict:
    """hp_optim/ppo_slurm.json with a tiny budget."""
    settings = json.loads((REPO / "hp_optim" / "ppo_slurm.json").read_text())
    settings["optimization_procedure_name"] = PROCEDURE
    settings["optimization_setting"].update(
        number_of_samples=SAMPLES, n_jobs_per_iteration=SAMPLES
    )
    settings["num_best_jobs_whose_data_is_kept"] = SAMPLES
    settings["cluster_requirements"]["request_time"] = "00:10:00"
    settings["fixed_params"].update({
        "learning_runs_per_job": RUNS_PER_JOB,
        "training_iterations": ITERATIONS,
        "max_attempts": 1,  # any failed learner fails the test
        # one round of learners per Slurm job (by default a job trains all its rounds in
        # one Slurm job unless its time is short): the chunks this test follows
        "resume_after_each_round": True,
        "config.rl_config.num_timesteps": TIMESTEPS_PER_ITERATION,
        "config.rl_config.n_steps": 256,
        "config.rl_config.batch_size": 64,
        "config.rl_config.n_epochs": 1,
        "config.rl_common_config.evaluation_episodes": 2,
    })
    return settings


def read_csv_row(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return next(csv.DictReader(f))


def check_rounds(folder: Path, state: dict, cpus: int) -> None:
    """Each Slurm job (segment) ran one learner per run and iteration on each of its CPUs
    at once; the learners saw exactly the CPUs the job gave them (Slurm's task/affinity
    limits the job to its allocation)."""
    assert all(segment["learners"] == min(cpus, RUNS_PER_JOB) for segment in state["segments"])
    for iteration in range(ITERATIONS):
        attempts = [run["attempts"][iteration] for run in state["runs"]]
        assert max(a["started"] for a in attempts) < min(a["ended"] for a in attempts)
        assert len({tuple(a["cpus"]) for a in attempts}) == len(attempts), attempts
        for a in attempts:
            info = json.loads((folder / a["dir"] / "logs" / "run_info.json").read_text())
            assert info["cpus"] == a["cpus"] and info["torch_threads"] == 1, info


def test_optimization_runs_every_chunk_as_a_slurm_job(slurm_cluster, run_optimization):
    settings = tiny_settings()
    run = run_optimization(settings, timeout=300)
    print(f"cluster_utils on Slurm: {run.seconds:.1f} s")
    assert run.returncode == 0, run.explain()
    assert "Slurm detected" in (run.results / "cluster_run.log").read_text(), run.explain()

    # every chunk (one round of concurrent learners) of every job ran as its own Slurm
    # job, and each completed
    cpus = settings["cluster_requirements"]["request_cpus"]
    chunks = -(-RUNS_PER_JOB // cpus) * ITERATIONS
    slurm_ids = run.slurm_job_ids()
    assert sorted(slurm_ids) == list(range(SAMPLES)), run.explain()
    for job_id, ids in slurm_ids.items():
        assert len(ids) == chunks, f"job {job_id}: Slurm jobs {ids}\n{run.explain()}"
    names = [f"{PROCEDURE}_{job_id}" for job_id in range(SAMPLES)]
    records = {r["JobID"]: r for r in slurm_cluster.sacct(names, run.since)}
    all_ids = [i for ids in slurm_ids.values() for i in ids]
    assert sorted(records) == sorted(all_ids), f"sacct: {records}\n{run.explain()}"
    for record in records.values():
        assert (record["State"], record["ExitCode"]) == ("COMPLETED", "0:0"), record

    # best_jobs: one self-explaining folder per job
    best = sorted((run.results / "best_jobs").iterdir())
    assert len(best) == SAMPLES, best
    for folder in best:
        for name in ("settings.json", "job_state.json", "job.log", "metrics.csv",
                     "param_choice.csv"):
            assert (folder / name).is_file(), f"{folder}/{name} missing"
        metrics = {k: float(v) for k, v in read_csv_row(folder / "metrics.csv").items()}
        assert math.isfinite(metrics["mean_eval_reward"]), metrics
        assert metrics["finished_runs"] == RUNS_PER_JOB and metrics["failed_attempts"] == 0
        assert "config.rl_config.learning_rate" in read_csv_row(folder / "param_choice.csv")

        state = json.loads((folder / "job_state.json").read_text())
        assert state["status"] == "finished"
        # one job process per Slurm job; all but the last exited for resume
        outcomes = [segment["outcome"] for segment in state["segments"]]
        assert outcomes == ["resume"] * (chunks - 1) + ["finished"], outcomes
        check_rounds(folder, state, cpus)
        for run_state in state["runs"]:
            attempts = run_state["attempts"]
            assert [a["dir"] for a in attempts] == [
                f"run_{run_state['run']}.{i}-0" for i in range(ITERATIONS)
            ]
            assert all(a["outcome"] == "ok" for a in attempts), attempts
            # the second iteration continued the first one's model
            assert attempts[1]["load_path"].endswith(f"{attempts[0]['dir']}/model.zip")
            for a in attempts:
                run_dir = folder / a["dir"]
                for name in ("model.zip", "command.txt", "config/config.json",
                             "logs/progress.csv", "logs/evaluation.json", "logs/run_info.json"):
                    assert (run_dir / name).is_file(), f"{run_dir}/{name} missing"
                info = json.loads((run_dir / "logs" / "run_info.json").read_text())
                # srun python3 ran in this virtual environment (virtual_env_path override)
                # (directories resolved: the venv may be reached through a symlink)
                assert Path(info["command"][0]).parent.resolve() == Path(
                    sys.executable).parent.resolve(), info
            final = json.loads((folder / attempts[-1]["dir"] / "logs/evaluation.json").read_text())
            assert final["num_timesteps"] == ITERATIONS * TIMESTEPS_PER_ITERATION
