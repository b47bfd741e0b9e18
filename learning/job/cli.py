"""``run_learning.py``: the cluster_utils job, or a standalone rerun of one.

``main(argv)`` takes cluster_utils' job arguments (``--parameter-dict "{...}" --job-id N
--cluster-utils-server HOST:PORT``) or, standalone, a settings file
(``run_learning.py settings.json ['key=value' ...]``); see learning.job.settings for the
settings and learning.job.loop for what the job does.

Exit codes: 0 finished (metrics reported with ``finalize_job``); 3 resume (standalone:
interrupted by a signal, run the same command again to continue). Standalone, a config
error prints one line ``config error: ...`` and exits 2 (like ``python -m learning``),
a disk that cannot be written (the job's or a learner's) ``job failed: no space left on
device: PATH; free space and run the same command again to continue`` and exits 74 (73
for a read-only disk or a permission), any other failure (a second copy of the job in
the same working directory included) prints ``job failed: ...`` and exits 1. Under
cluster_utils a failure is raised, so that cluster_utils' exception hook sends it to the
server, which shows it among the failed jobs (exit code 1).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from cluster_utils import client
from cluster_utils.client import submission_state

from learning.contract import EXIT_CONFIG, JOB_SCRIPT
from learning.job.disk import JobWriteFailed, job_write_failed, write_cluster_utils_files_atomically
from learning.job.lock import WorkingDirLock
from learning.job.loop import Job
from learning.job.settings import (
    JobConfigError,
    JobFailed,
    process_start_time,
    settings_position,
    standalone_working_dir,
    with_plain_parameter_dict,
    with_working_dir,
)
from learning.job.settings_file import check_settings_file
from learning.job_probe import probe_report_path, write_report
from learning.parameter_dict import parse_parameter_dict
from learning.sweep_messages import MessageError, sign_job_messages

EXIT_FAILED = 1


def run(argv: list[str], process_started: float, main_started: float) -> int:
    """Run the job; raises JobFailed (JobConfigError for config errors)."""
    check_settings_file(argv)  # before smart_settings reads it: errors naming the key
    argv = with_plain_parameter_dict(argv)  # numpy 2's scalar reprs -> plain values
    probe = probe_report_path()
    if probe is not None:  # the launcher's pre-flight: report, start nothing
        position = settings_position(argv)
        settings = (parse_parameter_dict(argv[position])
                    if "--parameter-dict" in argv and position is not None else {})
        return write_report(probe, settings, JOB_SCRIPT)
    sign_messages_to_sweep()  # the launcher's sweeps take only signed messages
    forced_dir = standalone_working_dir(argv)
    if forced_dir is not None:
        argv = with_working_dir(argv, forced_dir)
        print(f"running the job in {forced_dir}", flush=True)
    write_cluster_utils_files_atomically()
    try:
        # dynamic=False: a value is data, never an expression (smart_settings would
        # evaluate "{...}" in values as Python)
        settings = client.initialize_job(argv, verbose=False, dynamic=False)
    except OSError as e:  # creating the working dir, writing settings.json
        if e.filename is None:
            raise
        raise job_write_failed(e, e.filename) from e
    if "working_dir" not in settings:
        raise JobConfigError("the settings have no working_dir")
    with WorkingDirLock(Path(settings["working_dir"])) as warning:
        if warning:
            print(warning, file=sys.stderr, flush=True)
        return Job(settings, process_started, main_started).run()


def sign_messages_to_sweep() -> None:
    """Sign this job's messages to its sweep (learning.sweep_messages) when the launcher
    started it; a sweep started by cluster_utils directly gets its own protocol."""
    try:
        sign_job_messages()
    except MessageError as e:
        raise JobFailed(str(e)) from e


def main(argv: list[str] | None = None) -> int:
    """Run the job; ``argv`` like sys.argv (program name first)."""
    main_started = time.time()
    process_started = process_start_time()
    argv = list(sys.argv if argv is None else argv)
    try:
        return run(argv, process_started, main_started)
    except JobFailed as e:
        if submission_state.connection_active:
            raise  # cluster_utils' excepthook reports it to the server
        config_error = isinstance(e, JobConfigError)
        try:
            print(f"{'config error' if config_error else 'job failed'}: {e}", file=sys.stderr)
        except OSError:
            pass  # stderr on the full disk: the exit code tells
        if any(arg.startswith("--cluster-utils-server") for arg in argv):
            return EXIT_FAILED  # before registering: cluster_utils counts only 1 as failed
        if isinstance(e, JobWriteFailed):
            return e.exit_code
        return EXIT_CONFIG if config_error else EXIT_FAILED
    except Exception:  # a bug: under cluster_utils its traceback also in the job's stderr
        # (the .err file the launcher shows; cluster_utils' excepthook sends it only to the
        # server, which shows nothing of it in local mode)
        if submission_state.connection_active:
            try:
                traceback.print_exc(file=sys.stderr)
                sys.stderr.flush()
            except OSError:
                pass
        raise
