"""When a job process starts no more learners and exits for resume: its chunk of work.

By default a job trains all its rounds of learners in one process, in cluster_utils'
local mode and on a cluster alike: a freed CPU slot takes the next waiting run at once.
It exits for resume (cluster_utils exit code 3; the next cluster job continues in the
same working directory) only

- on a stop signal (SIGTERM/SIGUSR1: Slurm's time-limit warning), once its learners
  saved and ended (learning.job.loop);
- when its time is short: with a time limit (the job setting ``job_time_limit_seconds``
  from the job process's start, or else, under Slurm, the allocation's own limit as
  ``squeue`` reports it), the job starts no learner once the time left is less than
  ``TIME_SAFETY`` times the longest training iteration this job has seen (any attempt
  that ended ``ok``, in this or an earlier job process), and exits for resume when the
  running ones ended. A job process always starts its first learners (its time limit
  does not grow by waiting) and, before any iteration ended, has no estimate: then only
  the stop signal ends a learner that cannot finish in time;
- where the user asks for it: with ``resume_after_each_round`` true, under cluster_utils
  the job starts one learner per CPU slot and exits for resume when they ended (one round
  per cluster job, as before: e.g. short jobs that a busy Slurm backfills sooner).

Standalone (no cluster_utils server) rounds do not apply; a time limit does (exit code 3,
"run the same command again to continue").
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass

from learning.contract import OUTCOME_OK
from learning.records.job_state import JobState

#: the time left must be this many times the longest training iteration seen
TIME_SAFETY = 1.25
SQUEUE_SECONDS = 10.0  #: the longest the job waits for squeue's answer
_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


@dataclass(frozen=True)
class TimeLimit:
    deadline: float  #: Unix time by which the job process should have ended
    source: str  #: where the limit comes from, for the job's log


def slurm_seconds(text: str) -> float | None:
    """Seconds of Slurm's ``[days-][hours:]minutes:seconds`` (squeue's %L); None for
    anything else (UNLIMITED, NOT_SET, INVALID)."""
    match = _SLURM_TIME.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def slurm_time_left() -> float | None:
    """Seconds left in this Slurm job's allocation (``squeue -j $SLURM_JOB_ID -o %L``);
    None outside Slurm, without a limit, or if squeue does not answer."""
    job = os.environ.get("SLURM_JOB_ID", "").strip()
    if not job.isdigit():
        return None
    try:
        result = subprocess.run(["squeue", "-h", "-j", job, "-o", "%L"], capture_output=True,
                                text=True, timeout=SQUEUE_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return slurm_seconds(result.stdout.splitlines()[0])


def time_limit(setting: float | None, process_started: float) -> TimeLimit | None:
    """The job process's time limit: the setting, else Slurm's, else none."""
    if setting is not None:
        return TimeLimit(process_started + setting,
                         f"job_time_limit_seconds {setting:g} from the job's start")
    left = slurm_time_left()
    if left is not None:
        return TimeLimit(time.time() + left, f"Slurm's time limit ({left:.0f} s left at the"
                         f" job's start, squeue)")
    return None


def longest_iteration(state: JobState) -> float | None:
    """Wall seconds of the longest learner attempt of the job that ended ``ok``."""
    spans = [attempt.ended - attempt.started for run in state.runs for attempt in run.attempts
             if attempt.outcome == OUTCOME_OK and attempt.started and attempt.ended]
    return max(spans, default=None)


@dataclass
class ChunkRule:
    """Whether the job process may start another learner in this chunk."""

    connected: bool  #: under a cluster_utils server
    every_round: bool  #: the setting resume_after_each_round
    limit: TimeLimit | None

    def stop_reason(self, state: JobState, learners_started: int,
                    now: float | None = None) -> str | None:
        """Why no learner may start now (the chunk ends once the running ones ended);
        None if one may. ``learners_started``: in this job process so far."""
        if learners_started == 0:
            return None
        if self.connected and self.every_round:
            return "round done (resume_after_each_round)"
        if self.limit is None:
            return None
        estimate = longest_iteration(state)
        if estimate is None:
            return None
        left = self.limit.deadline - (time.time() if now is None else now)
        if left < TIME_SAFETY * estimate:
            return (f"time short: {max(left, 0):.0f} s left ({self.limit.source}), a training"
                    f" iteration took up to {estimate:.0f} s")
        return None
