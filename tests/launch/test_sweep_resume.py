"""A real local sweep through the launcher (python -m learning.sweep), its main process
SIGKILLed in the middle of its second iteration, after a job of that iteration finished:
the guard stops the workers and jobs, then ``--resume`` (stdin from /dev/null) recovers
the finished job and runs exactly the missing samples.  About 1-2 minutes on 2 cores."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_sweep import METRIC, REPO, TINY_SWEEP

pytestmark = pytest.mark.slow

SAMPLES = TINY_SWEEP["optimization_setting"]["number_of_samples"]


def sweep_processes(folder: Path) -> list[str]:
    """Processes (other than this one) whose command line or cwd lies in ``folder``: the
    launcher, its forked workers, the guard, job scripts, jobs and learners."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(Path(entry.path, "cwd"))
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, UnicodeDecodeError):
            continue
        if state != "Z" and (str(folder) in command or cwd.startswith(str(folder))):
            found.append(f"{entry.name}: {command[:120]}")
    return found


def wait_until_gone(folder: Path, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := sweep_processes(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def recorded(root: Path) -> dict[int, float] | None:
    """all_data.csv: job id -> metric (None before the first iteration ended)."""
    try:
        with open(root / "all_data.csv", newline="") as f:
            return {int(float(r["_id"])): float(r[METRIC]) for r in csv.DictReader(f)}
    except (OSError, KeyError, ValueError):
        return None


def finished(root: Path) -> dict[int, float]:
    """Jobs whose folder holds their final metrics.csv: job id -> metric."""
    result = {}
    folder = root / "working_directories"
    for job in folder.iterdir() if folder.is_dir() else []:
        try:
            with open(job / "metrics.csv", newline="") as f:
                result[int(job.name)] = float(next(csv.DictReader(f))[METRIC])
        except (OSError, StopIteration, KeyError, ValueError):
            continue
    return result


def launcher(config: Path, folder: Path, *flags: str) -> list:
    return [[sys.executable, "-m", "learning.sweep", str(config), *flags],
            dict(cwd=REPO, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                 env=dict(os.environ, CLUSTER_UTILS_CACHE_DIR=str(folder / "cache")))]


def test_killed_sweep_resumes_without_losing_a_finished_job(tmp_path):
    config = dict(TINY_SWEEP, results_dir=str(tmp_path / "results"))
    config["fixed_params"] = dict(config["fixed_params"], learning_runs_per_job=1)
    config_file = tmp_path / "tiny.json"
    config_file.write_text(json.dumps(config))
    root = tmp_path / "results" / config["optimization_procedure_name"]
    command, options = launcher(config_file, tmp_path)

    with open(tmp_path / "first.log", "w") as log:
        main_process = subprocess.Popen(command, stdout=log, **options)
        try:
            deadline = time.monotonic() + 400
            while True:  # the first iteration is recorded, a job of the second finished
                before = recorded(root)
                unrecorded = set(finished(root)) - set(before or {})
                if before is not None and unrecorded:
                    break
                assert main_process.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "no job of the second iteration finished"
                time.sleep(0.05)
            main_process.send_signal(signal.SIGKILL)
        finally:
            main_process.kill()
            main_process.wait()
    at_kill = finished(root)
    folders_at_kill = {p.name for p in (root / "working_directories").iterdir()}
    assert unrecorded and not unrecorded & set(recorded(root))

    left = wait_until_gone(tmp_path, timeout=90)
    assert not left, f"left running after the main process died: {left}"
    # a job may still finish while the guard stops the processes: it counts as finished too
    at_rest = finished(root)
    assert set(at_kill) <= set(at_rest)
    folders_after = {p.name for p in (root / "working_directories").iterdir()}
    assert folders_after == folders_at_kill, "a queued job started after the main process died"
    assert "stopping the sweep's processes" in (root / "sweep_guard.log").read_text()

    result = subprocess.run(command + ["--resume"], stdout=subprocess.PIPE, text=True,
                            timeout=400, **options)
    assert result.returncode == 0, result.stdout[-3000:]
    done = [line for line in result.stdout.splitlines() if "samples done" in line]
    assert f"{len(before) + len(set(at_rest) - set(before))} of {SAMPLES} samples done" in (
        result.stdout), (done, sorted(before), sorted(at_kill), sorted(at_rest))
    final = recorded(root)
    assert final is not None and len(final) == SAMPLES, final
    for job_id, metric in {**before, **at_rest}.items():  # every finished job, its own result
        assert final[job_id] == pytest.approx(metric)
    new_ids = set(final) - set(before) - set(at_rest)
    assert all(i > max(int(name) for name in folders_at_kill) for i in new_ids)  # ids unique
    assert not wait_until_gone(tmp_path, timeout=60), "left running after the sweep ended"


def test_grid_search_resume_reports_finished_jobs_without_training_again(tmp_path):
    """Resuming a grid search gives every job its id and settings again; a finished job
    continues from its restart state and only reports its metrics again."""
    config = json.loads((REPO / "hp_optim" / "grid_search.json").read_text())
    config["results_dir"] = str(tmp_path / "results")
    config["fixed_params"].update({key: value for key, value in TINY_SWEEP["fixed_params"].items()
                                   if key.startswith("config.rl")},
                                  learning_runs_per_job=1, local_cpu_pinning=False)
    config["hyperparam_list"] = [{"param": "config.rl_config.learning_rate",
                                  "values": [1e-4, 1e-3]}]
    config_file = tmp_path / "grid.json"
    config_file.write_text(json.dumps(config))
    root = tmp_path / "results" / config["optimization_procedure_name"]
    command, options = launcher(config_file, tmp_path)
    first = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=400, **options)
    assert first.returncode == 0, first.stdout[-3000:]
    rows = recorded_grid(root)
    assert len(rows) == 2

    again = subprocess.run(command + ["--resume"], stdout=subprocess.PIPE, text=True,
                           timeout=400, **options)
    assert again.returncode == 0, again.stdout[-3000:]
    assert recorded_grid(root) == pytest.approx(rows)
    for job in (root / "working_directories").iterdir():
        log = (job / "job.log").read_text()
        assert log.count("learner starts") == 1 and "resuming from" in log
    assert not wait_until_gone(tmp_path, timeout=60)


def recorded_grid(root: Path) -> dict[int, float]:
    with open(root / "all_data.csv", newline="") as f:
        return {int(float(r["id"])): float(r[METRIC]) for r in csv.DictReader(f)}
