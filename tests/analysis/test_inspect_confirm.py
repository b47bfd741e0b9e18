"""--confirm K --seeds N: a real cluster_utils grid search rerunning the top K settings."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from learning.analysis.display import format_value

METRIC = "mean_eval_reward"
LR, GAMMA = "config.rl_config.learning_rate", "config.rl_config.gamma"


def top_settings(root, k: int) -> pd.DataFrame:
    """The best job of each of the k best distinct settings (the optimizer may sample a
    setting twice; a setting is confirmed once)."""
    all_data = pd.read_csv(root / "all_data.csv", index_col=0)
    ranked = all_data.sort_values([METRIC, "_id"], ascending=[False, True])
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    return ranked.drop_duplicates([LR, GAMMA]).head(k)


def sweep_seeds(root) -> set[int]:
    return {
        run["seed"]
        for state in root.glob("best_jobs/*/job_state.json")
        for run in json.loads(state.read_text())["runs"]
    }


@pytest.mark.slow
def test_confirm_reruns_the_top_settings_with_fresh_seeds(sweep_copy, inspect_cli):
    top = top_settings(sweep_copy, 2)
    code, out, err = inspect_cli(sweep_copy, "--confirm", 2, "--seeds", 2)
    assert code == 0, err
    assert "confirmation (2 fresh seeds per setting) of the top 2 setting(s)" in out

    confirm = sweep_copy / "confirm"
    confirmed = pd.read_csv(confirm / "all_data.csv", index_col=0)
    assert len(confirmed) == 2
    lines = out.split("confirmation (2 fresh seeds")[1].splitlines()[2:4]
    used = sweep_seeds(sweep_copy)
    for line, (_, original) in zip(lines, top.iterrows(), strict=True):
        cells = line.split()
        assert cells[:2] == [str(original["rank"]), str(original["_id"])]
        match = confirmed[
            (confirmed[LR] == original[LR]) & (confirmed[GAMMA] == original[GAMMA])
        ]
        assert len(match) == 1
        job = match.iloc[0]
        assert format_value(job[METRIC]) in cells and format_value(original[METRIC]) in cells
        state = json.loads((confirm / "working_directories" / str(job["_id"])
                            / "job_state.json").read_text())
        seeds = [run["seed"] for run in state["runs"]]
        assert len(seeds) == 2 and not used.intersection(seeds)
        assert [format_value(r["score"]["eval_reward"]) for r in state["runs"]] == cells[-3:-1]
    assert "The sweep's winner (job" in out
    page = (sweep_copy / "report.html").read_text()
    assert "Confirmation with fresh seeds" in page and 'alt="confirmation"' in page

    # inspecting again shows the confirmation without rerunning it
    code, again, err = inspect_cli(sweep_copy, "--no-report")
    assert code == 0 and "confirmation (2 fresh seeds per setting)" in again
    # a second --confirm refuses rather than letting cluster_utils prompt
    code, _, err = inspect_cli(sweep_copy, "--confirm", 2, "--seeds", 2, "--no-report")
    assert code == 1 and f"{confirm} exists from an earlier confirmation" in err

    # the confirmation folder is a grid search's results: the command reads those too
    code, grid, err = inspect_cli(confirm, "--no-report")
    assert code == 0, err
    assert f"{confirm}: GRID_SEARCH, finished; 2 job(s) reported" in grid


@pytest.mark.slow
def test_confirm_write_only_writes_a_cluster_ready_grid_search(sweep_copy, inspect_cli):
    code, out, err = inspect_cli(sweep_copy, "--confirm", 2, "--seeds", 3,
                                 "--confirm-write-only", "--no-report")
    assert code == 0, err
    config_file = sweep_copy / "confirm_grid_search.json"
    assert f"python -m learning.launch {config_file}" in out
    assert not (sweep_copy / "confirm").exists()
    config = json.loads(config_file.read_text())
    fixed = config["fixed_params"]
    assert fixed["learning_runs_per_job"] == 3
    assert isinstance(fixed["config.rl_common_config.random_seed"], int)
    assert fixed["config.rl_config.num_timesteps"] == 128  # the sweep's fixed params
    (grid,) = config["hyperparam_list"]
    top = top_settings(sweep_copy, 2)
    expected = [[row[p] for p in grid["param"]] for _, row in top.iterrows()]
    assert set(grid["param"]) >= {LR, GAMMA}
    assert grid["values"] == expected


@pytest.mark.slow
def test_plan_confirms_each_setting_once_and_rebuilds_deleted_jobs(sweep_root):
    """A setting sampled twice is confirmed once; the next distinct one takes its slot.
    A job whose files cluster_utils deleted is rerun from its all_data.csv row."""
    import dataclasses

    from learning.analysis.confirm_plan import plan, settings_of
    from learning.analysis.ranking import job_views
    from learning.analysis.results import load_sweep
    from learning.contract import PROJECT_DIR

    sweep = load_sweep(sweep_root)
    views = job_views(sweep, len(sweep.jobs))
    twin = dataclasses.replace(views[0], job_id=99)  # the winner's setting, sampled again
    ranked = [views[0], twin, *views[1:]]
    key = [(v.row[LR], v.row[GAMMA]) for v in views]
    expected = [views[0].job_id] + [
        v.job_id for v, k in zip(views, key, strict=True) if k != key[0]
    ][:1]
    config, plan_data = plan(sweep, ranked, 2, 3, PROJECT_DIR)
    assert [job["job_id"] for job in plan_data["jobs"]] == expected
    assert len(config["hyperparam_list"][0]["values"]) == len(expected)

    kept = settings_of(views[0], sweep)
    deleted = next(v for v in views if v.job_dir is None)
    rebuilt = settings_of(deleted, sweep)
    assert rebuilt.keys() == kept.keys()
    assert (rebuilt[LR], rebuilt[GAMMA]) == (deleted.row[LR], deleted.row[GAMMA])
    assert json.dumps(rebuilt)  # plain JSON values, not numpy scalars


@pytest.mark.slow
def test_baseline_confirms_the_shipped_defaults_on_the_same_seeds(sweep_copy, inspect_cli):
    code, out, err = inspect_cli(sweep_copy, "--confirm", 1, "--seeds", 2, "--baseline",
                                 "--no-report")
    assert code == 0, err
    plan_data = json.loads((sweep_copy / "confirm_plan.json").read_text())
    entries = {str(job["job_id"]): dict(zip(plan_data["varying"], job["values"], strict=True))
               for job in plan_data["jobs"]}
    winner = top_settings(sweep_copy, 1).iloc[0]
    if (winner[LR], winner[GAMMA]) == (0.0003, 0.99):
        # cluster_utils rounds its samples to few digits, so now and then the sweep's winner
        # is the defaults themselves: then they are confirmed once, as the winner
        assert "defaults" not in entries and len(entries) == 1
        return
    assert entries["defaults"][LR] == 0.0003 and entries["defaults"][GAMMA] == 0.99
    confirm = sweep_copy / "confirm"
    confirmed = pd.read_csv(confirm / "all_data.csv", index_col=0)
    assert len(confirmed) == 2
    seeds = [sorted(run["seed"] for run in json.loads(
        (confirm / "working_directories" / str(job_id) / "job_state.json").read_text()
    )["runs"]) for job_id in confirmed["_id"]]
    assert seeds[0] == seeds[1]  # paired: the defaults train on the winner's fresh seeds
    assert "Against the shipped defaults (the optimized parameters at their templates'" in out
    assert "defaults" in out.split("confirmation (2 fresh seeds")[1]


def test_baseline_settings_take_the_templates_values():
    from learning.analysis.baseline import NoBaseline, baseline_settings
    from learning.contract import PROJECT_DIR

    settings = {"config.config_templates": "hp_optim/config_templates_ppo.json",
                LR: 0.01, "config.hysr_config.robot_position:0": 0.0,
                "learning_runs_per_job": 5, "config.rl_config.num_timesteps": 64}
    params = [LR, "config.hysr_config.robot_position:0", "learning_runs_per_job"]
    default = baseline_settings(settings, params, PROJECT_DIR)
    hysr = json.loads((PROJECT_DIR / "config" / "hysr.json").read_text())
    assert default[LR] == 0.0003
    assert default["config.hysr_config.robot_position:0"] == hysr["robot_position"][0]
    assert default["learning_runs_per_job"] == 3
    assert default["config.rl_config.num_timesteps"] == 64  # fixed params stay
    with pytest.raises(NoBaseline, match="robot_position:7 has no value in the templates"):
        baseline_settings(settings, ["config.hysr_config.robot_position:7"], PROJECT_DIR)
    with pytest.raises(NoBaseline, match=r"config.rl_config.normalize is dict in the templates"):
        baseline_settings(settings, ["config.rl_config.normalize"], PROJECT_DIR)
    with pytest.raises(NoBaseline, match="not a config parameter"):
        baseline_settings(settings, ["singularity.image"], PROJECT_DIR)
