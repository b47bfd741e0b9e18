"""A sweep over envs (config.rl_common_config.env_id a grid parameter): a ranked table per
env with that env's own metrics, the settings compared across envs on normalized scores
(per-env min-max, or the user's reference scores), and their statistics (rliable's IQM,
stratified bootstrap intervals and probability of improvement; mean ± two standard errors
without rliable).

The results folders are written file by file with the grid search's and the jobs' own
writers (env_grid.py), not trained: the scores are chosen so that the normalization and
the statistics can be computed here by hand or by calling rliable directly.
"""

from __future__ import annotations

import html
import json
import sys

import numpy as np
import pytest
from env_grid import (
    JOB_MEANS,
    LR,
    PENDULUM,
    SEED,
    TABLE_TENNIS,
    Job,
    offsets,
    runs,
    two_env_jobs,
    write_grid,
)

from learning.analysis import aggregate
from learning.analysis.display import format_value
from learning.analysis.per_env import read_env_axis
from learning.analysis.results import load_sweep

INSTALL_TEXT = "rliable not installed (pip install '.[stats]'): mean and two standard errors shown"


def blocks(out: str) -> dict[str, list[list[str]]]:
    """The printed tables by their title's first words ("env Pendulum-v1:", "settings"),
    each as rows split at whitespace (the header first)."""
    found = {}
    for block in out.split("\n\n"):
        lines = block.splitlines()
        if lines and (lines[0].startswith("env ") or lines[0].startswith("settings across")):
            key = lines[0].split(":")[0] if lines[0].startswith("env ") else "settings"
            rows = [line.split() for line in lines[1:]]
            found[key] = [rows[0]] + [row for row in rows[1:] if row[0].isdigit()]
    return found


@pytest.fixture
def grid(tmp_path):
    return write_grid(tmp_path / "results" / "envs", two_env_jobs())


@pytest.fixture
def without_rliable(monkeypatch):
    """rliable made unimportable (sys.modules entry None: ``import rliable`` raises
    ModuleNotFoundError), as where it is not installed."""
    for name in [n for n in sys.modules if n == "rliable" or n.startswith("rliable.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rliable", None)


def normalized_runs(env: str, lr: float) -> np.ndarray:
    """The per-run scores of a setting on an env, min-max normalized by hand: Pendulum-v1
    from -1000 (0) to -200 (1), the table tennis from 0.25 to 1.0."""
    low, high = (-1000.0, -200.0) if env == PENDULUM else (0.25, 1.0)
    scale = 8.0 if env == PENDULUM else 0.015625
    values = [mean + o for mean in JOB_MEANS[env, lr] for o in offsets(scale)]
    return np.sort((np.array(values) - low) / (high - low))


def test_a_table_per_env_with_its_own_metrics(grid, inspect_cli, without_rliable):
    code, out, err = inspect_cli(grid, "--no-report")
    assert code == 0, err
    tables = blocks(out)
    pendulum, tennis = tables[f"env {PENDULUM}"], tables[f"env {TABLE_TENNIS}"]
    assert "mean_hit_rate" not in pendulum[0] and "env_id" not in " ".join(pendulum[0])
    assert pendulum[0][:6] == ["rank", "job", "learning_rate", "random_seed",
                               "mean_eval_reward", "std"]
    assert {"mean_hit_rate", "mean_return_rate"} <= set(tennis[0])
    # each env's jobs ranked among themselves, best first
    assert [row[4] for row in pendulum[1:]] == ["-200", "-300", "-600", "-1000"]
    assert [row[4] for row in tennis[1:]] == ["1", "0.625", "0.4375", "0.25"]
    assert "rerun the best job on env Pendulum-v1 (job 0)" in out
    assert "rerun the best job on env learning/TableTennis-v0 (job 7)" in out


def test_min_max_normalization_by_hand(grid, inspect_cli, without_rliable):
    """Pendulum-v1: job means -200, -300 (lr 1e-3), -600, -1000 (lr 1e-4): 1, 0.875, 0.5, 0;
    the table tennis: 0.25, 0.4375 (1e-3), 0.625, 1.0 (1e-4): 0, 0.25, 0.5, 1. Setting
    lr 1e-3: (0.9375 + 0.125) / 2 = 0.53125; lr 1e-4: (0.25 + 0.75) / 2 = 0.5."""
    code, out, err = inspect_cli(grid, "--no-report")
    assert code == 0, err
    settings = blocks(out)["settings"]
    assert settings[0][:6] == ["rank", "learning_rate", "normalized", PENDULUM, TABLE_TENNIS,
                               "jobs"]
    assert settings[1][:6] == ["1", "0.001", format_value(0.53125), "0.9375", "0.125", "4"]
    assert settings[2][:6] == ["2", "0.0001", "0.5", "0.25", "0.75", "4"]
    assert "normalized per env by min-max over its jobs' mean_eval_reward" in out


def test_without_rliable_mean_and_two_standard_errors(grid, inspect_cli, without_rliable):
    """rliable's absence simulated (the fixture): the mean over envs of the run means and
    two standard errors from each env's own spread, by hand."""
    code, out, err = inspect_cli(grid)
    assert code == 0, err
    assert INSTALL_TEXT in out
    settings = blocks(out)["settings"]
    assert settings[0][-3:] == ["jobs", "mean", "±2SE"]
    for row, lr in zip(settings[1:], (1e-3, 1e-4), strict=True):
        per_env = [normalized_runs(env, lr) for env in (PENDULUM, TABLE_TENNIS)]
        mean = np.mean([runs.mean() for runs in per_env])
        se = np.sqrt(sum(runs.var(ddof=1) / len(runs) for runs in per_env)) / 2
        assert row[-3:] == [format_value(mean), f"[{format_value(mean - 2 * se)},",
                            f"{format_value(mean + 2 * se)}]"]
    page = (grid / "report.html").read_text()
    assert html.escape(INSTALL_TEXT) in page and "Settings across envs" in page


@pytest.mark.filterwarnings("ignore::FutureWarning")  # arch 7 on the direct call's random_state
def test_rliable_iqm_intervals_and_probability_of_improvement(grid):
    """The IQM, its stratified bootstrap interval and the probability of improvement,
    against rliable called directly on the same (runs x envs) matrices, each env's runs
    sorted. rliable 1.2 draws its resamples from numpy's global generator (its
    random_state is passed on to arch but not used for them), so both seed that."""
    loaded, why_not = aggregate.load_rliable()
    if loaded is None:
        pytest.skip(f"{why_not} (the numpy-1 stack, make test-numpy1, runs this)")
    library, metrics = loaded
    notes: list[str] = []
    axis = read_env_axis(load_sweep(grid), 10, None, notes)
    matrices = {lr: np.column_stack([normalized_runs(env, lr) for env in (PENDULUM,
                                                                          TABLE_TENNIS)])
                for lr in (1e-3, 1e-4)}
    assert axis.stats.statistic == "IQM"
    assert axis.stats.description == ("IQM with stratified bootstrap 95% CIs over 2 envs x 8"
                                      " runs (rliable, 2000 resamples, seed 0)")
    for label, lr in (("rank 1", 1e-3), ("rank 2", 1e-4)):
        np.random.seed(0)
        points, intervals = library.get_interval_estimates(
            {"x": matrices[lr]}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=2000,
            random_state=np.random.RandomState(0))
        estimate = axis.stats.estimates[label]
        assert np.isclose(estimate.point, points["x"][0])
        assert np.allclose([estimate.low, estimate.high], intervals["x"][:, 0])
    first, second, p = axis.stats.improvement
    assert (first, second) == ("rank 1", "rank 2")
    assert np.isclose(p, metrics.probability_of_improvement(matrices[1e-3], matrices[1e-4]))


def test_reference_scores(grid, inspect_cli, tmp_path, without_rliable):
    """0 at 'random', 1 at 'reference': Pendulum-v1 -1400 .. -200, the table tennis 0 ..
    0.5 (a run may score above 1). lr 1e-4: Pendulum (-800 + 1400) / 1200 = 0.5, tennis
    0.8125 / 0.5 = 1.625, first; lr 1e-3: (-250 + 1400) / 1200, 0.34375 / 0.5 = 0.6875."""
    scores = tmp_path / "reference.json"
    scores.write_text(json.dumps({PENDULUM: {"random": -1400, "reference": -200},
                                  TABLE_TENNIS: {"random": 0, "reference": 0.5},
                                  "Other-v0": {"random": 1, "reference": 2}}))
    code, out, err = inspect_cli(grid, "--no-report", "--reference-scores", scores)
    assert code == 0, err
    assert f"normalized against the reference scores in {scores}" in out
    rows = blocks(out)["settings"][1:]
    for row, lr, pendulum, tennis in ((rows[0], "0.0001", 0.5, 1.625),
                                      (rows[1], "0.001", 1150 / 1200, 0.6875)):
        assert row[1:5] == [lr, format_value((pendulum + tennis) / 2), format_value(pendulum),
                            format_value(tennis)]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON (Expecting property name enclosed in double quotes, line 1"),
    ('{"Pendulum-v1": {"random": NaN, "reference": 1}}', "NaN is not a number JSON allows"),
    ("[1, 2]", "the file holds a JSON list; valid: an object of env ids"),
    ('{"Pendulum-v1": 3}', "'Pendulum-v1': 3 is not an object"),
    ('{"Pendulum-v1": {"random": 0}}', "'Pendulum-v1'.reference: missing; valid keys: random,"
                                       " reference"),
    ('{"Pendulum-v1": {"random": 0, "reference": 1, "human": 2}}',
     "'Pendulum-v1'.human: unknown key; valid keys: random, reference"),
    ('{"Pendulum-v1": {"random": "0", "reference": 1}}',
     "'Pendulum-v1'.random: '0' is not a finite number"),
    ('{"Pendulum-v1": {"random": true, "reference": 1}}',
     "'Pendulum-v1'.random: True is not a finite number"),
    ('{"Pendulum-v1": {"random": 1e999, "reference": 1}}',
     "'Pendulum-v1'.random: inf is not a finite number"),
    ('{"Pendulum-v1": {"random": 5, "reference": 5}}',
     "'Pendulum-v1': random and reference are both 5; they must differ"),
    ('{"Pendulum-v1": {"random": 0, "reference": 1}}',
     "no scores for env(s) 'learning/TableTennis-v0'; the sweep's envs: "
     "'Pendulum-v1', 'learning/TableTennis-v0' (the file has: 'Pendulum-v1')"),
])
def test_reference_scores_errors_name_the_file_and_the_key(grid, inspect_cli, tmp_path,
                                                           content, message):
    scores = tmp_path / "reference.json"
    scores.write_text(content)
    code, out, err = inspect_cli(grid, "--no-report", "--reference-scores", scores)
    assert code == 2 and out == ""
    assert err.startswith(f"error: --reference-scores {scores}: ")
    assert message in err


def test_a_missing_reference_scores_file(grid, inspect_cli, tmp_path):
    code, _, err = inspect_cli(grid, "--reference-scores", tmp_path / "none.json")
    assert code == 2
    assert f"error: --reference-scores {tmp_path / 'none.json'}: cannot be read (No such" in err


def test_a_sweep_of_one_env_is_unchanged_and_never_imports_rliable(tmp_path, inspect_cli,
                                                                   monkeypatch):
    for name in [n for n in sys.modules if n == "rliable" or n.startswith("rliable.")]:
        monkeypatch.delitem(sys.modules, name)
    jobs = [job for job in two_env_jobs() if job.env == PENDULUM]
    root = write_grid(tmp_path / "results" / "one", jobs, params=(LR, SEED))
    code, out, err = inspect_cli(root)
    assert code == 0, err
    assert out.split("\n\n")[1].splitlines()[0].split() == [
        "rank", "job", "learning_rate", "random_seed", "mean_eval_reward", "std", "runs",
        "failed", "dir"]
    assert "settings across" not in out and "rerun the best job (job 0)" in out
    assert "rliable" not in sys.modules
    assert "Settings across envs" not in (root / "report.html").read_text()


def test_env_ids_are_text_in_the_table_and_the_report(tmp_path, inspect_cli, without_rliable):
    """An env id is a value from the results folder: spelled out in the terminal, escaped
    in report.html."""
    hostile = "<script>alert(1)</script>\x1b[2J"
    jobs = [Job(hostile, job.lr, job.seed, job.runs, scored_as=PENDULUM)
            if job.env == PENDULUM else job for job in two_env_jobs()]
    root = write_grid(tmp_path / "results" / "hostile", jobs)
    code, out, err = inspect_cli(root)
    assert code == 0, err
    assert "\x1b" not in out and "env <script>alert(1)</script>\\x1b[2J: 4 job(s)" in out
    page = (root / "report.html").read_text()
    assert "<script" not in page and html.escape("<script>alert(1)</script>") in page


def test_one_run_on_an_env_falls_back_to_the_mean_and_says_why():
    scores = {"rank 1": [np.array([0.5, 0.7]), np.array([0.25])],
              "rank 2": [np.array([0.1, 0.3]), np.array([0.2, 0.4])]}
    result = aggregate.aggregate(scores)
    assert result.statistic == "mean" and result.improvement is None
    assert result.description.startswith("mean ± two standard errors over 2 envs x 1-2 runs: ")
    assert result.description.endswith(
        "setting(s) rank 1 have 1 run on an env: a bootstrap over one run has no spread; mean"
        " and two standard errors shown")
    assert result.estimates["rank 1"].point == pytest.approx((0.6 + 0.25) / 2)
    assert result.estimates["rank 1"].low is None  # no standard error from one run
    two = result.estimates["rank 2"]
    se = np.sqrt(0.02 / 2 + 0.02 / 2) / 2  # each env's variance (ddof 1) is 0.02
    assert (two.point, two.low, two.high) == pytest.approx((0.25, 0.25 - 2 * se, 0.25 + 2 * se))


def test_envs_with_different_numbers_of_runs_are_resampled_each_on_its_own():
    if aggregate.load_rliable()[0] is None:
        pytest.skip(f"{aggregate.load_rliable()[1]} (make test-numpy1 runs this)")
    scores = {"rank 1": [np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.4, 0.6, 0.8])],
              "rank 2": [np.array([0.1, 0.2]), np.array([0.3, 0.4])]}
    result = aggregate.aggregate(scores)
    assert result.statistic == "IQM" and "2 envs x 2-4 runs" in result.description
    ragged = result.estimates["rank 1"]
    assert ragged.low <= ragged.point <= ragged.high
    assert result.improvement is None  # rliable's needs the same runs on every env
    assert aggregate.aggregate(scores).estimates == result.estimates  # seeded: reproducible


def test_an_env_whose_jobs_all_scored_the_same_is_left_out(tmp_path, inspect_cli,
                                                           without_rliable):
    jobs = [Job(job.env, job.lr, job.seed, runs(-500.0, 8.0)) if job.env == PENDULUM else job
            for job in two_env_jobs()]
    root = write_grid(tmp_path / "results" / "flat", jobs)
    code, out, err = inspect_cli(root)
    assert code == 0, err
    assert ("env Pendulum-v1: every job scored -500: min-max has no scale, the env is left"
            " out of the comparison") in out
    header, first, second = blocks(out)["settings"]
    assert PENDULUM not in header and "settings across 1 envs" in out
    assert first[1:4] == ["0.0001", "0.75", "0.75"] and second[1:4] == ["0.001", "0.125",
                                                                          "0.125"]
    # every env left out: the tables per env still print, the settings have no score
    both = [Job(job.env, job.lr, job.seed, [1.0, 1.0]) for job in two_env_jobs()]
    root = write_grid(tmp_path / "results" / "flatter", both)
    code, out, err = inspect_cli(root)
    assert code == 0, err
    assert "env learning/TableTennis-v0: every job scored 1" in out
    assert "settings across envs: none compared, no env has a scale" in out
    assert "none compared" in (root / "report.html").read_text()


@pytest.mark.slow
def test_a_real_tiny_grid_over_envs(tmp_path, inspect_cli):
    """hp_optim/envs_grid.json (the table tennis and Pendulum-v1 x 2 learning rates, 2
    runs a job) on a tiny budget through the launcher, then inspected: a table per env,
    the hit rate only in the table tennis's, and each env's normalized job means as
    min-max of all_data.csv's."""
    import os
    import subprocess

    import pandas as pd
    from tiny_sweep import REPO

    config = json.loads((REPO / "hp_optim" / "envs_grid.json").read_text())
    config.update(results_dir=str(tmp_path / "results"), remove_jobs_dir=False,
                  environment_setup={"virtual_env_path": sys.prefix})
    config["fixed_params"].update({
        "config.rl_config.num_timesteps": 128, "config.rl_config.n_steps": 64,
        "config.rl_config.batch_size": 64, "config.rl_config.n_epochs": 1,
        "config.rl_common_config.evaluation_episodes": 2, "max_attempts": 1})
    path = tmp_path / "envs_grid.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "learning.launch", str(path)], cwd=REPO, text=True,
        stdin=subprocess.DEVNULL, capture_output=True, timeout=600,
        env=dict(os.environ, CLUSTER_UTILS_CACHE_DIR=str(tmp_path / "cache")))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    root = tmp_path / "results" / config["optimization_procedure_name"]
    code, out, err = inspect_cli(root)
    assert code == 0, err
    tables = blocks(out)
    assert "mean_hit_rate" in tables[f"env {TABLE_TENNIS}"][0]
    assert "mean_hit_rate" not in tables[f"env {PENDULUM}"][0]
    jobs = pd.read_csv(root / "all_data.csv", index_col=0)
    header, *rows = blocks(out)["settings"]
    settings = {row[1]: row for row in rows}
    assert len(settings) == 2  # the two learning rates
    for env in (PENDULUM, TABLE_TENNIS):
        column = header.index(env) if env in header else None
        on_env = jobs[jobs["config.rl_common_config.env_id"] == env]
        values = on_env["mean_eval_reward"]
        if values.min() == values.max():  # both jobs scored the same: no scale, left out
            assert f"env {env}: every job scored" in out
            continue
        for _, job in on_env.iterrows():
            lr = format_value(job["config.rl_config.learning_rate"])
            expected = (job["mean_eval_reward"] - values.min()) / (values.max() - values.min())
            assert settings[lr][column] == format_value(float(expected))
    assert "statistics of the per-run normalized scores" in out
    assert "Settings across envs" in (root / "report.html").read_text()
