"""The job's running learners: start several, wait for whichever ends first.

Each learner gets a watcher thread that blocks in ``os.waitid(..., WNOWAIT)`` until the
learner exits (no polling) and then reports it on a queue; the job's main thread, which
alone touches the restart state, takes the report, stops forwarding signals to that
pid and only then reaps the process (``os.wait4``, which also yields its CPU time), so a
pid is never signalled after the system could reuse it.  The watcher threads block the
stop signals: the kernel delivers them to the main thread, whose handler forwards them
at once even while it waits on the queue.
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

from learning.job.learner import (
    FORWARDED_SIGNALS,
    LearnerExit,
    SignalForwarder,
    start_learner,
)


@dataclass
class RunningLearner:
    key: str  #: what the job calls it (the attempt's folder name)
    process: subprocess.Popen
    cpus: frozenset[int] | None
    started: float


class LearnerPool:
    """Learner processes started by :meth:`start`, ended ones taken by :meth:`wait_any`."""

    def __init__(self, forwarder: SignalForwarder) -> None:
        self.forwarder = forwarder
        self.running: dict[int, RunningLearner] = {}
        self._ended: queue.Queue[tuple[int, float]] = queue.Queue()

    def __len__(self) -> int:
        return len(self.running)

    def start(self, key: str, run_dir: Path, config_file: str,
              cpus: frozenset[int] | None, threads: int) -> RunningLearner:
        started = time.time()
        process = start_learner(run_dir, config_file, cpus, threads)
        learner = RunningLearner(key, process, cpus, started)
        self.running[process.pid] = learner
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

    def wait_any(self) -> tuple[RunningLearner, LearnerExit]:
        """Wait until one of the running learners ends; reap it and say how it ended."""
        pid, ended = self._ended.get()
        learner = self.running.pop(pid)
        self.forwarder.remove(pid)
        _, status, usage = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        learner.process.returncode = code
        return learner, LearnerExit(
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            started=learner.started,
            ended=ended,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
        )

    def terminate_all(self) -> None:
        """Ask every running learner to save and exit (SIGTERM)."""
        for pid in self.running:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Stop and reap learners still running (the job is ending on an error)."""
        self.terminate_all()
        while self.running:
            self.wait_any()
