"""Warm learner starts: the job's fork server (learning.fork_server), from the job's side.

A cold learner (``python -m learning CONFIG``) spends seconds importing torch,
torch._dynamo, stable-baselines3 and MuJoCo before it trains; a job that trains
``learning_runs_per_job x training_iterations`` learners paid that for each. With the
job setting ``warm_learner_start`` (default true) the job starts one fork server per
job process, which imports them once (while the job prepares its first learner) and
forks every learner from then on (milliseconds).

The job makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``) so that a learner
forked by the server's intermediate process becomes the job's own child: the job's
pool (learning.job.pool) waits for it, forwards signals to it, stops it when it stalls
and reads its exit code and CPU time with ``wait4``, as for a learner it started
itself; the learner runs in its own session on the CPUs the job gives it, with its own
stdout.log and stderr.log, working directory and environment, and dies with the job
(``PR_SET_PDEATHSIG``). Its command.txt is the cold command, which reruns it by hand.

Orphans: as a subreaper, the job also becomes the parent of the processes a learner
leaves behind when it is killed (its env workers with ``vec_env`` "subproc"); the pool
reaps those of its learners' sessions once they end (:func:`reap_orphans`).

Whenever the server cannot be used (``prctl`` unavailable, its imports failed, it died,
it did not get ready within ``learner_startup_seconds``) the job logs why once and
starts its learners cold, as before.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from learning.fork_server import MAX_MESSAGE

FORK_SERVER_LOG = "fork_server.log"
REPLY_SECONDS = 60.0  #: the longest a fork may take
_PR_SET_CHILD_SUBREAPER = 36

try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


class WarmStartFailed(Exception):
    """The fork server cannot start this learner; the message says why."""


class WarmProcess:
    """A learner forked by the fork server, as the pool keeps it (like subprocess.Popen)."""

    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None


def set_child_subreaper(on: bool) -> bool:
    if _PRCTL is None:
        return False
    return _PRCTL(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0


class ForkServer:
    """The fork server of this job process; :meth:`spawn` forks a learner."""

    def __init__(self, working_dir: Path, module: str, env: dict[str, str],
                 ready_seconds: float, cpus: frozenset[int] | None = None) -> None:
        """Start the server in ``working_dir`` for learners of ``module``, with the
        learners' environment ``env``, on ``cpus`` (None: the job's own); it may take
        ``ready_seconds`` for its imports."""
        self.module = module
        self.ready_seconds = ready_seconds
        self.ready: bool | None = None  #: None until the server said whether it is
        self.seconds: float | None = None  #: how long its imports took (its own clock)
        self.failure: str | None = None  #: why learners start cold (once set)
        self.started = time.time()
        self.process: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self._subreaper = False
        if not set_child_subreaper(True):
            self.failure = "the job cannot become a child subreaper (prctl)"
            return
        self._subreaper = True
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with open(working_dir / FORK_SERVER_LOG, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "learning.fork_server", str(theirs.fileno()),
                     str(os.getpid()), module,
                     ",".join(map(str, sorted(cpus))) if cpus else "-"],
                    cwd=working_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=log, pass_fds=(theirs.fileno(),), start_new_session=True)
        except OSError as e:
            ours.close()
            self.failure = f"the fork server could not be started: {e}"
            return
        finally:
            theirs.close()
        self.sock = ours

    @property
    def usable(self) -> bool:
        return self.failure is None

    def _fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
        self._stop_server()

    def _wait_ready(self) -> bool:
        """Whether the server is ready (waits for its imports once)."""
        if self.ready is None and self.sock is not None:
            message = self._receive(self.ready_seconds, "get ready")
            if message is None:
                return False
            self.ready = bool(message.get("ready"))
            self.seconds = message.get("seconds")
            if not self.ready:
                self._fail(f"the fork server is not usable: {message.get('error')}")
        return bool(self.ready) and self.usable

    def _receive(self, timeout: float, doing: str) -> dict | None:
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"the fork server did not {doing} within {timeout:g} s")
                return None
            readable, _, _ = select.select([self.sock], [], [], left)
            if readable:
                break
        try:
            data = self.sock.recv(MAX_MESSAGE)
        except OSError as e:
            self._fail(f"the fork server's socket failed: {e}")
            return None
        if not data:
            self._fail(f"the fork server ended ({self._exit_status()}; see"
                       f" {FORK_SERVER_LOG})")
            return None
        try:
            return json.loads(data)
        except ValueError:
            self._fail("the fork server sent a malformed message")
            return None

    def spawn(self, command: list[str], cwd: Path, env: dict[str, str],
              cpus: frozenset[int] | None, stdout: int, stderr: int) -> WarmProcess:
        """Fork the learner ``command`` (``python -m MODULE ARGV...``) with these settings;
        WarmStartFailed if the server cannot (the learner should then start cold)."""
        if not self.usable or not self._wait_ready():
            raise WarmStartFailed(self.failure or "the fork server is not ready")
        assert self.sock is not None
        request = {"module": command[2], "argv": command[3:], "cwd": str(cwd), "env": env,
                   "cpus": sorted(cpus) if cpus else None}
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()], [stdout, stderr])
        except OSError as e:
            self._fail(f"the fork server's socket failed: {e}")
            raise WarmStartFailed(self.failure) from e
        reply = self._receive(REPLY_SECONDS, "fork a learner")
        if reply is None:
            raise WarmStartFailed(self.failure)
        if "pid" not in reply:
            self._fail(f"the fork server could not fork a learner: {reply.get('error')}")
            raise WarmStartFailed(self.failure)
        return WarmProcess(int(reply["pid"]), command)

    def _exit_status(self) -> str:
        if self.process is None:
            return "not started"
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "still running"
        return f"exit code {code}"

    def _stop_server(self) -> None:
        if self.sock is not None:
            self.sock.close()  # the server ends when its socket closes
            self.sock = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        """End the server (its learners have ended) and stop being a subreaper."""
        self._stop_server()
        if self._subreaper:
            set_child_subreaper(False)
            self._subreaper = False


def reap_orphans(sessions: set[int], keep: set[int]) -> list[int]:
    """Reap this process's ended children that belong to one of the learner ``sessions``
    (what a killed learner left, re-parented to the job as a subreaper), except ``keep``
    (the learners the pool waits for itself). Returns their pids."""
    reaped = []
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return reaped
    for entry in entries:
        if not entry.isdigit() or int(entry) in keep:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        state, parent, session = fields[0], int(fields[1]), int(fields[3])
        if parent != me or session not in sessions or state != b"Z":
            continue
        try:
            if os.waitpid(int(entry), os.WNOHANG)[0]:
                reaped.append(int(entry))
        except ChildProcessError:
            pass
    return reaped
