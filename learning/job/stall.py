"""Learners that make no progress: stopped (SIGSTOP), hung in a system call, deadlocked.

A learner the job started renews its heartbeat, the modification time of the empty file
``heartbeat`` in its run folder (learning.contract HEARTBEAT_FILE), about once a second
while it trains and while it evaluates (learning.training.callbacks.Heartbeat).
:class:`StallWatch` looks at the heartbeats of the running learners every quarter of the
job setting ``learner_stall_seconds`` (one ``stat`` per learner; the job waits on its
learners with that timeout, it does not poll) and reports a learner as stalled when:

- it has renewed its heartbeat since it started, and the job has seen no renewal for
  ``learner_stall_seconds``; or
- it has not yet renewed it (its start: imports of torch, stable-baselines3 and MuJoCo,
  the env, a model and replay buffer loaded; minutes on a slow cluster file system) for
  the larger of ``learner_startup_seconds`` and ``learner_stall_seconds``.

The time counts from the look that saw the last renewal (the job's own clock, not the
file system's), so a learner is reported after ``learner_stall_seconds`` of silence and
at most a quarter of it plus a look later. When the job itself did not look for more
than two looks and a second (it was suspended with its learners: SIGSTOP, Slurm's
suspend; or busy), the learners' silence is not theirs: every learner's time starts again.

The job then stops the learner (learning.job.pool: SIGTERM, SIGCONT, SIGKILL after
STALL_KILL_GRACE_SECONDS) and counts the attempt as failed (learning.job.outcomes
:func:`~learning.job.outcomes.stalled`); it is retried up to ``max_attempts`` times,
continuing from the last model it saved.

Pauses of a healthy learner between two heartbeats, which ``learner_stall_seconds`` must
exceed: PPO's update phase (``n_epochs`` passes over ``n_steps * n_envs`` samples), a
checkpoint's save (with SAC's replay buffer: large), the save of the final model and the
start of the evaluation. The default, 1800 s, is far above all of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from learning.job.learner import LearnerExit
from learning.job.pool import LearnerPool, RunningLearner

#: a stalled learner that still runs this long after its SIGTERM and SIGCONT gets SIGKILL
#: (time to save its model if it was only stopped)
STALL_KILL_GRACE_SECONDS = 10.0
#: looks at the heartbeats per learner_stall_seconds
LOOKS_PER_STALL_TIME = 4


@dataclass
class WatchedLearner:
    key: str  #: the attempt's folder name
    heartbeat: Path
    since: float  #: (job clock) its start, or the look that last saw its heartbeat renewed
    mtime_ns: int | None  #: the heartbeat's modification time at that look
    beating: bool = False  #: its heartbeat was renewed since it started
    reported: bool = False  #: reported as stalled (once)


@dataclass(frozen=True)
class Stall:
    """A learner that made no progress for ``seconds``."""

    key: str
    seconds: float
    beating: bool  #: False: it never renewed its heartbeat (stalled while starting)
    allowed: float  #: the silence it was allowed

    def describe(self) -> str:
        if self.beating:
            return (f"no progress for {self.seconds:.1f} s (no heartbeat;"
                    f" learner_stall_seconds {self.allowed:g})")
        return (f"no progress for {self.seconds:.1f} s since it started (no heartbeat yet;"
                f" allowed {self.allowed:g} s: learner_startup_seconds or, if larger,"
                " learner_stall_seconds)")


class StallWatch:
    """The heartbeats of the running learners, and which of them stalled."""

    def __init__(self, stall_seconds: float, startup_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self.startup_seconds = max(startup_seconds, stall_seconds)
        self.look_interval = stall_seconds / LOOKS_PER_STALL_TIME
        self._clock = clock
        self._watched: dict[str, WatchedLearner] = {}
        self._last_look: float | None = None
        self._stopped: dict[str, Stall] = {}  #: learners stopped for a stall, by key

    def wait(self, pool: LearnerPool, log: Callable[[str], None]
             ) -> tuple[RunningLearner, LearnerExit, Stall | None]:
        """Wait for the next learner of ``pool`` to end (reaped): it, how it ended and its
        stall if it was stopped for one. A learner that stalls meanwhile is stopped, with
        a line in ``log`` naming its folder and its silence."""
        while True:
            ended = pool.wait_any(self.timeout())
            if ended is not None:
                learner, result = ended
                self.remove(learner.key)
                return learner, result, self._stopped.pop(learner.key, None)
            for stall in self.look():
                learner = next(learner for learner in pool.running.values()
                               if learner.key == stall.key)
                log(f"{stall.key}: stalled: {stall.describe()}; stopping its learner (pid"
                    f" {learner.process.pid}: SIGTERM and SIGCONT, SIGKILL after"
                    f" {STALL_KILL_GRACE_SECONDS:g} s)")
                pool.stop_stalled(learner, STALL_KILL_GRACE_SECONDS)
                self._stopped[stall.key] = stall

    def add(self, key: str, heartbeat: Path) -> None:
        """Watch a learner just started; ``heartbeat`` is its heartbeat file."""
        now = self._clock()
        if self._last_look is None:
            self._last_look = now
        self._watched[key] = WatchedLearner(key, heartbeat, now, _mtime_ns(heartbeat))

    def remove(self, key: str) -> None:
        """The learner ended."""
        self._watched.pop(key, None)
        if not self._watched:
            self._last_look = None

    def timeout(self) -> float | None:
        """Seconds until the next look; None while no learner is watched."""
        if self._last_look is None or all(w.reported for w in self._watched.values()):
            return None
        return max(self._last_look + self.look_interval - self._clock(), 0.0)

    def look(self) -> list[Stall]:
        """The learners that stalled since the last look (each is reported once)."""
        now = self._clock()
        away = (self._last_look is not None
                and now - self._last_look > 2 * self.look_interval + 1.0)
        self._last_look = now
        stalls = []
        for watched in self._watched.values():
            if watched.reported:
                continue
            mtime = _mtime_ns(watched.heartbeat)
            if mtime != watched.mtime_ns:
                watched.beating = watched.beating or mtime is not None
                watched.since, watched.mtime_ns = now, mtime
            elif away:  # the job did not look for a while: not the learner's silence
                watched.since = now
            allowed = self.stall_seconds if watched.beating else self.startup_seconds
            if now - watched.since >= allowed:
                watched.reported = True
                stalls.append(Stall(watched.key, now - watched.since, watched.beating,
                                    allowed))
        return stalls


def _mtime_ns(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
