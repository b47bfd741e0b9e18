"""The confirmation of a population-based-training sweep replays each winner's schedule of
settings from scratch on fresh seeds, exploiting nothing (learning.analysis.confirm_replay)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from learning.analysis.confirm_plan import ConfirmError, plan
from learning.analysis.confirm_replay import describe_schedule
from learning.contract import PROJECT_DIR
from learning.launch.sweep_file import job_settings
from learning.plugins.population import read_pbt
from learning.records.lineage import Exploit, Lineage, ScheduleEntry, values_at, write_lineage

LR, POSITION = "config.rl_config.learning_rate", "config.hysr_config.robot_position:0"
SCHEDULE = "pbt.schedule"
PBT_SETTINGS = {"mutations": [LR], "quantile_fraction": 0.5, "min_jobs": 1}


def fake_pbt_sweep(root, jobs: dict[int, tuple[float, float, list | None]]):
    """A PBT sweep's results folder as the plan reads it: per job (position, learning rate,
    schedule as [(from_iteration, learning rate)] or None: no lineage file), ranked in
    the given order; the sweep used seeds 10-19."""
    views = []
    for rank, (job_id, (position, lr, schedule)) in enumerate(jobs.items(), start=1):
        job_dir = root / "working_directories" / str(job_id)
        job_dir.mkdir(parents=True)
        settings = {"config": {"config_templates": "hp_optim/config_templates_ppo.json",
                               "hysr_config": {"robot_position:0": position},
                               "rl_config": {"learning_rate": lr, "num_timesteps": 128}},
                    "training_iterations": 3, "learning_runs_per_job": 2,
                    "pbt": PBT_SETTINGS, "id": job_id, "working_dir": str(job_dir)}
        (job_dir / "settings.json").write_text(json.dumps(settings))
        if schedule is not None:
            entries = [ScheduleEntry(i, {LR: value}) for i, value in schedule]
            write_lineage(root / "pbt_lineage" / f"job_{job_id}.json",
                          Lineage(job_id=job_id, mutations=[LR], schedule=entries))
        views.append(SimpleNamespace(
            job_id=job_id, rank=rank, job_dir=job_dir, run_values=[-1.0, -1.2],
            run_seeds=[10 + 2 * rank, 11 + 2 * rank],
            row=pd.Series({"mean_eval_reward": -1.0 - rank / 10, "std_eval_reward": 0.1})))
    sweep = SimpleNamespace(root=root, params=[POSITION, LR], metric="mean_eval_reward",
                            minimize=False, std_column="std_eval_reward", setting_columns=[])
    return sweep, views


def grid_jobs(config: dict) -> list[dict]:
    """Each confirmation job's settings, as cluster_utils builds them from the grid."""
    (grid,) = config["hyperparam_list"]
    return [job_settings(dict(zip(grid["param"], values, strict=True)), config["fixed_params"])
            for values in grid["values"]]


def test_plan_replays_each_winners_schedule_and_the_defaults_none(tmp_path):
    changing = [(0, 1e-3), (1, 3e-4), (2, 3e-3)]
    sweep, views = fake_pbt_sweep(tmp_path, {
        4: (1.45, 1e-3, changing),
        8: (1.45, 1e-3, changing),  # the same values and schedule: confirmed once
        7: (1.45, 1e-3, [(0, 1e-3)]),  # the same values, another schedule: a contender
        1: (0.25, 3e-4, [(0, 3e-4), (2, 1e-3)]),  # the defaults' values, not their schedule
    })
    config, plan_data = plan(sweep, views, 3, 2, PROJECT_DIR, baseline=True)

    assert [job["job_id"] for job in plan_data["jobs"]] == [4, 7, 1, "defaults"]
    jobs = grid_jobs(config)
    lineages = {4: changing, 7: [(0, 1e-3)], 1: [(0, 3e-4), (2, 1e-3)]}
    for entry, settings in zip(plan_data["jobs"], jobs, strict=True):
        pbt = read_pbt(settings)
        if entry["job_id"] == "defaults":  # trains its own settings: no schedule, no PBT
            assert settings["pbt"] == {"schedule": []} and pbt is None
            assert "schedule" not in entry
            continue
        expected = [{"from_iteration": i, "values": {LR: lr}}
                    for i, lr in lineages[entry["job_id"]]]
        # the job replays the schedule and exploits nothing: no pbt.mutations or options
        assert settings["pbt"] == {"schedule": expected} and entry["schedule"] == expected
        assert not pbt.exploits and list(pbt.schedule) == expected
        assert settings["config"]["rl_config"]["learning_rate"] == expected[0]["values"][LR]
    fixed = config["fixed_params"]
    assert not [key for key in fixed if key.startswith("pbt.")] and SCHEDULE in plan_data["varying"]
    seed = fixed["config.rl_common_config.random_seed"]
    assert not set(range(seed, seed + 2)) & {s for v in views for s in v.run_seeds}

    assert describe_schedule(plan_data["jobs"][0]["schedule"]) == (
        "learning_rate 0.001 -> 0.0003 from iteration 1 -> 0.003 from iteration 2")
    assert describe_schedule(plan_data["jobs"][1]["schedule"]) == "learning_rate 0.001 throughout"


def test_plan_refuses_a_pbt_winner_without_its_lineage(tmp_path):
    sweep, views = fake_pbt_sweep(tmp_path, {3: (0.25, 1e-3, None)})
    with pytest.raises(ConfirmError, match=r"job 3 \(rank 1\) trained with population-based"
                                           r" training, but its lineage .*job_3.json is missing"):
        plan(sweep, views, 1, 2, PROJECT_DIR)


def donor_exploit(donor: int, iteration: int, after: float) -> Exploit:
    return Exploit(iteration=iteration, donor=donor, donor_iteration=iteration, own_value=-2.0,
                   donor_value=-1.0, before={}, donor_values={}, after={LR: after},
                   moves={LR: "x2"}, timesteps=[64, 64], model_sha256=["0" * 64] * 2, time=0.0)


def test_an_exploited_winner_replays_the_values_that_trained_its_model(tmp_path):
    """Job 5 took job 2's checkpoint after iteration 1: its first iteration was trained
    with job 2's values, not its own; the replay trains those (as Ray Tune's PBT replay)."""
    sweep, views = fake_pbt_sweep(tmp_path, {5: (0.25, 1e-3, None), 2: (0.25, 3e-4, [(0, 3e-4)])})
    write_lineage(tmp_path / "pbt_lineage" / "job_5.json", Lineage(
        job_id=5, mutations=[LR], training_iterations=3,
        schedule=[ScheduleEntry(0, {LR: 1e-3}), ScheduleEntry(1, {LR: 6e-4})],
        exploits=[donor_exploit(2, 1, 6e-4)]))
    _, plan_data = plan(sweep, views[:1], 1, 2, PROJECT_DIR)
    assert plan_data["jobs"][0]["schedule"] == [{"from_iteration": 0, "values": {LR: 3e-4}},
                                                {"from_iteration": 1, "values": {LR: 6e-4}}]


def test_an_exploited_winner_whose_donor_has_no_lineage_is_refused(tmp_path):
    sweep, views = fake_pbt_sweep(tmp_path, {5: (0.25, 1e-3, None)})
    write_lineage(tmp_path / "pbt_lineage" / "job_5.json", Lineage(
        job_id=5, mutations=[LR], training_iterations=3,
        schedule=[ScheduleEntry(0, {LR: 1e-3}), ScheduleEntry(1, {LR: 6e-4})],
        exploits=[donor_exploit(2, 1, 6e-4)]))
    with pytest.raises(ConfirmError, match=r"job 5 \(rank 1\) .* but its donor job 2's lineage"
                                           r" .*job_2.json is missing"):
        plan(sweep, views, 1, 2, PROJECT_DIR)


@pytest.mark.slow
def test_confirming_a_pbt_sweep_replays_schedules_without_exploits(pbt_root, tmp_path, capsys):
    """A job whose schedule changed its learning rate (it exploited others) and another
    are rerun: every run of every iteration trains with its schedule's values, on fresh
    seeds, and no job exploits."""
    from learning.analysis.confirm_run import run_confirmation
    from learning.analysis.confirm_verdict import print_confirmation
    from learning.analysis.lineage import read_sweep_lineages
    from learning.analysis.ranking import job_views
    from learning.analysis.results import load_sweep
    from learning.records.lineage import read_lineage, sweep_lineages

    root = tmp_path / "results" / pbt_root.name
    shutil.copytree(pbt_root, root)
    sweep = load_sweep(root)
    lineages = sweep_lineages(root)
    views = job_views(sweep, len(sweep.jobs))
    replays = read_sweep_lineages(root)
    changed = [v for v in views if len({json.dumps(e.values) for e in
                                        replays.replay_schedule(v.job_id)}) > 1]
    if not changed:  # rare: every exploit explored back to the old value; change one here
        lineage = lineages[views[-1].job_id]
        first = lineage.schedule[0]
        lineage.schedule = [first, ScheduleEntry(2, {LR: 3e-4 if first.values[LR] > 3e-4
                                                      else 3e-3})]
        write_lineage(root / "pbt_lineage" / f"job_{lineage.job_id}.json", lineage)
        changed = [views[-1]]
    other = next(v for v in views if v.job_id != changed[0].job_id)
    # the changed one as the sweep's winner, so that the verdict names its schedule
    winners = [dataclasses.replace(changed[0], rank=1), dataclasses.replace(other, rank=2)]
    used_seeds = {s for v in views for s in v.run_seeds}

    confirmed = run_confirmation(sweep, winners, 2, 2, project_dir=PROJECT_DIR)
    assert confirmed["confirmed_mean"].notna().all()
    replays = read_sweep_lineages(root)  # the lineages as the confirmation read them
    for _, row in confirmed.iterrows():
        # the values that trained its final model, along its donors (its ancestry)
        schedule = [dataclasses.asdict(e) for e in replays.replay_schedule(row["job_id"])]
        assert row["schedule"] == schedule
        job_dir = Path(row["confirm_job_dir"])
        assert json.loads((job_dir / "settings.json").read_text())["pbt"] == {
            "schedule": schedule}
        lineage = read_lineage(root / "confirm" / "pbt_lineage" / f"job_{job_dir.name}.json")
        assert lineage.exploits == [] and lineage.decided == [] and lineage.skipped == []
        assert not list(job_dir.glob("pbt_*"))  # no donor's checkpoint copied
        state = json.loads((job_dir / "job_state.json").read_text())
        seeds = {run["seed"] for run in state["runs"]}
        assert len(seeds) == 2 and not seeds & used_seeds
        folders = sorted(job_dir.glob("run_*.*-*"))
        assert len(folders) == 2 * 3  # 2 runs x 3 training iterations, one attempt each
        entries = [ScheduleEntry(**e) for e in schedule]
        for folder in folders:
            iteration = int(folder.name.split(".")[1].split("-")[0])
            rl_config = json.loads((folder / "config" / "rl_config.json").read_text())
            assert rl_config["learning_rate"] == values_at(entries, iteration)[LR], folder

    print_confirmation(sweep, confirmed)
    out = capsys.readouterr().out
    schedule = describe_schedule(confirmed.iloc[0]["schedule"])
    assert " -> " in schedule and schedule in out  # the table's schedule column
    assert f"The sweep's winner, job {changed[0].job_id} (schedule: {schedule})," in out
