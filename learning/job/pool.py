"""The job's running learners: start several, wait for whichever ends first.

Each learner gets a watcher thread that blocks in ``os.waitid(..., WNOWAIT)`` until the
learner exits (no polling) and then reports it on a queue; the job's main thread, which
alone touches the restart state, takes the report, stops forwarding signals to that
pid and only then reaps the process (``os.wait4``, which also yields its CPU time), so a
pid is never signalled after the system could reuse it.  The watcher threads block the
stop signals: the kernel delivers them to the main thread, whose handler forwards them
at once even while it waits on the queue.

:meth:`LearnerPool.wait_any` waits at most a given time (the job then looks for stalled
learners, learning.job.stall); :meth:`LearnerPool.stop_stalled` stops a learner that
makes no progress: SIGTERM (it saves and exits if it can), SIGCONT to its process group (a
stopped process acts on SIGTERM only once continued; its env worker processes too), and
SIGKILL to the group if it still runs after a grace time. The process group is the
learner's own session (it is its leader), and the learner is not reaped before its end
is taken from the queue, so its id cannot name another group meanwhile.

Learners forked by the job's fork server (warm starts, learning.job.warm_start) are the
job's children too and are handled the same way.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from learning.contract import HEARTBEAT_FILE
from learning.job.learner import (
    FORWARDED_SIGNALS,
    LearnerExit,
    SignalForwarder,
    start_learner,
)
from learning.job.warm_start import ForkServer, WarmProcess, reap_orphans


@dataclass
class RunningLearner:
    key: str  #: what the job calls it (the attempt's folder name)
    process: subprocess.Popen | WarmProcess  #: WarmProcess: forked by the fork server
    cpus: frozenset[int] | None
    started: float
    heartbeat: Path  #: the file whose modification time the learner renews (contract)
    #: time.monotonic() at which it gets SIGKILL if it still runs (stopped for a stall)
    kill_at: float | None = None


class LearnerPool:
    """Learner processes started by :meth:`start`, ended ones taken by :meth:`wait_any`."""

    def __init__(self, forwarder: SignalForwarder) -> None:
        self.forwarder = forwarder
        self.running: dict[int, RunningLearner] = {}
        self._ended: queue.Queue[tuple[int, float]] = queue.Queue()
        #: forks the learners where it can (learning.job.warm_start); None: all cold
        self.fork_server: ForkServer | None = None
        self._sessions: set[int] = set()  #: every learner's pid (its session's id)

    def __len__(self) -> int:
        return len(self.running)

    def start(self, key: str, run_dir: Path, config_file: str,
              cpus: frozenset[int] | None, threads: int) -> RunningLearner:
        started = time.time()
        process = start_learner(run_dir, config_file, cpus, threads, self.fork_server)
        learner = RunningLearner(key, process, cpus, started, run_dir / HEARTBEAT_FILE)
        self.running[process.pid] = learner
        self._sessions.add(process.pid)
        self.forwarder.add(process.pid)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
        try:  # the watcher inherits the blocked signals from its first instruction on
            threading.Thread(target=self._watch, args=(process.pid,), daemon=True,
                             name=f"watch learner {process.pid}").start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return learner

    def _watch(self, pid: int) -> None:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass  # reaped elsewhere (close): wait4 will say so
        self._ended.put((pid, time.time()))

    def wait_any(self, timeout: float | None = None) -> tuple[RunningLearner, LearnerExit] | None:
        """Wait until one of the running learners ends; reap it and say how it ended. None
        if none ended within ``timeout`` seconds (None: wait as long as it takes). Sends
        the SIGKILLs that :meth:`stop_stalled` scheduled while it waits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = self._seconds_to(deadline, self._next_kill())
            try:
                pid, ended = self._ended.get(timeout=wait)
                break
            except queue.Empty:
                self._kill_overdue()
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        return self._reap(pid, ended)

    @staticmethod
    def _seconds_to(*moments: float | None) -> float | None:
        """Seconds from now to the earliest of ``moments`` (monotonic; None: never)."""
        due = [moment for moment in moments if moment is not None]
        return max(min(due) - time.monotonic(), 0.0) if due else None

    def _next_kill(self) -> float | None:
        return min((learner.kill_at for learner in self.running.values()
                    if learner.kill_at is not None), default=None)

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for pid, learner in self.running.items():
            if learner.kill_at is not None and learner.kill_at <= now:
                learner.kill_at = None
                _signal_group(pid, signal.SIGKILL)

    def stop_stalled(self, learner: RunningLearner, grace: float) -> None:
        """Stop a learner that makes no progress: SIGTERM, SIGCONT, and SIGKILL after
        ``grace`` seconds if it still runs then (sent while :meth:`wait_any` waits)."""
        pid = learner.process.pid
        _signal(pid, signal.SIGTERM)
        _signal_group(pid, signal.SIGCONT)
        learner.kill_at = time.monotonic() + grace

    def _reap(self, pid: int, ended: float) -> tuple[RunningLearner, LearnerExit]:
        learner = self.running.pop(pid)
        self.forwarder.remove(pid)
        _, status, usage = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        learner.process.returncode = code
        if self.fork_server is not None:  # the job is a subreaper: reap what learners left
            reap_orphans(self._sessions, set(self.running))
        return learner, LearnerExit(
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            started=learner.started,
            ended=ended,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
        )

    def terminate_all(self) -> None:
        """Ask every running learner to save and exit (SIGTERM; SIGCONT for one that was
        stopped)."""
        for pid in self.running:
            _signal(pid, signal.SIGTERM)
            _signal_group(pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop and reap learners still running (the job is ending on an error), then end
        the fork server."""
        self.terminate_all()
        while self.running:
            self.wait_any()
        if self.fork_server is not None:
            reap_orphans(self._sessions, set())
            self.fork_server.close()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _signal_group(pid: int, signum: int) -> None:
    """``signum`` to the process group the learner ``pid`` leads (its own session)."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass
