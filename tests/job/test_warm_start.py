"""Warm learner starts (learning.job.warm_start, learning.fork_server) and the job process's
imports: real jobs, real learners forked by the real fork server, real signals.

The job process must not import torch or stable-baselines3 (its config check reads their
argument schema from a cache); a warm learner must be the job's own child with the same
set-up as a cold one (session, CPUs, files, environment, command), take the same
signals, report the same exit codes, be stopped for a stall and die with its job; a
fork server that cannot serve leaves the job starting learners cold."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from job_helpers import (
    REPO,
    LearnerSignaller,
    job_settings,
    progress_rows,
    read_state,
    run_info_shows,
    write_settings,
)

from learning.contract import EXIT_INTERRUPTED, EXIT_RESUME, LEARNER_MODULE_VARIABLE
from learning.job.cli import main
from learning.job.learner import SignalForwarder, learner_env
from learning.job.pool import LearnerPool
from learning.job.warm_start import FORK_SERVER_LOG, ForkServer, WarmProcess

HEAVY = ("torch", "stable_baselines3", "mujoco")
# run_learning.py as cluster_utils runs it, then the heavy modules in this process
PROBE = f"""
import json, runpy, sys
sys.argv, code = ["run_learning.py", sys.argv[1]], None
try:
    runpy.run_path("run_learning.py", run_name="__main__")
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "heavy": [m for m in {list(HEAVY)!r} if m in sys.modules]}}))
"""


def fork_server_pids(learners: set[int] = frozenset()) -> list[int]:
    """Fork servers started by this process (a forked learner shows the same command
    line: ``learners``, the pids of those running, are left out)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            parent = int(Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if (b"learning.fork_server" in cmdline and parent == os.getpid()
                and int(entry) not in learners):
            pids.append(int(entry))
    return pids


def is_child_subreaper() -> bool:
    value = ctypes.c_int()
    ctypes.CDLL(None).prctl(37, ctypes.byref(value), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    return bool(value.value)


def probe_job(tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    """Run a tiny standalone job under -X importtime, with its own cache folder."""
    settings = write_settings(tmp_path / f"{name}.json", job_settings(
        tmp_path / name, learning_runs_per_job=1))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, str(settings)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_job_process_imports_neither_torch_nor_stable_baselines3(tmp_path):
    """A real standalone job, first with an empty cache (the argument schema is derived in
    a child process and cached), then with the cache; -X importtime lists every module a
    process imports, and the job's own sys.modules is checked at its end."""
    for name in ("fresh", "cached"):
        probe = probe_job(tmp_path, name)
        report = json.loads(probe.stdout.strip().splitlines()[-1])
        assert report == {"code": 0, "heavy": []}, probe.stderr[-3000:]
        imported = {line.rsplit("|", 1)[1].strip() for line in probe.stderr.splitlines()
                    if line.startswith("import time:") and "|" in line}
        assert "learning.job.loop" in imported
        assert not {module for module in imported if module.split(".")[0] in HEAVY}
        assert len(list((tmp_path / "cache" / "lttfs").glob("sb3-schema-*.json"))) == 1
        state = read_state(tmp_path / name)
        assert state["status"] == "finished" and state["runs"][0]["attempts"][0]["warm"]
        assert state["segments"][-1]["config_seconds"] is not None


@pytest.mark.slow
def test_warm_learners_are_the_jobs_children_with_a_cold_learners_setup(tmp_path):
    """Two runs at once on their own CPUs, then their second iterations: every learner
    forked by the fork server, each with its own command, folder, files, CPUs and
    environment, exactly as a cold one; the server and the subreaper flag end with the
    job."""
    working_dir = tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json", job_settings(
        working_dir, learning_runs_per_job=2, training_iterations=2))
    assert main(["run_learning.py", str(settings)]) == 0
    state = read_state(working_dir)
    attempts = [a for run in state["runs"] for a in run["attempts"]]
    assert len(attempts) == 4 and all(a["warm"] and a["outcome"] == "ok" for a in attempts)
    assert state["segments"][0]["fork_server_seconds"] > 0
    for attempt in attempts:
        folder = working_dir / attempt["dir"]
        info = json.loads((folder / "logs" / "run_info.json").read_text())
        assert info["command"] == [sys.executable, "-m", "learning", "config/config.json"]
        assert info["cwd"] == str(folder) and info["pid"] != os.getpid()
        assert info["cpus"] == attempt["cpus"] and info["torch_threads"] == 1
        assert attempt["exit_code"] == 0 and attempt["cpu_seconds"] > 0
        command = (folder / "command.txt").read_text()
        assert command.endswith(" -m learning config/config.json\n")
        assert "OMP_NUM_THREADS=1" in command and "taskset --cpu-list" in command
        assert (folder / "stdout.log").stat().st_size > 0  # the learner's own output
        assert b"fork_server" not in (folder / "stderr.log").read_bytes()
    log = (working_dir / "job.log").read_text()
    assert "fork server ready" in log and "start cold" not in log
    assert (working_dir / FORK_SERVER_LOG).is_file()
    assert fork_server_pids() == [] and not is_child_subreaper()


@pytest.mark.slow
def test_signals_exit_codes_and_retries_of_warm_learners(tmp_path):
    """SIGKILL to a warm learner: a failed attempt with its signal, retried (warm) from its
    checkpoint; then SIGTERM to the job: every running learner saves and exits 75, and the
    job exits for resume; the same command finishes the job."""
    working_dir = tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json", job_settings(
        working_dir, learning_runs_per_job=2, config__rl_config__num_timesteps=2048,
        config__rl_common_config__checkpoint_interval=128))
    with LearnerSignaller(working_dir, signal.SIGKILL, dirs={"run_0.0-0"},
                          when=progress_rows(6)), \
            LearnerSignaller(working_dir, signal.SIGTERM, dirs=["run_0.0-1", "run_1.0-0"],
                             when=progress_rows(3), to_job=True, together=True):
        code = main(["run_learning.py", str(settings)])
    assert code == EXIT_RESUME
    state = read_state(working_dir)
    killed, stopped = state["runs"][0]["attempts"]
    (other,) = state["runs"][1]["attempts"]
    assert killed["warm"] and killed["signal"] == signal.SIGKILL and killed["exit_code"] is None
    assert killed["outcome"] == "failed" and killed["model_saved"]
    assert stopped["load_path"] == "../run_0.0-0/model.zip"
    for attempt in (stopped, other):
        assert attempt["warm"] and attempt["exit_code"] == EXIT_INTERRUPTED
        assert attempt["outcome"] == "interrupted"
    assert state["segments"][0]["outcome"] == "resume"
    assert main(["run_learning.py", str(settings)]) == 0
    state = read_state(working_dir)
    assert state["status"] == "finished" and state["metrics"]["failed_attempts"] == 1


@pytest.mark.slow
def test_a_warm_learner_that_ignores_sigterm_is_killed_for_its_stall(tmp_path, monkeypatch):
    """The pool's stall stop (SIGTERM, SIGCONT to its group, SIGKILL to its group after the
    grace) on a learner forked by the fork server, as on a cold one."""
    monkeypatch.setenv(LEARNER_MODULE_VARIABLE, "tests.job.stubborn_learner")
    pool = LearnerPool(SignalForwarder())
    pool.fork_server = ForkServer(tmp_path, "tests.job.stubborn_learner", learner_env(1), 60)
    try:
        learner = pool.start("run_0.0-0", tmp_path, "config/config.json", None, 1)
        assert isinstance(learner.process, WarmProcess)
        assert os.getsid(learner.process.pid) == learner.process.pid  # its own session
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline, "the stubborn learner did not start"
            time.sleep(0.05)
        os.kill(learner.process.pid, signal.SIGSTOP)
        pool.stop_stalled(learner, grace=1.0)
        ended = pool.wait_any(timeout=30)
        assert ended is not None and ended[1].signal == signal.SIGKILL
    finally:
        pool.close()
    assert fork_server_pids() == [] and not is_child_subreaper()


@pytest.mark.slow
def test_a_warm_learner_dies_with_its_job(tmp_path):
    """SIGKILL to the job process: its warm learner gets SIGTERM (parent-death signal, set
    once it is the job's child) and saves; its fork server is killed with the job."""
    working_dir = tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json", job_settings(
        working_dir, learning_runs_per_job=1, config__rl_config__num_timesteps=4096))
    job = subprocess.Popen([sys.executable, "run_learning.py", str(settings)], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                in_flight = read_state(working_dir)["in_flight"]
            except (OSError, ValueError):
                in_flight = []
            if in_flight and in_flight[0]["pid"] and progress_rows(2)(
                    working_dir / in_flight[0]["dir"]):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the learner did not start training")
        learner = in_flight[0]["pid"]
        servers = [int(e) for e in os.listdir("/proc") if e.isdigit()
                   and b"learning.fork_server" in _cmdline(int(e))
                   and _parent(int(e)) == job.pid and int(e) != learner]
        assert len(servers) == 1 and _parent(learner) == job.pid  # the job's child
        job.send_signal(signal.SIGKILL)
    finally:
        job.wait()
    info = run_info_shows(lambda info: info["status"] == "interrupted")
    deadline = time.time() + 60
    while not info(working_dir / "run_0.0-0") or _alive(servers[0]) or _alive(learner):
        assert time.time() < deadline, "the learner did not save, or the server lives on"
        time.sleep(0.1)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


@pytest.mark.slow
def test_learners_start_cold_when_asked_or_when_the_fork_server_dies(tmp_path):
    """warm_learner_start false: every learner a new process. A fork server killed while
    the job runs: the job logs it once and starts the rest cold."""
    working_dir = tmp_path / "cold"
    settings = write_settings(tmp_path / "cold.json", job_settings(
        working_dir, learning_runs_per_job=1, training_iterations=2, warm_learner_start=False))
    assert main(["run_learning.py", str(settings)]) == 0
    state = read_state(working_dir)
    assert [a["warm"] for a in state["runs"][0]["attempts"]] == [False, False]
    assert state["segments"][0]["fork_server_seconds"] is None
    assert not (working_dir / FORK_SERVER_LOG).exists()

    working_dir = tmp_path / "dies"
    settings = write_settings(tmp_path / "dies.json", job_settings(
        working_dir, learning_runs_per_job=1, training_iterations=3))
    killed = []

    def kill_the_server() -> None:
        first = working_dir / "run_0.0-0"
        deadline = time.time() + 120
        while time.time() < deadline and not progress_rows(1)(first):
            time.sleep(0.02)
        learners = {entry["pid"] for entry in read_state(working_dir)["in_flight"]}
        for pid in fork_server_pids(learners):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_the_server, daemon=True)
    killer.start()
    assert main(["run_learning.py", str(settings)]) == 0
    killer.join()
    assert killed
    attempts = read_state(working_dir)["runs"][0]["attempts"]
    assert [(a["warm"], a["outcome"]) for a in attempts] == [
        (True, "ok"), (False, "ok"), (False, "ok")]
    log = (working_dir / "job.log").read_text()
    assert log.count("learners start cold from now on: the fork server") == 1
