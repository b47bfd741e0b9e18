"""Start the learner (``python -m learning CONFIG.json``) as a child process of the job.

SIGTERM, SIGUSR1 and SIGINT sent to the job are forwarded to every running learner
(SIGINT as SIGTERM), which then saves its model and exits with code 75.  A learner runs
in its own session (a terminal's Ctrl-C reaches only the job, which forwards it), gets
SIGTERM if the job dies (Linux ``PR_SET_PDEATHSIG``), runs on the CPUs the job gives it
and with its OpenMP/MKL/OpenBLAS thread counts set to its torch threads.  The job waits
for its learners with :class:`learning.job.pool.LearnerPool`.
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from learning.contract import COMMAND_FILE, PROJECT_DIR, STDERR_FILE, STDOUT_FILE
from learning.signal_handlers import SignalHandlers

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
#: set to the learner's torch threads in its environment
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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
    """Catches the stop signals while installed and passes them on to the learners."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.children: set[int] = set()  # pids of the running learners
        self._handlers = SignalHandlers()

    def install(self) -> None:
        self._handlers.install(FORWARDED_SIGNALS, self._handle)

    def restore(self) -> None:
        self._handlers.restore()

    def add(self, pid: int) -> None:
        """A new learner; it also gets a signal that arrived while it was being started."""
        self.children.add(pid)
        self._send(pid)

    def remove(self, pid: int) -> None:
        """Call before reaping the learner, so that its pid is never signalled once reused."""
        self.children.discard(pid)

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
        for pid in list(self.children):
            self._send(pid)

    def _send(self, pid: int) -> None:
        if self.received is None:
            return
        signum = signal.SIGTERM if self.received == signal.SIGINT else self.received
        try:
            os.kill(pid, signum)
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
    concurrent learners on them, one learner per CPU.  Only for a single machine: under
    Slurm the allocation is right.
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


def learner_slots(cpus: Iterable[int], per_learner: int) -> list[frozenset[int]]:
    """The job's CPUs split into one CPU set per concurrent learner, ``per_learner`` CPUs
    each (left-over CPUs stay idle); all of them for one learner if there are fewer."""
    cpus = sorted(cpus)
    count = len(cpus) // per_learner
    if count <= 1:
        return [frozenset(cpus)]
    return [frozenset(cpus[i * per_learner:(i + 1) * per_learner]) for i in range(count)]


def learner_command(config_file: str) -> list[str]:
    return [sys.executable, "-m", "learning", config_file]


def learner_env(threads: int) -> dict[str, str]:
    """The job's environment with the project on PYTHONPATH (the child's cwd differs) and
    the thread counts of the numerical libraries set to the learner's torch threads."""
    env = dict(os.environ)
    paths = [str(PROJECT_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.setdefault("MPLBACKEND", "Agg")
    return env


def start_learner(
    run_dir: Path, config_file: str, cpus: frozenset[int] | None, threads: int
) -> subprocess.Popen:
    """Start the learner in ``run_dir`` on ``config_file`` (relative to run_dir), on
    ``cpus`` (None: the job's) with ``threads`` threads; its command goes to command.txt."""
    command = learner_command(config_file)
    env = learner_env(threads)
    pin = f"taskset --cpu-list {','.join(map(str, sorted(cpus)))} " if cpus else ""
    variables = " ".join(f"{name}={threads}" for name in THREAD_VARIABLES)
    (run_dir / COMMAND_FILE).write_text(
        f"cd {shlex.quote(str(run_dir))} && PYTHONPATH={shlex.quote(env['PYTHONPATH'])}"
        f" {variables} {pin}{shlex.join(command)}\n"
    )
    with open(run_dir / STDOUT_FILE, "wb") as out, open(run_dir / STDERR_FILE, "wb") as err:
        return subprocess.Popen(
            command, cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, preexec_fn=lambda: _child_setup(cpus),
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
