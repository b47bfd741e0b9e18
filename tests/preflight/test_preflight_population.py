"""Pre-flight of a PBT sweep (learning.preflight.population): mutated parameters must be
searched, a pbt.metric may differ from the optimization's metric (a dense metric for the
decisions), the same metric must keep its direction, and PBT is not combined with pruning.
Real reader and checks of hp_optim/ppo_pbt.json; nothing is submitted."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from learning.launch.sweep_file import read_sweep_file
from learning.preflight.checks import run_preflight

REPO = Path(__file__).resolve().parents[2]
PBT = json.loads((REPO / "hp_optim" / "ppo_pbt.json").read_text())


@pytest.fixture(autouse=True)
def in_project(monkeypatch):
    monkeypatch.chdir(REPO)


def problems_of(tmp_path: Path, **fixed) -> list[str]:
    config = copy.deepcopy(PBT)
    config["fixed_params"].update(fixed)
    config["results_dir"] = str(tmp_path / "results")
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(config))
    return run_preflight(read_sweep_file(path, [])).problems


def test_shipped_file_decides_on_a_dense_metric_and_ranks_the_return_rate():
    assert PBT["fixed_params"]["pbt.metric"] == "mean_eval_reward"
    assert PBT["optimization_setting"]["metric_to_optimize"] == "mean_return_rate"


def test_pbt_metric_may_differ_from_the_ranked_metric(tmp_path):
    assert problems_of(tmp_path, **{"pbt.metric": "mean_hit_rate", "pbt.minimize": False}) == []


def test_same_metric_in_the_other_direction_is_refused(tmp_path):
    problems = problems_of(tmp_path, **{"pbt.metric": "mean_return_rate", "pbt.minimize": True})
    assert len(problems) == 1, problems
    assert "fixed_params 'pbt.minimize'" in problems[0]
    assert "optimization_setting.minimize False" in problems[0]


def test_metric_the_job_does_not_report_is_named(tmp_path):
    problems = problems_of(tmp_path, **{"pbt.metric": "mean_score"})
    assert problems and all("pbt.metric" in p for p in problems), problems
    assert "mean_eval_reward" in problems[0]  # the valid metrics are listed


def test_mutation_the_sweep_does_not_search_is_refused(tmp_path):
    problems = problems_of(tmp_path, **{"pbt.mutations": ["config.rl_config.n_epochs"]})
    assert any("pbt.mutations" in p and "config.rl_config.n_epochs" in p for p in problems), \
        problems


def test_pbt_with_pruning_is_refused(tmp_path):
    problems = problems_of(tmp_path, **{"pruning.keep_fraction": 0.5})
    assert any("pbt" in p and "pruning" in p for p in problems), problems
