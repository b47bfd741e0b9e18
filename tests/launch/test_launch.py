"""The launcher's own parts without a sweep: the results folder (refuse, --fresh, lock),
the two documented changes to cluster_utils while it runs, and the guard stopping the
processes of a main process that was SIGKILLed (real processes, no learner)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from learning.launch import guard
from learning.launch.cluster_utils_patches import PatchPlan, patched_cluster_utils
from learning.launch.launcher import main
from learning.launch.results_folder import ResultsDirError, ResultsLock, prepare_results_dir

REPO = Path(__file__).resolve().parents[2]


def local_sweep(tmp_path: Path) -> tuple[Path, Path]:
    """ppo_local.json with its results under tmp_path: (file, results folder)."""
    config = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    config["results_dir"] = str(tmp_path / "results")
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(config))
    return path, tmp_path / "results" / config["optimization_procedure_name"]


def test_existing_results_are_refused_without_resume_or_fresh(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    path, root = local_sweep(tmp_path)
    root.mkdir(parents=True)
    (root / "all_data.csv").write_text("kept\n")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{root} exists: continue it with --resume, or start again with --fresh" in err
    assert (root / "all_data.csv").read_text() == "kept\n"
    assert sorted(p.name for p in root.parent.iterdir()) == [root.name]


def test_fresh_moves_the_old_results_aside(tmp_path):
    root = tmp_path / "results" / "sweep"
    (root / "best_jobs").mkdir(parents=True)
    (root / "all_data.csv").write_text("old\n")
    lock, moved = prepare_results_dir(root, "fresh", wait=0)
    try:
        assert moved is not None and moved.name.startswith("sweep.")
        assert (moved / "all_data.csv").read_text() == "old\n"  # nothing deleted
        assert (moved / "best_jobs").is_dir()
        assert root.is_dir() and not (root / "all_data.csv").exists()
    finally:
        lock.close()
    lock, moved_again = prepare_results_dir(root, "fresh", wait=0)
    lock.close()
    assert moved_again != moved and moved.is_dir() and moved_again.is_dir()


def test_a_locked_results_folder_is_refused(tmp_path):
    root = tmp_path / "results" / "sweep"
    root.mkdir(parents=True)
    holder = ResultsLock(root)
    assert holder.acquire(wait=0)
    try:
        with pytest.raises(ResultsDirError, match=rf"in use by another sweep \(launcher pid"
                                                  rf" {os.getpid()}"):
            prepare_results_dir(root, "resume", wait=0.6)
    finally:
        holder.close()
    lock, _ = prepare_results_dir(root, "resume", wait=0)
    lock.close()


def test_cluster_utils_changes_are_scoped(tmp_path):
    """The private counter the launcher sets when resuming still exists in the pinned
    cluster_utils, settings reach the job script as plain values, Discrete options keep
    their types, and every change is undone afterwards."""
    import numpy as np
    from cluster_utils.hp_optimization import get_distribution
    from cluster_utils.server import job_manager
    from cluster_utils.server.distributions import Discrete
    from cluster_utils.server.job import Job

    originals = (job_manager.ensure_empty_dir, job_manager.get_cluster_type,
                 Job.generate_final_setting, Discrete.prepare_samples)
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "x").write_text("kept")
    plan = PatchPlan(params={}, local=True, secret=bytes(32), first_job_id=7)
    with patched_cluster_utils(plan):
        job_manager.ensure_empty_dir(str(folder), defensive=True)  # no prompt, nothing deleted
        cluster = job_manager.get_cluster_type({"request_cpus": 1}, run_local=True)
        submission = cluster(requirements={"request_cpus": 1},
                             paths={"jobs_dir": str(tmp_path)}, remove_jobs_dir=False)
        try:
            assert [submission.inc_job_id, submission.inc_job_id] == [7, 8]
        finally:
            submission.executor.shutdown()
        job = Job(id=0, settings={"a": {"n": np.int64(8), "b": np.bool_(True),
                                        "x": [np.float64(0.5)]}},
                  other_params={}, paths={"current_result_dir": str(tmp_path)}, iteration=1,
                  connection_info={"ip": "127.0.0.1", "port": 1}, opt_procedure_name="t",
                  singularity_settings=None)
        command = job.generate_execution_cmd({"main_path": str(tmp_path),
                                              "script_to_run": "run_learning.py",
                                              "current_result_dir": str(tmp_path)})
        assert "'a': {'n': 8, 'b': True, 'x': [0.5]}" in command
        mixed = get_distribution(param="p", distribution="Discrete", options=[0.1, "auto"])
        mixed.prepare_samples(howmany=10)
        assert {type(mixed.sample()) for _ in range(10)} <= {float, str}
    assert (folder / "x").read_text() == "kept"
    assert (job_manager.ensure_empty_dir, job_manager.get_cluster_type,
            Job.generate_final_setting, Discrete.prepare_samples) == originals


MAIN = textwrap.dedent("""
    import multiprocessing, os, signal, subprocess, sys, time
    from pathlib import Path
    from learning.launch import guard

    env = guard.fresh_tag_environment()
    if env is not None:  # like the launcher: re-execute with the tag
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    folder = Path(sys.argv[1])
    guard.start_guard(guard.own_tag(), 2.0, folder / "guard.log", None)
    from learning.sweep_messages import create_secret

    (folder / "secret").write_text(str(create_secret(guard.own_tag())))  # as the launcher

    def worker():
        time.sleep(600)

    forked = multiprocessing.get_context("fork").Process(target=worker)
    forked.start()  # like cluster_utils' pool workers: forked, never exec'd
    sleeper = subprocess.Popen(["sleep", "600"])
    stubborn = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    time.sleep(0.5)
    (folder / "pids").write_text(f"{forked.pid} {sleeper.pid} {stubborn.pid}")
    time.sleep(600)
""")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_guard_stops_everything_when_the_main_process_is_killed(tmp_path):
    script = tmp_path / "main.py"
    script.write_text(MAIN)
    main_process = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=REPO,
                                    env=dict(os.environ, PYTHONPATH=str(REPO),
                                             XDG_CACHE_HOME=str(tmp_path / "cache")))
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "pids").exists():
            assert time.monotonic() < deadline and main_process.poll() is None
            time.sleep(0.1)
        pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
        assert all(alive(pid) for pid in pids)
        main_process.kill()
        main_process.wait()
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in pids if alive(pid)]
        log_file = tmp_path / "guard.log"
        while "done" not in log_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # the guard's last scan
    finally:
        for pid in [main_process.pid, *pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    log = (tmp_path / "guard.log").read_text()
    assert f"main process {main_process.pid} ended" in log
    assert "SIGTERM to" in log and f"SIGKILL to [{pids[2]}]" in log  # the one ignoring TERM
    secret = Path((tmp_path / "secret").read_text())
    assert not secret.exists() and f"removed the sweep's secret file {secret}" in log
    assert "done (3 process(es) stopped)" in log
    assert guard.TAG_VARIABLE not in os.environ


def test_a_nevergrad_optimizer_is_rebuilt_from_the_recorded_jobs(tmp_path, monkeypatch):
    """cluster_utils 3.0 cannot continue a nevergrad optimizer from status.pickle; the
    launcher rebuilds it from all_data.csv (telling nevergrad each recorded job)."""
    from learning.launch.optimizer_rebuild import rebuild_optimizer
    from learning.launch.sweep_file import read_sweep_file
    from learning.preflight.checks import run_preflight

    monkeypatch.chdir(REPO)
    path, root = local_sweep(tmp_path)
    config = json.loads(path.read_text())
    config.update(optimizer_str="nevergrad", optimizer_settings={"opt_alg": "twopointsde"})
    path.write_text(json.dumps(config))
    sweep = read_sweep_file(path, [])
    distributions = run_preflight(sweep).distributions
    root.mkdir(parents=True)
    rows = ["_id,_iteration,config.rl_config.normalize.norm_obs,config.rl_config.n_envs,"
            "config.rl_config.batch_size,config.rl_config.learning_rate,mean_eval_reward"]
    rows += [f"{i},{1 + i // 5},{i % 2 == 0},{(1, 4, 8)[i % 3]},{(64, 256)[i % 2]},"
             f"{1e-4 * (i + 1)},{-1.0 + 0.1 * i}" for i in range(10)]
    (root / "all_data.csv").write_text("\n".join(f"{i},{row}" if i else f",{row}"
                                                 for i, row in enumerate(rows)) + "\n")
    optimizer = rebuild_optimizer(sweep, distributions)
    assert optimizer.iteration == 2 and len(optimizer.full_df) == 10
    assert optimizer.optimizer.num_tell == 10
    sample = optimizer.ask()["config"]["rl_config"]
    assert sample["n_envs"] in (1, 4, 8) and 1e-4 <= sample["learning_rate"] <= 3e-3
