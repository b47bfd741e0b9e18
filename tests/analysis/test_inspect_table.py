"""The ranked table against cluster_utils' CSVs and the jobs' restart states; bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from learning.analysis.display import format_value

METRIC = "mean_eval_reward"
LR, GAMMA = "config.rl_config.learning_rate", "config.rl_config.gamma"


def table_lines(out: str) -> dict[int, list[str]]:
    """Rows of the printed table by rank, split at whitespace."""
    lines = out.split("\n\n")[1].splitlines()
    assert lines[0].split()[:2] == ["rank", "job"]
    return {int(line.split()[0]): line.split() for line in lines[1:]}


@pytest.mark.slow
def test_table_matches_csvs_and_job_states(sweep_root, inspect_cli):
    code, out, err = inspect_cli(sweep_root, "--no-report")
    assert code == 0, err
    assert f"metric: {METRIC} (maximized)" in out
    header = out.split("\n\n")[1].splitlines()[0].split()
    assert header == ["rank", "job", "learning_rate", "gamma", METRIC, "std", "runs", "failed",
                      "dir"]
    all_data = pd.read_csv(sweep_root / "all_data.csv", index_col=0)
    ranked = all_data.sort_values([METRIC, "_id"], ascending=[False, True])
    rows = table_lines(out)
    assert sorted(rows) == list(range(1, len(all_data) + 1))
    kept = {p.name for p in (sweep_root / "best_jobs").iterdir()}
    for rank, (_, job) in enumerate(ranked.iterrows(), start=1):
        cells = rows[rank]
        assert cells[1] == str(job["_id"])
        assert cells[2:6] == [format_value(job[LR]), format_value(job[GAMMA]),
                              format_value(job[METRIC]), format_value(job["std_eval_reward"])]
        assert cells[-2] == str(int(job["failed_attempts"]))
        folder = f"directories_{job['_id']}"
        if folder in kept:
            assert cells[-1].endswith(f"best_jobs/{folder}")
            state = json.loads((sweep_root / "best_jobs" / folder / "job_state.json").read_text())
            values = [run["score"]["eval_reward"] for run in state["runs"]]
            assert cells[6:-2] == [format_value(v) for v in values]
            # the job's metric is the mean (std: ddof 0) of exactly these per-run values
            assert np.isclose(np.mean(values), job[METRIC])
            assert np.isclose(np.std(values), job["std_eval_reward"])
        else:
            assert cells[-1] == "(deleted)" and cells[6] == "-"
    assert len(kept) == 2 and {f"directories_{j}" for j in ranked["_id"][:2]} == kept
    assert "files deleted by cluster_utils" in out


@pytest.mark.slow
def test_still_running_optimization(sweep_copy, inspect_cli):
    """The files of an hp_optimization in its first iteration: only job working dirs.

    Rebuilt from the finished sweep: cluster_utils writes all_data.csv, reduced_data.csv
    and status.pickle after each iteration and best_jobs/ copies of working_directories/.
    """
    for name in ("all_data.csv", "reduced_data.csv", "status.pickle", "report_data.pickle"):
        (sweep_copy / name).unlink()
    working = sweep_copy / "working_directories"
    working.mkdir()
    finished = []
    for best in sorted((sweep_copy / "best_jobs").iterdir()):
        job_id = best.name.split("_")[1]
        shutil.move(best, working / job_id)
        finished.append(job_id)
    running = working / "99"  # started, no metrics.csv yet
    shutil.copytree(working / finished[0], running)
    for name in ("metrics.csv", "param_choice.csv"):
        (running / name).unlink()
    code, out, err = inspect_cli(sweep_copy, "--no-report")
    assert code == 0, err
    assert "2 job(s) reported, 1 started without metrics (running or failed)" in out
    assert "job(s) 99 started but have no metrics.csv" in out
    assert sorted(row[1] for row in table_lines(out).values()) == sorted(finished)
    choices = [pd.read_csv(working / j / "param_choice.csv").iloc[0] for j in finished]
    varied = [p for p in (LR, GAMMA) if choices[0][p] != choices[1][p]]
    assert f"showing the parameters that differ between jobs: {', '.join(varied) or 'none'}" in out


@pytest.mark.slow
def test_missing_progress_log_is_reported_and_the_rest_shown(sweep_copy, inspect_cli):
    best = sorted((sweep_copy / "best_jobs").iterdir())[0]
    progress = next(best.glob("run_1.*/logs/progress.csv"))
    progress.unlink()
    code, out, err = inspect_cli(sweep_copy)
    assert code == 0, err
    assert f"run 1: no rewards in {progress}" in out
    html = (sweep_copy / "report.html").read_text()
    assert 'alt="learning curves"' in html  # the other runs' curves are still drawn


def test_not_a_results_directory(tmp_path, inspect_cli):
    code, out, err = inspect_cli(tmp_path)
    assert code == 2 and out == ""
    assert f"{tmp_path} is not a cluster_utils results directory" in err
    code, _, err = inspect_cli(tmp_path / "missing")
    assert code == 2 and f"{tmp_path / 'missing'}: no such directory" in err


def test_results_directory_without_any_metrics(tmp_path, inspect_cli):
    """An optimization whose first job is still running: working dir, no metrics.csv."""
    job = tmp_path / "working_directories" / "0"
    job.mkdir(parents=True)
    (job / "settings.json").write_text(json.dumps({"id": 0, "working_dir": str(job)}))
    code, _, err = inspect_cli(tmp_path)
    assert code == 2
    assert "no job has reported metrics yet" in err and "1 job(s) started" in err


@pytest.mark.slow
def test_unknown_metric_lists_valid_ones(sweep_root, inspect_cli):
    code, _, err = inspect_cli(sweep_root, "--metric", "mean_reward", "--no-report")
    assert code == 2
    assert "metric 'mean_reward' was not reported by any job; valid: " in err
    assert "mean_eprewmean" in err and METRIC in err


@pytest.mark.slow
def test_ranking_by_another_metric_minimized(sweep_root, inspect_cli):
    code, out, err = inspect_cli(sweep_root, "--metric", "mean_eprewmean", "--minimize",
                                 "--no-report")
    assert code == 0, err
    all_data = pd.read_csv(sweep_root / "all_data.csv", index_col=0)
    expected = all_data.sort_values(["mean_eprewmean", "_id"])["_id"].astype(str).tolist()
    assert [row[1] for _, row in sorted(table_lines(out).items())] == expected
