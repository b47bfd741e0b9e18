"""The fork server of a job: the learner's libraries imported once, a learner forked per request.

``python -m learning.fork_server FD JOB_PID MODULE CPUS`` is started by the job
(learning.job.warm_start) with one end of a ``SOCK_SEQPACKET`` socket pair as descriptor
FD. It runs on the job's CPUs (CPUS, e.g. ``0,3``: those the job reserved with
local_cpu_pinning, else its own; ``-``: as started) and imports what the learner
``python -m MODULE`` needs (for the real learner, ``learning``: torch and torch._dynamo,
which torch's optimizers import on first use, stable-baselines3, gymnasium, MuJoCo
without OpenGL, learning.training), sends one message ``{"ready": true, "seconds": S}``
(or ``{"ready": false, "error": ...}``), and then forks one learner per request. It
never runs a torch operation, starts no thread and never initializes CUDA, so a fork has
exactly one thread and no device state; if its imports left it with more than one
thread it refuses (not ready) and the job starts its learners cold.

A request is JSON ``{"module", "argv", "cwd", "env", "cpus"}`` with two descriptors
(SCM_RIGHTS): the learner's stdout and stderr files, which the job opened.  The learner
is a grandchild: the server forks a short-lived intermediate process that forks the
learner and exits, so the learner is re-parented to the job, which is a child
subreaper (``PR_SET_CHILD_SUBREAPER``): the job waits for it, reaps it and reads its
exit code and CPU time exactly as for a learner it started itself.  The server replies
``{"pid": N}`` once the learner is the job's child (else ``{"error": ...}``, and the
learner is killed before it ran anything).  The learner, before it runs:

- starts its own session (setsid: the job signals its process group), takes the CPUs of
  the request (sched_setaffinity), waits until it is the job's child, then asks for
  SIGTERM when the job dies (``PR_SET_PDEATHSIG``) and checks that the job still lives;
- gets /dev/null as stdin and the request's files as stdout and stderr (fresh Python
  stdio objects, buffered as a new interpreter's would be), the request's environment
  (thread counts included; torch's threads are set by the learner from its config), the
  run folder as working directory and first entry of sys.path, the default handlers of
  SIGTERM, SIGUSR1 and SIGINT, fresh random states, and
  ``sys.orig_argv = [python, -m, MODULE, *argv]`` (run_info.json's command);
- runs MODULE as ``__main__`` (runpy, as ``python -m`` does) and exits as an interpreter
  does (:func:`exit_as_interpreter`): its exit code, an uncaught exception printed (exit
  code 1), non-daemon threads joined, atexit handlers run, stdio flushed (exit code 120
  if that fails) - but without tearing down the modules it shares with the server:
  that would touch, and so copy, most of the server's memory (about a second per
  learner). The learner closes its own files and env workers before it returns.

After its imports the server moves every object it holds out of the garbage collector's
reach (``gc.freeze``), so that a learner's collections do not copy those pages either.

The server ends when the job closes its socket, and is killed when the job dies
(``PR_SET_PDEATHSIG`` SIGKILL). It ignores SIGUSR1 (Slurm's warning signal reaches every
process of a job step) and SIGINT; its stdout and stderr go to the job's
``fork_server.log``.
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import io
import json
import os
import runpy
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import NoReturn

MAX_MESSAGE = 1 << 20  #: bytes of one request or reply at most
#: what the real learner imports, in its order (learning.training imports the rest)
LEARNER_LIBRARIES = ("torch", "torch._dynamo", "stable_baselines3", "gymnasium", "mujoco",
                     "learning.training.train", "learning.envs")
_PR_SET_PDEATHSIG = 1

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _PRCTL = _LIBC.prctl
except (OSError, AttributeError):
    _LIBC = _PRCTL = None


@dataclass
class LearnerRequest:
    """What a forked learner runs, and the descriptors it was given."""

    module: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    stdout: int
    stderr: int


def preload(module: str) -> None:
    """Import what ``python -m module`` will import (only the real learner's are known)."""
    if module != "learning":
        return
    from learning.envs.opengl import disable_opengl

    disable_opengl()  # as the learner does before mujoco is imported
    for name in LEARNER_LIBRARIES:
        __import__(name)


def thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # unknown: refuse


def send(sock: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """The next message and its descriptors; (None, []) when the peer closed."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), list(fds)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fd, job_pid, module, cpus = int(argv[0]), int(argv[1]), argv[2], argv[3]
    if cpus != "-":
        os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != job_pid:
        return 1  # the job died before the parent death signal was set
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    started = time.monotonic()
    try:
        preload(module)
    except BaseException as e:  # an import that fails: the learner reports it itself
        send(sock, {"ready": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    threads = thread_count()
    if threads != 1:
        send(sock, {"ready": False, "error": f"{threads} threads after the imports (a fork"
                    " needs exactly one)"})
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # the learners' collections then leave the server's objects (pages) alone
    send(sock, {"ready": True, "seconds": round(time.monotonic() - started, 3)})
    request = serve(sock, job_pid)
    if request is None:  # the job closed the socket: end now, nothing to tear down
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    run_learner(request)


def serve(sock: socket.socket, job_pid: int) -> LearnerRequest | None:
    """Fork a learner per request until the job closes the socket (None); in the forked
    learner, return its request."""
    while True:
        message, fds = receive(sock)
        if message is None:
            return None
        try:
            request = LearnerRequest(message["module"], list(message["argv"]), message["cwd"],
                                     dict(message["env"]), fds[0], fds[1])
            cpus = message.get("cpus")
        except (KeyError, IndexError, TypeError) as e:
            for fd in fds:
                os.close(fd)
            send(sock, {"error": f"malformed request: {e!r}"})
            continue
        learner = spawn(sock, request, cpus, job_pid)
        if learner is not None:
            return learner


def spawn(sock: socket.socket, request: LearnerRequest, cpus: list[int] | None,
          job_pid: int) -> LearnerRequest | None:
    """Fork the learner of ``request`` as a child of the job and reply with its pid.
    Returns the request in the learner, None in the server."""
    sys.stdout.flush()  # nothing of the server's output may be written again by a fork
    sys.stderr.flush()
    report_r, report_w = os.pipe()  # the learner's pid, once it set itself up
    go_r, go_w = os.pipe()  # the server's go: the learner is the job's child now
    intermediate = os.fork()
    if intermediate == 0:  # the intermediate process
        if os.fork() == 0:  # the learner
            os.close(report_r)
            os.close(go_w)
            sock.close()
            _become_learner(request, cpus, report_w, go_r, job_pid)
            return request
        os._exit(0)
    os.close(report_w)
    os.close(go_r)
    os.close(request.stdout)
    os.close(request.stderr)
    try:
        os.waitpid(intermediate, 0)  # the learner is re-parented before this returns
        data = _read_all(report_r)
        pid = int(data) if data.strip().isdigit() else None
        if pid is None:
            send(sock, {"error": "the learner ended before it started"})
        elif _parent_of(pid) != job_pid:
            os.kill(pid, signal.SIGKILL)
            send(sock, {"error": f"the learner (pid {pid}) is not the job's child (is the"
                        " job a child subreaper?)"})
        else:
            os.write(go_w, b"g")
            send(sock, {"pid": pid})
    finally:
        os.close(report_r)
        os.close(go_w)
    return None


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 64):
        chunks.append(chunk)
    return b"".join(chunks)


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _become_learner(request: LearnerRequest, cpus: list[int] | None, report_w: int,
                    go_r: int, job_pid: int) -> None:
    """In the forked learner: the process set-up a learner started by the job gets."""
    os.setsid()
    if cpus:
        os.sched_setaffinity(0, cpus)
    os.write(report_w, str(os.getpid()).encode())
    os.close(report_w)
    go = os.read(go_r, 1)
    os.close(go_r)
    if go != b"g":
        os._exit(1)  # the server ended before the learner became the job's child
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != job_pid:
        os._exit(1)  # the job died meanwhile
    for signum in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(request.stdout, 1)
    os.dup2(request.stderr, 2)
    os.close(request.stdout)
    os.close(request.stderr)
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    _fresh_stdio()
    _fresh_random_states()


def _fresh_stdio() -> None:
    """stdin, stdout and stderr as a new interpreter makes them on descriptors 0-2."""
    encoding, errors = sys.stdout.encoding, sys.stdout.errors
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        open(0, "rb", closefd=False), encoding=encoding, errors=errors)
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        open(1, "wb", closefd=False), encoding=encoding, errors=errors,
        line_buffering=os.isatty(1))
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        open(2, "wb", closefd=False), encoding=encoding, errors="backslashreplace",
        line_buffering=True)


def _fresh_random_states() -> None:
    """Forked learners would share the server's random states: draw new ones (Python's
    random module does so itself after a fork)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


def run_learner(request: LearnerRequest) -> NoReturn:
    """Run ``python -m MODULE ARGV`` in this (forked) process, then exit."""
    sys.path[0] = request.cwd  # python -m puts the working directory first
    sys.argv = [request.module, *request.argv]  # runpy sets argv[0] to the module's file
    sys.orig_argv = [sys.executable, "-m", request.module, *request.argv]
    sys.modules.pop(f"{request.module}.__main__", None)  # runpy runs it afresh
    interrupted = False
    try:
        runpy.run_module(request.module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = _system_exit_code(e)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        code, interrupted = 1, True
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    exit_as_interpreter(code, interrupted)


def _system_exit_code(exit: SystemExit) -> int:
    """The exit code Python gives for an uncaught SystemExit (printing a message code)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code & 0xFF
    try:
        print(exit.code, file=sys.stderr)
    except Exception:
        pass
    return 1


def exit_as_interpreter(code: int, interrupted: bool = False) -> NoReturn:
    """End this process as Python's exit would, without tearing its modules down."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()  # join the non-daemon threads
    atexit._run_exitfuncs()
    gc.collect()  # finalizers of what the learner dropped (the server's objects are frozen)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120  # as Python does when it cannot flush them at exit
    if _LIBC is not None:
        _LIBC.fflush(None)  # C libraries' buffered output
    if interrupted:  # an uncaught KeyboardInterrupt: die of SIGINT, as Python does
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
