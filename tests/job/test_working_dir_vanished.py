"""A working directory deleted while the job runs (``rm -rf`` of the results folder) fails
the job saying so: not a config error (its learner cannot read its configs any more),
not a disk to make writable. Real jobs, real learners, tiny budgets."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
from job_helpers import job_settings, progress_rows, read_state, write_settings

from learning.job.cli import EXIT_FAILED, main

pytestmark = pytest.mark.slow  # real jobs


class WorkingDirRemover(threading.Thread):
    """Deletes the job's working directory once its first learner runs and ``ready(its
    attempt folder)`` holds."""

    def __init__(self, working_dir, ready):
        super().__init__(daemon=True)
        self.working_dir, self.ready = working_dir, ready
        self.removed = threading.Event()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                in_flight = read_state(self.working_dir)["in_flight"]
            except (OSError, ValueError):
                in_flight = []
            if in_flight and in_flight[0]["pid"] and self.ready(
                    self.working_dir / in_flight[0]["dir"]):
                while self.working_dir.exists():  # the learner writes into it meanwhile
                    shutil.rmtree(self.working_dir, ignore_errors=True)
                self.removed.set()
                return
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self.join()


@pytest.mark.parametrize("when", ["learner_starting", "learner_training"])
def test_a_vanished_working_dir_is_a_job_failure_that_says_so(tmp_path, capsys, when):
    """Deleted while the learner starts (it then cannot read its configs: exit code 2,
    which was reported as a config error with an empty reason) or while it trains (its
    writes and the job's fail: reported as a disk to make writable)."""
    working_dir = tmp_path / "job"
    ready = (lambda folder: True) if when == "learner_starting" else progress_rows(2)
    settings = write_settings(tmp_path / "settings.json", job_settings(
        working_dir, learning_runs_per_job=1, config__rl_config__num_timesteps=4096))
    with WorkingDirRemover(working_dir, ready) as remover:
        code = main(["run_learning.py", str(settings)])
    assert remover.removed.is_set()
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert (f"job failed: the working directory {working_dir} vanished (no such file or"
            f" directory) while the job ran") in err, err
    assert "config error" not in err and "make it writable" not in err
    assert not working_dir.exists()  # the job made nothing there again
