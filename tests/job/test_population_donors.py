"""A donor's checkpoint is taken only when it is complete and the donor's own: on a copy of
the real tiny PBT grid (conftest ``pbt_root``), an exploit from a donor whose model was cut
off, whose state points outside its folder, or whose file belongs to another user is
skipped with the reason, and leaves the job's runs as they were."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from learning.job.population import Population
from learning.records.job_state import load_state, save_state
from learning.records.lineage import sweep_lineages

pytestmark = pytest.mark.slow


@pytest.fixture
def exploit_case(pbt_root, tmp_path):
    """(population of an exploiting job, its state, the exploit, the donor's folder)."""
    root = tmp_path / "results" / pbt_root.name
    shutil.copytree(pbt_root, root)
    job, lineage = next((j, lin) for j, lin in sweep_lineages(root).items() if lin.exploits)
    exploit = lineage.exploits[0]
    job_dir = root / "working_directories" / str(job)
    state = load_state(job_dir)
    settings = json.loads((job_dir / "settings.json").read_text())
    logged: list[str] = []
    population = Population(settings, _options(), job_dir, state, logged.append)
    return population, state, exploit, root / "working_directories" / str(exploit.donor)


def _options():
    from learning.plugins.population import read_pbt

    return read_pbt({"pbt": {"mutations": ["config.rl_config.learning_rate"]}})


def _donor_model(donor_dir, iteration):
    state = load_state(donor_dir)
    attempt = next(a for a in state.runs[0].attempts
                   if a.iteration == iteration - 1 and a.outcome == "ok")
    return state, attempt


def test_a_complete_checkpoint_is_copied(exploit_case):
    population, state, exploit, _donor = exploit_case
    problem = population._exploit(exploit.iteration, exploit.donor, -2.0, -1.0)
    assert problem is None
    assert state.runs[0].resume_model == f"pbt_{exploit.iteration}/run_0/model.zip"


def test_a_cut_off_model_is_skipped(exploit_case):
    population, state, exploit, donor = exploit_case
    _state, attempt = _donor_model(donor, exploit.iteration)
    model = donor / attempt.dir / "model.zip"
    model.write_bytes(model.read_bytes()[:200])
    before = [run.resume_model for run in state.runs]
    problem = population._exploit(exploit.iteration, exploit.donor, -2.0, -1.0)
    assert "is not the complete checkpoint its state records" in problem
    assert [run.resume_model for run in state.runs] == before


def test_a_state_pointing_outside_the_donor_is_skipped(exploit_case, tmp_path):
    population, _state, exploit, donor = exploit_case
    donor_state, attempt = _donor_model(donor, exploit.iteration)
    attempt.dir = "../../../outside"
    save_state(donor, donor_state)
    problem = population._exploit(exploit.iteration, exploit.donor, -2.0, -1.0)
    assert "run 0 has no complete checkpoint after iteration" in problem


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_file_of_another_user_is_skipped(exploit_case):
    population, _state, exploit, donor = exploit_case
    _donor_state, attempt = _donor_model(donor, exploit.iteration)
    os.chown(donor / attempt.dir / "model.zip", 65534, 65534)
    problem = population._exploit(exploit.iteration, exploit.donor, -2.0, -1.0)
    assert "not a file of this user" in problem
