"""Safe on a shared cluster: what another user can plant (an hp_optim string, a job's
settings.json, status.pickle) runs no code, and a sweep whose jobs cannot start is
refused or stopped with the jobs' own words.

Each payload would create a file if it ran; the tests check that it does not. Real
launcher, real cluster_utils, real job script; the quick ones start no learner."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from learning.launch.launcher import main

REPO = Path(__file__).resolve().parents[2]
LOCAL = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())


@pytest.fixture(autouse=True)
def in_project(monkeypatch):
    monkeypatch.chdir(REPO)


def write(tmp_path: Path, config: dict, name: str = "sweep.json") -> Path:
    config = dict(config)
    if config.get("results_dir") is None:
        config["results_dir"] = str(tmp_path / "results")
    path = tmp_path / name
    path.write_text(json.dumps(config, indent=1))
    return path


def local_with(**changes) -> dict:
    config = json.loads(json.dumps(LOCAL))
    config["environment_setup"] = {"virtual_env_path": sys.prefix}
    config["results_dir"] = None  # write(): under tmp_path
    config.update(changes)
    return config


# --------------------------------------------------------------------------- hp_optim strings


def test_a_brace_expression_in_an_hp_optim_string_is_refused_not_run(tmp_path, capsys):
    planted = tmp_path / "pwned"
    config = local_with()
    config["fixed_params"]["config.rl_config.policy"] = (
        f"{{__import__('os').system('touch {planted}')}}")
    assert main([str(write(tmp_path, config)), "--check"]) == 2
    err = capsys.readouterr().err
    assert "fixed_params.config.rl_config.policy" in err
    assert "only {$NAME} (an environment variable) is substituted" in err
    assert not planted.exists()


def test_braces_that_cluster_utils_would_evaluate_are_refused(tmp_path, capsys):
    config = local_with()
    config["fixed_params"]["config.config_templates"] = "hp_optim/t{1}.json"
    assert main([str(write(tmp_path, config)), "--check"]) == 2
    assert "'hp_optim/t{1}.json' holds '{1}'" in capsys.readouterr().err


def test_environment_variables_are_substituted(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LTTFS_TEST_RESULTS", str(tmp_path / "elsewhere"))
    config = local_with(results_dir="{$LTTFS_TEST_RESULTS}/r")
    assert main([str(write(tmp_path, config)), "--check"]) == 0
    assert f"results: {tmp_path / 'elsewhere' / 'r' / 'ppo_local'} (new)" in (
        capsys.readouterr().out)
    monkeypatch.delenv("LTTFS_TEST_RESULTS")
    assert main([str(write(tmp_path, config)), "--check"]) == 2
    assert "names the environment variable LTTFS_TEST_RESULTS, which is not set" in (
        capsys.readouterr().err)


# --------------------------------------------------------------------------- the jobs' python


def test_jobs_whose_python_cannot_import_cluster_utils_are_refused(tmp_path, monkeypatch,
                                                                   capsys):
    """The original project's shape: environment_setup empty, so the jobs run the python3
    on their PATH, here a bare venv without cluster_utils."""
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    monkeypatch.setenv("PATH", f"{bare / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = local_with(environment_setup={})
    assert main([str(write(tmp_path, config)), "--check"]) == 2
    out = capsys.readouterr().out
    assert "error:" in out and "environment_setup: a job cannot start" in out
    assert f"the python3 on the jobs' PATH ({bare / 'bin' / 'python3'}" in out
    assert "No module named 'cluster_utils'" in out
    config["environment_setup"] = {"virtual_env_path": sys.prefix}  # a working venv
    assert main([str(write(tmp_path, config)), "--check"]) == 0
    out = capsys.readouterr().out
    assert "environment: a job starts" in out and "reads its settings as written" in out


# --------------------------------------------------------------------------- failing jobs


def test_a_sweep_whose_jobs_all_fail_stops_with_their_message(tmp_path, capsys):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nprint('boom: the cluster has no such module',"
                      " file=sys.stderr)\nsys.exit(1)\n")
    config = local_with(script_relative_path=str(script))
    config["optimization_setting"].update(number_of_samples=8, n_jobs_per_iteration=4)
    config["cluster_requirements"]["request_cpus"] = 1
    path = write(tmp_path, config)
    result = subprocess.run([sys.executable, "-m", "learning.sweep", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "job 0 failed: boom: the cluster has no such module (" in result.stdout
    assert "sweep stopped: its first 3 jobs failed and none finished" in result.stderr
    assert "    boom: the cluster has no such module" in result.stderr
    assert "1_0.sh.err" in result.stderr  # the file to read
    assert f"python -m learning.sweep {path} --resume" in result.stderr
    root = tmp_path / "results" / "ppo_local"
    recorded = json.loads((root / "failed_jobs.json").read_text())
    assert len(recorded["jobs"]) >= 3
    assert {job["error"] for job in recorded["jobs"]} == {
        "boom: the cluster has no such module"}
    from learning.analysis.inspection import main as inspect

    assert inspect([str(root)]) == 2  # nothing to rank: the failures are the message
    assert "job 0: boom: the cluster has no such module" in capsys.readouterr().err


# --------------------------------------------------------------------------- a job's settings


def test_a_rerun_settings_file_is_data(tmp_path):
    """run_learning.py settings.json (the rerun command the inspection prints) does not
    evaluate '{...}' in values (smart_settings' dynamic mode is off in the job)."""
    planted = tmp_path / "pwned"
    settings = {"config": {"config_templates": "hp_optim/config_templates_ppo.json",
                           "rl_config": {"policy": f"{{__import__('os').system('touch"
                                                   f" {planted}')}}"}},
                "working_dir": str(tmp_path / "job")}
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    result = subprocess.run([sys.executable, "run_learning.py", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr  # a config error: the literal string
    assert "config error" in result.stderr and "rl_config" in result.stderr
    assert not planted.exists()


@pytest.mark.slow
def test_a_planted_status_pickle_is_never_unpickled(sweep_copy, tmp_path):
    """--resume rebuilds the optimizer from all_data.csv and the jobs' files."""
    from tiny_sweep import TINY_SWEEP

    planted = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {planted}",))

    (sweep_copy / "status.pickle").write_bytes(pickle.dumps(Payload()))
    recorded = len((sweep_copy / "all_data.csv").read_text().splitlines()) - 1
    config = json.loads(json.dumps(TINY_SWEEP))
    config["results_dir"] = str(sweep_copy.parent)
    config["optimization_setting"]["number_of_samples"] = recorded + 1
    path = write(tmp_path, config)
    result = subprocess.run([sys.executable, "-m", "learning.sweep", str(path), "--resume"],
                            cwd=REPO, capture_output=True, text=True, timeout=600,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{recorded} of {recorded + 1} samples done ({recorded} recorded in all_data.csv"\
        in result.stdout
    assert not planted.exists()
    assert len((sweep_copy / "all_data.csv").read_text().splitlines()) - 1 == recorded + 1


@pytest.mark.slow
def test_a_crafted_settings_file_cannot_run_code_through_confirm(sweep_copy, tmp_path,
                                                                inspect_cli):
    """--confirm takes the best jobs' settings.json: it goes through the launcher, whose
    pre-flight refuses what a shell or smart_settings would run."""
    planted = tmp_path / "pwned"
    for settings_file in (sweep_copy / "best_jobs").glob("*/settings.json"):
        settings = json.loads(settings_file.read_text())
        settings["config"]["rl_config"]["policy"] = f"MlpPolicy$(touch {planted})"
        settings_file.write_text(json.dumps(settings))
    code, out, err = inspect_cli(sweep_copy, "--confirm", 1, "--seeds", 1)
    assert code != 0
    assert "pre-flight refused" in err and "a dollar sign" in err
    assert not planted.exists()


@pytest.mark.slow
def test_the_inspection_shows_failed_jobs_with_their_error(sweep_copy, inspect_cli):
    from learning.contract import FAILED_JOBS_FILE
    from learning.records.failed_jobs import FORMAT as FAILED_JOBS_FORMAT

    failure = {"job_id": 99, "iteration": 2, "error": "config error: <b>$\\frac{$</b>",
               "source": "/home/u/.cache/cluster_utils/x-jobs/2_99.sh.err", "tail": [],
               "time": "2026-12-04 12:00:00"}
    (sweep_copy / FAILED_JOBS_FILE).write_text(json.dumps(
        {"format": FAILED_JOBS_FORMAT, "jobs": [failure]}))
    code, out, err = inspect_cli(sweep_copy)
    assert code == 0, err
    assert ", 1 failed" in out
    assert "  job 99: config error: <b>$\\frac{$</b>" in out
    page = (sweep_copy / "report.html").read_text()
    assert "Failed jobs (1)" in page
    assert "config error: &lt;b&gt;$\\frac{$&lt;/b&gt;" in page


@pytest.mark.slow
def test_a_sigstopped_learner_in_a_sweep_is_stopped_and_retried(tmp_path):
    """A tiny sweep with learner_stall_seconds 3: its learner is SIGSTOPped while it trains;
    the job stops it, retries it from its saved model, and the sweep finishes."""
    import signal

    from tiny_sweep import TINY_SWEEP

    from tests.job.job_helpers import LearnerSignaller, progress_rows  # noqa: I001

    config = json.loads(json.dumps(TINY_SWEEP))
    config.update(optimization_procedure_name="stall", results_dir=str(tmp_path / "results"),
                  num_best_jobs_whose_data_is_kept=1)
    config["fixed_params"].update({
        "learning_runs_per_job": 1, "max_attempts": 2, "learner_stall_seconds": 3,
        "config.rl_config.num_timesteps": 1024,
        "config.rl_common_config.checkpoint_interval": 128})
    config["optimization_setting"].update(number_of_samples=1, n_jobs_per_iteration=1)
    path = write(tmp_path, config)
    root = tmp_path / "results" / "stall"
    with LearnerSignaller(root / "working_directories" / "0", signal.SIGSTOP,
                          dirs={"run_0.0-0"}, when=progress_rows(3)) as signaller:
        result = subprocess.run([sys.executable, "-m", "learning.sweep", str(path)], cwd=REPO,
                                capture_output=True, text=True, timeout=600,
                                stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert signaller.hit == ["run_0.0-0"]
    state = json.loads((root / "best_jobs" / "directories_0" / "job_state.json").read_text())
    stalled, retry = state["runs"][0]["attempts"]
    assert stalled["outcome"] == "failed" and stalled["message"].startswith("stalled: ")
    assert retry["outcome"] == "ok" and state["metrics"]["failed_attempts"] == 1
