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

from learning.sweep import guard
from learning.sweep.launch import cluster_utils_patches, main
from learning.sweep.resume import ResultsDirError, ResultsLock, prepare_results_dir

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
    cluster_utils, and both changes are undone afterwards."""
    from cluster_utils.server import job_manager

    originals = job_manager.ensure_empty_dir, job_manager.get_cluster_type
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "x").write_text("kept")
    with cluster_utils_patches(first_job_id=7):
        job_manager.ensure_empty_dir(str(folder), defensive=True)  # no prompt, nothing deleted
        cluster = job_manager.get_cluster_type({"request_cpus": 1}, run_local=True)
        submission = cluster(requirements={"request_cpus": 1},
                             paths={"jobs_dir": str(tmp_path)}, remove_jobs_dir=False)
        try:
            assert [submission.inc_job_id, submission.inc_job_id] == [7, 8]
        finally:
            submission.executor.shutdown()
    assert (folder / "x").read_text() == "kept"
    assert (job_manager.ensure_empty_dir, job_manager.get_cluster_type) == originals


MAIN = textwrap.dedent("""
    import multiprocessing, os, signal, subprocess, sys, time
    from pathlib import Path
    from learning.sweep import guard

    env = guard.fresh_tag_environment()
    if env is not None:  # like the launcher: re-execute with the tag
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    folder = Path(sys.argv[1])
    guard.start_guard(guard.own_tag(), 2.0, folder / "guard.log", None)

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
                                    env=dict(os.environ, PYTHONPATH=str(REPO)))
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
    assert "done (3 process(es) stopped)" in log
    assert guard.TAG_VARIABLE not in os.environ
