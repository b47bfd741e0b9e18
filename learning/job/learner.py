"""Start the learner (``python -m learning CONFIG.json``) as a child process of the job.

SIGTERM, SIGUSR1 and SIGINT sent to the job are forwarded to every running learner
(SIGINT as SIGTERM), which then saves its model and exits with code 75.  A learner runs
in its own session (a terminal's Ctrl-C reaches only the job, which forwards it), gets
SIGTERM if the job dies (Linux ``PR_SET_PDEATHSIG``), runs on the CPUs the job gives it
and with its OpenMP/MKL/OpenBLAS thread counts set to its torch threads, and renews the
heartbeat file the job names in its environment (learning.job.stall).  The job waits for
its learners with :class:`learning.job.pool.LearnerPool`.  A learner is forked by the
job's fork server where it can be (a warm start, learning.job.warm_start: the same
process set-up without the imports), else started as a new process (cold).
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from learning.contract import (
    COMMAND_FILE,
    HEARTBEAT_FILE,
    HEARTBEAT_FILE_VARIABLE,
    LEARNER_MODULE_VARIABLE,
    PROJECT_DIR,
    STDERR_FILE,
    STDOUT_FILE,
)
from learning.job.warm_start import ForkServer, WarmProcess, WarmStartFailed
from learning.locks import try_lock
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
    (one ``flock`` (learning.locks) per CPU on ``cpu<N>.lock`` in the user's private folder
    :func:`cpu_lock_folder`, released when the job process ends) and runs its concurrent
    learners on them, one learner per CPU.  Only for a single machine: under Slurm the
    allocation is right.

    The folder is in a directory every user writes to (/tmp), so it is used only if it is
    the user's own: made with mode 0700, or found a real directory (not a symbolic link)
    of this user that no other user may write to (a folder of an earlier version, mode
    0755, is made 0700).  The lock files are opened without following a symbolic link and
    without truncating, and used only if they are regular files of this user.  Otherwise
    the job prints one warning line and keeps its inherited CPU affinity, as when not
    enough CPUs are free.
    """

    def __init__(self, count: int) -> None:
        self.cpus: frozenset[int] | None = None
        self._files: list[int] = []  #: descriptors of the flock'ed lock files
        folder = cpu_lock_folder()
        try:
            folder_fd = open_private_folder(folder)
        except UnsafeLockFolder as e:
            warn(f"warning: not pinning learners to CPUs: the CPU lock folder {folder}"
                 f" {e}; the job keeps its inherited CPU affinity")
            return
        try:
            self._reserve(count, folder, folder_fd)
        finally:
            os.close(folder_fd)

    def _reserve(self, count: int, folder: Path, folder_fd: int) -> None:
        chosen = []
        for cpu in range(os.cpu_count() or 1):
            if len(chosen) == count:
                break
            name = f"cpu{cpu}.lock"
            try:
                fd = open_lock_file(name, folder_fd)
            except UnsafeLockFile as e:
                warn(f"warning: not using CPU {cpu} for pinning: {folder / name} {e}")
                continue
            try:
                taken = try_lock(fd)
            except OSError:  # a file system that cannot lock: not this CPU
                taken = False
            if not taken:
                os.close(fd)
                continue
            self._files.append(fd)
            chosen.append(cpu)
        if len(chosen) == count:
            self.cpus = frozenset(chosen)
        else:  # not enough free CPUs: keep the inherited affinity
            self.release()

    def release(self) -> None:
        for fd in self._files:
            os.close(fd)
        self._files = []


class UnsafeLockFolder(Exception):
    """The CPU lock folder is not the user's own; the message says why."""


class UnsafeLockFile(Exception):
    """A CPU lock file is not a regular file of the user; the message says why."""


def cpu_lock_folder() -> Path:
    """``lttfs-cpu-locks-<uid>`` in the temporary directory (TMPDIR, else /tmp)."""
    return Path(tempfile.gettempdir()) / f"lttfs-cpu-locks-{os.getuid()}"


def open_private_folder(folder: Path) -> int:
    """A descriptor of ``folder``, made with mode 0700 if missing; UnsafeLockFolder if it
    is a symbolic link, not a directory, another user's, or writable by others."""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise UnsafeLockFolder(f"cannot be made ({os.strerror(e.errno or 0).lower()})") from e
    try:  # O_NOFOLLOW: a symbolic link fails here, and fstat checks what was opened
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if os.path.islink(folder):
            raise UnsafeLockFolder("is a symbolic link (expected a folder of this user,"
                                   " mode 0700)") from e
        raise UnsafeLockFolder(f"cannot be opened ({os.strerror(e.errno or 0).lower()};"
                               " expected a folder of this user, mode 0700)") from e
    try:
        info = os.fstat(fd)
        uid = os.getuid()
        if info.st_uid != uid:
            raise UnsafeLockFolder(f"belongs to uid {info.st_uid}, not to this user (uid {uid});"
                                   " another user may have made it")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o022:
            raise UnsafeLockFolder(f"has mode {mode:04o}: other users may write to it"
                                   " (expected 0700; remove the folder)")
        if mode & 0o077:  # readable by others (an earlier version made it 0755): ours alone
            os.fchmod(fd, mode & 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_lock_file(name: str, folder_fd: int) -> int:
    """A descriptor of the lock file ``name`` in the folder, read-write, made with mode
    0600 if missing; never through a symbolic link, never truncated. UnsafeLockFile if it
    is not a regular file of this user."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(name, flags, 0o600, dir_fd=folder_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeLockFile("is a symbolic link") from e
        raise UnsafeLockFile(f"cannot be opened ({os.strerror(e.errno or 0).lower()})") from e
    info = os.fstat(fd)
    why = None
    if not stat.S_ISREG(info.st_mode):
        why = "is not a regular file"
    elif info.st_uid != os.getuid():
        why = f"belongs to uid {info.st_uid}, not to this user (uid {os.getuid()})"
    if why is not None:
        os.close(fd)
        raise UnsafeLockFile(why)
    return fd


def warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def learner_slots(cpus: Iterable[int], per_learner: int) -> list[frozenset[int]]:
    """The job's CPUs split into one CPU set per concurrent learner, ``per_learner`` CPUs
    each (left-over CPUs stay idle); all of them for one learner if there are fewer."""
    cpus = sorted(cpus)
    count = len(cpus) // per_learner
    if count <= 1:
        return [frozenset(cpus)]
    return [frozenset(cpus[i * per_learner:(i + 1) * per_learner]) for i in range(count)]


def learner_module() -> str:
    """The module a job runs as its learner: ``learning``, or the module named by the
    environment variable LTTFS_LEARNER_MODULE. That variable is a benchmark/testing hook
    (benchmarks/search_efficiency.py runs a stand-in learner that writes the same files);
    a sweep passes it on from the launcher's environment to its jobs."""
    name = os.environ.get(LEARNER_MODULE_VARIABLE, "").strip() or "learning"
    if not all(part.isidentifier() for part in name.split(".")):
        raise ValueError(f"environment variable {LEARNER_MODULE_VARIABLE}={name!r} is not a"
                         " module name (e.g. benchmarks.learning_standin); unset it to run"
                         " the real learner")
    return name


def learner_command(config_file: str) -> list[str]:
    return [sys.executable, "-m", learner_module(), config_file]


def learner_env(threads: int, heartbeat: Path | None = None) -> dict[str, str]:
    """The job's environment with the project on PYTHONPATH (the child's cwd differs),
    the thread counts of the numerical libraries set to the learner's torch threads and
    the learner's ``heartbeat`` file named (learning.job.stall)."""
    env = dict(os.environ)
    env.pop(HEARTBEAT_FILE_VARIABLE, None)
    if heartbeat is not None:
        env[HEARTBEAT_FILE_VARIABLE] = str(heartbeat)
    paths = [str(PROJECT_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.setdefault("MPLBACKEND", "Agg")
    return env


def start_learner(
    run_dir: Path, config_file: str, cpus: frozenset[int] | None, threads: int,
    fork_server: ForkServer | None = None,
) -> subprocess.Popen | WarmProcess:
    """Start the learner in ``run_dir`` on ``config_file`` (relative to run_dir), on
    ``cpus`` (None: the job's) with ``threads`` threads: forked by ``fork_server`` if it
    can (learning.job.warm_start), else as a new process; its command goes to
    command.txt, its heartbeat file (an empty file, contract HEARTBEAT_FILE) is made
    afresh."""
    command = learner_command(config_file)
    heartbeat = run_dir / HEARTBEAT_FILE
    env = learner_env(threads, heartbeat.resolve())
    pin = f"taskset --cpu-list {','.join(map(str, sorted(cpus)))} " if cpus else ""
    variables = " ".join(f"{name}={threads}" for name in THREAD_VARIABLES)
    (run_dir / COMMAND_FILE).write_text(
        f"cd {shlex.quote(str(run_dir))} && PYTHONPATH={shlex.quote(env['PYTHONPATH'])}"
        f" {variables} {pin}{shlex.join(command)}\n"
    )
    heartbeat.write_bytes(b"")
    with open(run_dir / STDOUT_FILE, "wb") as out, open(run_dir / STDERR_FILE, "wb") as err:
        if fork_server is not None and fork_server.usable:
            try:
                return fork_server.spawn(command, run_dir, env, cpus, out.fileno(),
                                         err.fileno())
            except WarmStartFailed:
                pass  # fork_server.failure says why; the job logs it
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
        if not any(part == b"learning" or part.startswith(b"learning.") for part in cmdline):
            return True  # the pid was reused by an unrelated process (a learner forked by
            # the job's fork server shows its command: -m learning.fork_server)
        try:
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)  # a stopped process acts on SIGTERM only then
        except ProcessLookupError:
            return True
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)
