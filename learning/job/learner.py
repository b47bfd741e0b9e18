"""Run the learner (``python -m learning CONFIG.json``) as a child process of the job.

The job waits on the child with ``os.wait4`` (no polling), which also yields the
child's CPU time.  SIGTERM, SIGUSR1 and SIGINT sent to the job are forwarded to the
child (SIGINT as SIGTERM), which then saves its model and exits with code 75.  The
child runs in its own session (a terminal's Ctrl-C reaches only the job, which
forwards it) and gets SIGTERM if the job dies (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from learning.contract import COMMAND_FILE, PROJECT_DIR, STDERR_FILE, STDOUT_FILE
from learning.signal_handlers import SignalHandlers

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


@dataclass
class LearnerExit:
    """How one learner process ended."""

    exit_code: int | None  # None when killed by a signal
    signal: int | None  # the signal that killed it, if any
    started: float
    ended: float
    cpu_seconds: float

    def describe(self) -> str:
        if self.signal is not None:
            return f"killed by {signal.Signals(self.signal).name}"
        return f"exit code {self.exit_code}"


class SignalForwarder:
    """Catches the stop signals while installed and passes them on to the child."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.child: subprocess.Popen | None = None
        self._handlers = SignalHandlers()

    def install(self) -> None:
        self._handlers.install(FORWARDED_SIGNALS, self._handle)

    def restore(self) -> None:
        self._handlers.restore()

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
        self.forward()

    def forward(self) -> None:
        child = self.child
        if child is not None and self.received is not None:
            signum = signal.SIGTERM if self.received == signal.SIGINT else self.received
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    def describe(self) -> str:
        return signal.Signals(self.received).name if self.received else "no signal"


try:  # looked up once here: the child runs only the call, between fork and exec
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None
_PR_SET_PDEATHSIG = 1


def _child_setup(cpus: frozenset[int] | None) -> None:
    """Runs in the child between fork and exec: die with the job, use the given CPUs."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if cpus:
        os.sched_setaffinity(0, cpus)


class CpuReservation:
    """Exclusive CPUs for this job's learners among the jobs on this machine.

    cluster_utils 3.0's local mode pins every job to ``request_cpus`` CPUs drawn at
    random, without regard to the jobs already running, so two concurrent jobs often
    share one core while another idles.  With the job setting ``local_cpu_pinning`` the
    job instead takes as many CPUs as it was given from those no other such job holds
    (one ``flock`` per CPU under /tmp, released when the job process ends) and runs its
    learners on them.  Only for a single machine: under Slurm the allocation is right.
    """

    def __init__(self, count: int) -> None:
        self.cpus: frozenset[int] | None = None
        self._files = []
        folder = Path(tempfile.gettempdir()) / f"lttfs-cpu-locks-{os.getuid()}"
        folder.mkdir(exist_ok=True)
        chosen = []
        for cpu in range(os.cpu_count() or 1):
            if len(chosen) == count:
                break
            handle = open(folder / f"cpu{cpu}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._files.append(handle)
            chosen.append(cpu)
        if len(chosen) == count:
            self.cpus = frozenset(chosen)
        else:  # not enough free CPUs: keep the inherited affinity
            self.release()

    def release(self) -> None:
        for handle in self._files:
            handle.close()
        self._files = []


def learner_command(config_file: str) -> list[str]:
    return [sys.executable, "-m", "learning", config_file]


def learner_env() -> dict[str, str]:
    """The job's environment with the project on PYTHONPATH (the child's cwd differs)."""
    env = dict(os.environ)
    paths = [str(PROJECT_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_learner(
    run_dir: Path,
    config_file: str,
    forwarder: SignalForwarder,
    on_start: object = None,
    cpus: frozenset[int] | None = None,
) -> LearnerExit:
    """Run the learner in ``run_dir`` on ``config_file`` (relative to run_dir); wait for it.

    ``on_start(pid)`` is called once the child exists (the job records it); ``cpus``: the
    CPU affinity of the learner (default: the job's).
    """
    command = learner_command(config_file)
    env = learner_env()
    pin = f"taskset --cpu-list {','.join(map(str, sorted(cpus)))} " if cpus else ""
    (run_dir / COMMAND_FILE).write_text(
        f"cd {shlex.quote(str(run_dir))} && PYTHONPATH={shlex.quote(env['PYTHONPATH'])}"
        f" {pin}{shlex.join(command)}\n"
    )
    with open(run_dir / STDOUT_FILE, "wb") as out, open(run_dir / STDERR_FILE, "wb") as err:
        started = time.time()
        child = subprocess.Popen(
            command, cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, preexec_fn=lambda: _child_setup(cpus),
        )
    forwarder.child = child
    forwarder.forward()  # a signal that arrived while the child was being started
    if callable(on_start):
        on_start(child.pid)
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        forwarder.child = None
    ended = time.time()
    child.returncode = os.waitstatus_to_exitcode(status)
    code = child.returncode
    return LearnerExit(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        started=started,
        ended=ended,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


def stop_orphan(pid: int, timeout: float = 60.0) -> bool:
    """Ask a learner left running by a killed job to save and exit; wait for it.

    Returns whether the process is gone.  Waits on a pidfd (no polling).
    """
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, AttributeError, OSError):
        return True
    try:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True
        if b"learning" not in cmdline:
            return True  # the pid was reused by an unrelated process
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return True
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)
