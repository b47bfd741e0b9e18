"""The guard: when a sweep's main process dies, its local workers and jobs stop too.

cluster_utils 3.0's local mode runs jobs from a ``ProcessPoolExecutor`` of the main
process.  If the main process is killed (SIGKILL, a lost ssh session, an exception), the
workers live on and start the queued jobs, whose results nobody collects.  The launcher
therefore starts this guard, a small process in a session of its own (a terminal's
hang-up or Ctrl-C does not reach it), before cluster_utils starts any worker:

- every process of the sweep carries ``LTTFS_SWEEP_TAG=<random token>`` in its
  environment: the launcher re-executes itself with it (:func:`fresh_tag_environment`), so the
  forked workers show it in ``/proc/<pid>/environ`` too, and every job script, job and
  learner inherits it;
- the guard waits for the main process to end (a pidfd, no polling; on kernels without
  pidfds it checks once a second), then sends SIGTERM to every process with the tag (a
  job passes it on to its learner, which saves its model; the job exits for resume),
  again to any that appears meanwhile, and SIGKILL to whatever is left after the grace
  time.  Then it removes the sweep's message secret (learning.sweep_messages), which
  the launcher removes itself when it ends normally, and exits.

The guard only finds processes on this machine: Slurm jobs already submitted keep
running (docs/sweeps.md: "If the main process dies").  ``python -m learning.launch.guard
--pid PID --tag TAG [--grace SECONDS]`` runs it; it prints ``ready`` once it watches PID.
"""

from __future__ import annotations

import argparse
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from learning.sweep_messages import secret_path

TAG_VARIABLE = "LTTFS_SWEEP_TAG"
#: the pid that set the tag: a launcher started inside another sweep's job gets a new tag
TAG_OWNER_VARIABLE = "LTTFS_SWEEP_TAG_OWNER"
DEFAULT_GRACE = 60.0
SCAN_INTERVAL = 0.2


def fresh_tag_environment() -> dict[str, str] | None:
    """The environment to re-execute this process with (a fresh tag), None if this process
    already carries its own tag."""
    if os.environ.get(TAG_OWNER_VARIABLE) == str(os.getpid()) and os.environ.get(TAG_VARIABLE):
        return None
    return dict(os.environ, **{TAG_VARIABLE: secrets.token_hex(12),
                               TAG_OWNER_VARIABLE: str(os.getpid())})


def own_tag() -> str | None:
    """This process's tag, if the launcher set it for this very process."""
    if os.environ.get(TAG_OWNER_VARIABLE) == str(os.getpid()):
        return os.environ.get(TAG_VARIABLE) or None
    return None


def start_guard(tag: str, grace: float, log_file: Path, lock_fd: int | None) -> int:
    """Start the guard for this process; returns its pid once it watches us.

    ``lock_fd`` (the results folder's lock) is passed on, so that the folder stays locked
    until the guard has stopped everything.
    """
    env = {k: v for k, v in os.environ.items() if k not in (TAG_VARIABLE, TAG_OWNER_VARIABLE)}
    command = [sys.executable, "-m", "learning.launch.guard", "--pid", str(os.getpid()),
               "--tag", tag, "--grace", str(grace), "--log", str(log_file)]
    with open(os.devnull, "rb") as devnull, open(log_file, "ab") as errors:
        guard = subprocess.Popen(
            command, stdin=devnull, stdout=subprocess.PIPE, stderr=errors,
            start_new_session=True, env=env, pass_fds=() if lock_fd is None else (lock_fd,),
        )
    assert guard.stdout is not None
    line = guard.stdout.readline()
    guard.stdout.close()
    if line.strip() != b"ready":
        raise RuntimeError(f"the sweep's guard did not start (see {log_file})")
    return guard.pid


# --------------------------------------------------------------------------- the guard


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def wait_for_exit(pid: int) -> None:
    """Return once process ``pid`` has ended."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfds (Linux < 5.3): check once a second
        started = _start_time(pid)
        while started is not None and _start_time(pid) == started:
            time.sleep(1.0)
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def tagged_processes(tag: str) -> Iterator[int]:
    """Processes of this user whose environment carries ``TAG_VARIABLE=tag``."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if needle in environ.split(b"\0"):
            yield int(entry.name)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_tagged(tag: str, grace: float, log) -> int:
    """SIGTERM every tagged process (also those that appear meanwhile), SIGKILL the rest
    after ``grace`` seconds; returns how many processes were stopped."""
    deadline = time.monotonic() + grace
    signalled: set[int] = set()
    while True:
        alive = set(tagged_processes(tag))
        if not alive:
            return len(signalled)
        if time.monotonic() < deadline:
            for pid in sorted(alive - signalled):
                _signal(pid, signal.SIGTERM)
            if alive - signalled:
                log(f"SIGTERM to {sorted(alive - signalled)}")
        else:
            log(f"SIGKILL to {sorted(alive)} (still running after {grace:g} s)")
            for pid in alive:
                _signal(pid, signal.SIGKILL)
        signalled |= alive
        time.sleep(SCAN_INTERVAL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m learning.launch.guard",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, required=True, help="the main process to watch")
    parser.add_argument("--tag", required=True, help=f"the {TAG_VARIABLE} of its processes")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE)
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args(argv)
    for signum in (signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)

    def log(message: str) -> None:
        if args.log is not None:
            line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} guard {os.getpid()}: {message}\n"
            try:
                with open(args.log, "a") as f:
                    f.write(line)
            except OSError:
                pass

    log(f"watching the sweep's main process {args.pid}")
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the launcher stopped reading
    wait_for_exit(args.pid)
    log(f"main process {args.pid} ended; stopping the sweep's processes")
    stopped = stop_tagged(args.tag, args.grace, log)
    secret = secret_path(args.tag)  # the sweep's message secret, if the launcher died
    if secret.exists():
        secret.unlink(missing_ok=True)
        log(f"removed the sweep's secret file {secret}")
    log(f"done ({stopped} process(es) stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
