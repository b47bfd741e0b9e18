"""The job's own writes on a full disk (a real small tmpfs; skipped without root), its
working-directory lock, and cluster_utils' writers it replaces (no learner here)."""

from __future__ import annotations

import csv
import errno
import json
import os

import pytest
from cluster_utils import client

from learning.job.disk import (
    CLUSTER_UTILS_WRITERS,
    RESERVE_FILE,
    JobLog,
    SpaceReserve,
    job_write_failed,
    write_cluster_utils_files_atomically,
    write_stop,
)
from learning.job.lock import JobRunning, WorkingDirLock
from learning.records.job_state import JobState, load_state, save_state


def test_the_reserve_lets_the_state_record_a_full_disk(tmp_path, small_disk, fill_disk):
    disk = small_disk(1024)
    reserve = SpaceReserve(disk)
    reserve.create()
    fill_disk(disk)
    state = JobState.new("digest", training_iterations=1, max_attempts=3, seeds=[1, 2])
    with pytest.raises(OSError) as error:
        save_state(disk, state)
    assert error.value.errno == errno.ENOSPC
    reserve.write(lambda: save_state(disk, state))  # frees the reserve, then writes
    assert load_state(disk) == state and not (disk / RESERVE_FILE).exists()
    state.status = "failed"
    reserve.write(lambda: save_state(disk, state))  # replaces it: the old copy's space
    assert load_state(disk).status == "failed"
    assert not [p.name for p in disk.iterdir() if p.name.endswith(".tmp")]


def test_job_log_reports_a_full_disk_once_and_keeps_printing(tmp_path, small_disk, fill_disk,
                                                               capsys):
    disk = small_disk(512)
    log = JobLog(disk / "job.log")
    log("first")
    fill_disk(disk)
    for i in range(3):
        log("x" * 5000 + str(i))  # more than the last free page
    out, err = capsys.readouterr()
    assert out.count("\n") == 4 and "first" in out
    assert err.count("warning: cannot write") == 1 and "no space left on device" in err


def test_cluster_utils_job_files_are_written_atomically(tmp_path):
    """cluster_utils 3.0 wrote settings.json and metrics.csv with open("w"); its private
    writers still exist (else this fails: update learning/job/disk.py) and are replaced."""
    write_cluster_utils_files_atomically()
    for name, replacement in CLUSTER_UTILS_WRITERS.items():
        assert getattr(client, name) is replacement
    client._save_settings_to_json({"b": 1, "a": [1, 2]}, str(tmp_path))
    assert json.loads((tmp_path / "settings.json").read_text()) == {"a": [1, 2], "b": 1}
    client._save_dict_as_one_line_csv({"m": 0.5, "n": 2}, tmp_path / "metrics.csv")
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [{"m": "0.5", "n": "2"}]


@pytest.mark.parametrize("error, message", [
    (OSError(errno.ENOSPC, "No space left on device", "/w/job_state.json"),
     "no space left on device: /w/job_state.json; free space and run the same command again"),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/w/x"), "no space left on device: /w/x;"),
    (OSError(errno.EROFS, "Read-only file system", "/w/run_0.0-0/config"),
     "cannot write /w/run_0.0-0/config: read-only file system; make it writable and run"),
])
def test_job_write_failures_say_what_to_do(error, message):
    assert str(job_write_failed(error, "/w")).startswith(message)


def test_a_learners_line_names_the_file_in_the_jobs_message():
    stop = write_stop("no_space", "cannot write /w/run_0.0-0/model.zip: no space left on"
                      " device", "/w/run_0.0-0")
    assert (str(stop), stop.exit_code, stop.outcome) == (
        "no space left on device: /w/run_0.0-0/model.zip; free space and run the same command"
        " again to continue", 74, "no_space")
    stop = write_stop("write_failed", "exit code 73", "/w/run_0.0-0")
    assert str(stop).startswith("cannot write /w/run_0.0-0 (exit code 73): a file could not be")
    assert stop.exit_code == 73


def test_a_second_lock_on_a_working_dir_names_the_holder(tmp_path):
    first = WorkingDirLock(tmp_path)
    assert first.acquire() is None
    with pytest.raises(JobRunning, match=rf"another copy of this job is running in {tmp_path}"
                       rf" \(pid {os.getpid()} on .* since .*\); this one stops without"):
        WorkingDirLock(tmp_path).acquire()
    first.release()
    with WorkingDirLock(tmp_path) as warning:  # free again
        assert warning is None


def test_temporary_files_of_a_killed_learner_are_removed(tmp_path):
    """A learner SIGKILLed while it saved leaves its temporary files (a replay buffer's can
    be large); the job removes them once the learner has ended, and nothing else."""
    from learning.job.attempts import remove_temporary_files

    (tmp_path / "logs" / "configs").mkdir(parents=True)
    temporary = [".model.123.tmp.zip", ".model_replay_buffer.123.tmp.pkl",
                 "logs/.run_info.json.123.0a1b2c3d.tmp", "logs/configs/.x.json.1.ff.tmp"]
    kept = ["model.zip", "model_replay_buffer.pkl", "logs/run_info.json", ".hidden",
            "logs/tmp.csv"]
    for name in temporary + kept:
        (tmp_path / name).write_text("x")
    assert sorted(remove_temporary_files(tmp_path)) == sorted(temporary)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) \
        == sorted(kept)
