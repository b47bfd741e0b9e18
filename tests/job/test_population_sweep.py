"""Population-based training in a real tiny sweep (tests/tiny_sweep.py PBT_GRID through
the launcher: 6 jobs, 2 runs each, 3 training iterations; the jobs with the robot out of
reach exploit those at its place): the copies equal the donors' checkpoints, the runs
continue from them with the right timesteps, the values stay inside the sweep's options,
and every job's lineage is in the sweep's global file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_sweep import PBT_GRID, PBT_NEAR_JOBS

from learning.contract import MODEL_FILE, OUTCOME_OK
from learning.job.continuation import model_timesteps
from learning.job.population import sha256_of
from learning.records.job_state import load_state
from learning.records.lineage import read_lineage, sweep_lineages

pytestmark = pytest.mark.slow

LR = "config.rl_config.learning_rate"
PER_ITERATION = PBT_GRID["fixed_params"]["config.rl_config.num_timesteps"]
ITERATIONS = PBT_GRID["fixed_params"]["training_iterations"]
RUNS = PBT_GRID["fixed_params"]["learning_runs_per_job"]
OPTIONS = PBT_GRID["hyperparam_list"][1]["values"]


def checkpoint_after(job_dir: Path, run: int, iteration: int) -> Path:
    """The model the job's run left after its (1-based) iteration, from its state."""
    state = load_state(job_dir)
    (attempt,) = [a for a in state.runs[run].attempts
                  if a.iteration == iteration - 1 and a.outcome == OUTCOME_OK]
    return job_dir / attempt.dir / MODEL_FILE


def test_far_jobs_exploit_near_ones_with_exact_copies(pbt_root):
    lineages = sweep_lineages(pbt_root)
    assert sorted(lineages) == list(range(6))
    exploited = {job for job, lineage in lineages.items() if lineage.exploits}
    assert exploited, "no job exploited"
    assert exploited - set(PBT_NEAR_JOBS), "no job out of reach exploited"
    jobs = pbt_root / "working_directories"
    for job in exploited:
        for exploit in lineages[job].exploits:
            k = exploit.iteration
            assert 1 <= k < ITERATIONS and exploit.donor != job
            assert exploit.donor_value > exploit.own_value
            for run in range(RUNS):
                donor_model = checkpoint_after(jobs / str(exploit.donor), run, k)
                copy = jobs / str(job) / f"pbt_{k}" / f"run_{run}" / MODEL_FILE
                # a copy (not a link) of the donor's checkpoint, byte for byte
                assert not copy.is_symlink() and copy.stat().st_ino != donor_model.stat().st_ino
                assert sha256_of(copy) == sha256_of(donor_model) == exploit.model_sha256[run]
                assert model_timesteps(copy) == exploit.timesteps[run] == k * PER_ITERATION
                # the run's next iteration continued from the copy
                state = load_state(jobs / str(job))
                (attempt,) = [a for a in state.runs[run].attempts
                              if a.iteration == k and a.outcome == OUTCOME_OK]
                rl = json.loads((jobs / str(job) / attempt.dir / "config" /
                                 "rl_config.json").read_text())
                assert rl["load_path"] == f"../pbt_{k}/run_{run}/{MODEL_FILE}"
                assert rl["learning_rate"] == exploit.after[LR]
                assert attempt.timesteps == (k + 1) * PER_ITERATION


def test_values_stay_inside_and_every_model_has_all_timesteps(pbt_root):
    jobs = pbt_root / "working_directories"
    for job, lineage in sweep_lineages(pbt_root).items():
        assert lineage.decided == list(range(1, ITERATIONS))
        for entry in lineage.schedule:
            assert entry.values[LR] in OPTIONS, (job, entry)
        for exploit in lineage.exploits:
            assert exploit.after[LR] in OPTIONS
            assert exploit.donor_values == read_lineage(
                pbt_root / "pbt_lineage" / f"job_{exploit.donor}.json"
            ).values_at(exploit.iteration - 1)
        state = load_state(jobs / str(job))
        assert state.status == "finished" and state.pbt == lineage
        for run in state.runs:  # the iteration counter and the timesteps stay right
            assert model_timesteps(jobs / str(job) / run.final_model) == ITERATIONS * PER_ITERATION
        assert (jobs / str(job) / "metrics.csv").is_file()
    sweep_file = json.loads((pbt_root / "pbt_lineage.json").read_text())
    assert sweep_file["format"] == "lttfs-lineage-sweep/1"
    assert sorted(sweep_file["jobs"], key=int) == [str(job) for job in range(6)]
