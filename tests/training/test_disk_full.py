"""The learner on a real full disk (a small tmpfs) and a read-only one: one line naming the
file, exit code 74 (no space) or 73 (other write failures), no temporary files, and the
last saved model intact. Before, it exited 1 (stderr.log often empty: it is on the same
disk) and left ``.model.<pid>.tmp.zip`` behind."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_train import REPO, make_run, one_cpu, run_cli  # noqa: F401 (one_cpu: autouse)

from learning.contract import EXIT_NO_SPACE, EXIT_OK, EXIT_WRITE_FAILED
from learning.training.output_errors import (
    OutputError,
    as_output_error,
    quiet_thread_write_failures,
)


def hidden_files(folder: Path) -> list[str]:
    """Temporary files (all start with a dot) anywhere below ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def on_disk(disk: Path, **rl) -> dict:
    return {"log_path": str(disk / "logs"), "save_path": str(disk / "model.zip"), **rl}


@pytest.mark.slow
def test_full_disk_keeps_the_last_model_and_no_temporary_file(tmp_path, small_disk, fill_disk):
    disk = small_disk(2048)
    first = run_cli(tmp_path, make_run(tmp_path, rl=on_disk(disk)))
    assert first.returncode == EXIT_OK, first.stderr
    model = (disk / "model.zip").read_bytes()
    fill_disk(disk, leave_kib=48)  # the logs fit, the model (about 170 KiB) does not
    config = make_run(tmp_path, rl=on_disk(disk, load_path=str(disk / "model.zip")),
                      name="continue")
    result = run_cli(tmp_path, config)
    assert result.returncode == EXIT_NO_SPACE, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"cannot write {disk}/") and line.endswith(
        ": no space left on device"), result.stderr
    assert "Traceback" not in result.stderr
    assert hidden_files(disk) == []
    assert (disk / "model.zip").read_bytes() == model  # the last checkpoint is intact


def run_with_output_on(disk: Path, fill_disk, cwd: Path, config: Path,
                       unbuffered: bool = False) -> int:
    """Run the learner with stdout.log and stderr.log on ``disk``, filled first."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PYTHONUNBUFFERED", None)
    env.update({"PYTHONUNBUFFERED": "1"} if unbuffered else {})
    with open(disk / "stdout.log", "wb") as out, open(disk / "stderr.log", "wb") as err:
        fill_disk(disk)
        return subprocess.run([sys.executable, "-m", "learning", str(config)], cwd=cwd,
                              env=env, stdout=out, stderr=err, timeout=300).returncode


@pytest.mark.slow
def test_full_disk_that_holds_the_learners_output_too(tmp_path, small_disk, fill_disk):
    """As in a job, stdout.log and stderr.log are on a full disk, so the message is lost;
    the exit code still says what happened."""
    disk = small_disk(1024)
    fill_disk(disk, leave_kib=48)  # the logs fit, the model does not
    config = make_run(tmp_path, rl=on_disk(disk, verbose=1))  # SB3's tables go to stdout
    assert run_with_output_on(small_disk(64), fill_disk, tmp_path, config) == EXIT_NO_SPACE
    assert hidden_files(disk) == []


@pytest.mark.slow
@pytest.mark.parametrize("unbuffered", [False, True])
def test_finished_run_whose_last_line_cannot_be_written(tmp_path, small_disk, fill_disk,
                                                         unbuffered):
    """The model, logs and evaluation are written; only the final "trained to ..." line,
    for stdout on a full disk, is lost. Python would exit 120 for a buffered stdout it
    cannot flush at exit, and an unbuffered print would raise: both a failed attempt for
    the job. The learner exits 0."""
    config = make_run(tmp_path)
    code = run_with_output_on(small_disk(64), fill_disk, tmp_path, config, unbuffered)
    assert code == EXIT_OK
    assert json.loads((tmp_path / "logs" / "run_info.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_read_only_disk(tmp_path, small_disk):
    disk = small_disk(64, read_only=True)
    result = run_cli(tmp_path, make_run(tmp_path, rl=on_disk(disk)))
    assert result.returncode == EXIT_WRITE_FAILED, result.stderr
    assert result.stderr == f"cannot write {disk / 'logs'}: read-only file system (errno 30)\n"


@pytest.mark.parametrize("error, exit_code, message", [
    (OSError(errno.ENOSPC, "No space left on device", "/d/m.zip"), EXIT_NO_SPACE,
     "cannot write /d/m.zip: no space left on device"),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/d/m.zip"), EXIT_NO_SPACE,
     "cannot write /d/m.zip: no space left on device for this user (disk quota exceeded)"),
    (OSError(errno.ENOSPC, "No space left on device"), EXIT_NO_SPACE,  # e.g. stdout
     "cannot write a file the learner writes (stdout, log_path or save_path): no space"),
    (OSError(errno.EROFS, "Read-only file system", "/d"), EXIT_WRITE_FAILED,
     "cannot write /d: read-only file system (errno 30)"),
    (PermissionError(errno.EACCES, "Permission denied", "/d"), None, None),  # maybe a read
    (json.JSONDecodeError("x", "", 0), None, None),
])
def test_which_errors_are_write_failures(error, exit_code, message):
    found = as_output_error(error)
    if exit_code is None:
        assert found is None
        return
    assert found.exit_code == exit_code and str(found).startswith(message)


def test_a_named_write_reports_any_os_error():
    error = OutputError("/d/progress.csv", PermissionError(errno.EACCES, "Permission denied"))
    assert (error.exit_code, str(error)) == (
        EXIT_WRITE_FAILED, "cannot write /d/progress.csv: permission denied (errno 13)")


def test_threads_leave_write_failures_to_the_main_thread():
    """TensorBoard's writer thread dies of a full disk; the main thread re-raises its error
    at the next write and reports it in one line, so the thread's traceback is not shown."""
    shown = []
    hook = quiet_thread_write_failures(shown.append)
    full = threading.ExceptHookArgs((OSError, OSError(errno.ENOSPC, "full"), None, None))
    other = threading.ExceptHookArgs((ValueError, ValueError("bug"), None, None))
    hook(full)
    hook(other)
    assert shown == [other]
