"""Run a cluster_utils job script inside a Singularity/Apptainer image.

``run_singularity.py`` (this module's :func:`main`) is the job script cluster_utils
starts; it reads the ``singularity.*`` settings from the job's parameters (see
:mod:`learning.container.settings`), then runs ::

    <executable> exec [--nv] --bind /tmp --bind WORKING_DIR --bind PROJECT_DIR
        [--bind EXTRA ...] --cleanenv --containall --pwd PROJECT_DIR [ARGS ...]
        IMAGE [python3] SCRIPT <the wrapper's own arguments, unchanged>

so the inner script registers at the cluster_utils server and reports its results as
if cluster_utils had started it directly. The wrapper

- appends the container's stdout/stderr to ``stdout.txt``/``stderr.txt`` in the job's
  working directory and echoes them to its own stdout/stderr (which cluster_utils
  keeps, and shows for failed jobs);
- forwards SIGTERM, SIGUSR1, SIGUSR2 and SIGHUP to the container (Singularity passes
  them on to the contained process): Slurm's time-limit signal reaches the learner,
  which saves its model and exits for a chained continuation;
- ignores SIGINT (Ctrl+C reaches the container from the terminal) and waits;
- exits with the inner exit code exactly (3 = cluster_utils' "resume"); a container
  killed by signal N exits with 128 + N, as a shell reports it.

The command is built with spython's command builders (``Client._init_command``,
``Client._generate_bind_list``, the same steps as ``Client.execute``) and run with
``subprocess.Popen`` here, because spython's runners cannot forward signals, tee both
streams or return the exit code of a streamed command (``stream_command`` raises
instead).
"""

from __future__ import annotations

import os
import pathlib
import shlex
import signal
import subprocess
import sys
import threading
from typing import IO

from spython.main import Client

from learning.container.settings import (
    JobArguments,
    SingularitySettings,
    SingularitySettingsError,
    read_job_arguments,
    singularity_section,
    validate_settings,
)
from learning.contract import CONTAINER_SCRIPT
from learning.job_probe import probe_report_path, write_report
from learning.sweep_messages import SECRET_FILE_VARIABLE

#: host variables passed into the container when they are set
FORWARDED_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "MUJOCO_GL",
    "PYOPENGL_PLATFORM",
    "CUDA_VISIBLE_DEVICES",
    SECRET_FILE_VARIABLE,  # the sweep's message secret (learning.sweep_messages)
)
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)
EXIT_WRAPPER_ERROR = 1  # cluster_utils' local mode marks a job failed on exit code 1
STDOUT_LOG = "stdout.txt"
STDERR_LOG = "stderr.txt"


def working_dir_of(params: dict, project_dir: pathlib.Path) -> pathlib.Path:
    value = params.get("working_dir")
    if not isinstance(value, str) or not value:
        raise SingularitySettingsError(
            "working_dir: missing or not a path (cluster_utils sets it for every job; add"
            " it to the settings file when running the wrapper standalone)"
        )
    return project_dir / os.path.expanduser(value)


def bind_paths(
    settings: SingularitySettings,
    working_dir: pathlib.Path,
    project_dir: pathlib.Path,
    parameter_file: pathlib.Path | None,
    secret_file: str | None = None,
) -> list[str]:
    """/tmp, the working dir, the project dir, then the directories of the settings file
    and the script when they lie outside those (a contained container sees only bound
    paths), the folder of the sweep's secret file read-only (the inner job signs its
    messages with it), then the extra binds."""
    automatic = {
        "/tmp": pathlib.Path("/tmp"),
        "working_dir": working_dir,
        "project directory": project_dir,
    }
    for what, path in (("settings file", parameter_file), ("script", settings.script)):
        if path is not None:
            folder = path.resolve().parent
            if not any(folder.is_relative_to(bound) for bound in automatic.values()):
                automatic[f"{what} directory"] = folder
    binds: list[str] = []
    for what, path in automatic.items():
        text = os.fspath(path)
        for char in (",", ":"):
            if char in text:
                raise SingularitySettingsError(
                    f"{what} {text!r} contains {char!r}, which singularity's --bind cannot"
                    " express; use a path without ',' and ':'"
                )
        if text not in binds:
            binds.append(text)
    if secret_file:
        folder = os.fspath(pathlib.Path(secret_file).parent)
        if "," not in folder and ":" not in folder:
            binds.append(f"{folder}:{folder}:ro")
    return binds + [b for b in settings.binds if b not in binds]


def build_command(
    settings: SingularitySettings,
    binds: list[str],
    project_dir: pathlib.Path,
    passthrough: list[str],
) -> list[str]:
    """The argument list (never a shell string) that runs the inner script."""
    cmd = Client._init_command("run" if settings.use_run else "exec")
    cmd[0] = settings.executable  # spython always writes "singularity" here
    if settings.nv:
        cmd.append("--nv")
    cmd += Client._generate_bind_list(binds)
    cmd += ["--cleanenv", "--containall", "--pwd", os.fspath(project_dir)]
    cmd += settings.args
    cmd += [os.fspath(settings.image), *settings.script_command, *passthrough]
    return cmd


def env_prefix(executable: str) -> str:
    """Singularity reads SINGULARITYENV_X, Apptainer APPTAINERENV_X, as X in the container."""
    name = os.path.basename(executable).lower()
    return "APPTAINERENV_" if name.startswith("apptainer") else "SINGULARITYENV_"


def container_environment(
    settings: SingularitySettings, project_dir: pathlib.Path, host_env: dict[str, str]
) -> dict[str, str]:
    """The environment of the singularity process: the host's, plus the variables the
    job needs inside the clean container, passed explicitly with the runtime's prefix
    (not with --env, which splits values at commas, e.g. CUDA_VISIBLE_DEVICES=0,1)."""
    inner = {name: host_env[name] for name in FORWARDED_ENV if name in host_env}
    # The project's code comes from the project directory (as without the container:
    # cluster_utils cd's there), both for the job script and for `python -m learning`.
    inner["PYTHONPATH"] = os.fspath(project_dir)
    prefix = env_prefix(settings.executable)
    env = dict(host_env)
    env.update({prefix + name: value for name, value in inner.items()})
    return env


class _Tee(threading.Thread):
    """Copies a pipe to one of our streams and appends it to a log file."""

    def __init__(self, pipe: IO[bytes], echo: IO[str], log_path: pathlib.Path) -> None:
        super().__init__(daemon=True)
        self.pipe, self.echo, self.log_path = pipe, echo, log_path

    def run(self) -> None:
        with open(self.log_path, "ab") as log:
            for chunk in iter(lambda: self.pipe.read1(65536), b""):
                log.write(chunk)
                log.flush()
                _write(self.echo, chunk)


def _write(stream: IO[str], data: bytes) -> None:
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(data)
    else:
        stream.write(data.decode(errors="replace"))
    stream.flush()


def run_forwarding(cmd: list[str], env: dict[str, str], log_dir: pathlib.Path) -> int:
    """Run ``cmd``, tee its output, forward signals; return its exit code (128+N if
    killed by signal N)."""
    process: subprocess.Popen | None = None
    pending: list[int] = []

    def forward(signum, _frame):
        if process is None:
            pending.append(signum)
        else:
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    # Ctrl+C reaches the container from the terminal (same process group); the wrapper
    # only waits for its exit code. A no-op handler, not SIG_IGN, which would be
    # inherited by the child.
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, lambda _s, _f: None)
    try:
        process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for signum in pending:
            process.send_signal(signum)
        tees = [
            _Tee(process.stdout, sys.stdout, log_dir / STDOUT_LOG),
            _Tee(process.stderr, sys.stderr, log_dir / STDERR_LOG),
        ]
        for tee in tees:
            tee.start()
        returncode = process.wait()
        for tee in tees:
            tee.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - returncode if returncode < 0 else returncode


def prepare(job: JobArguments, project_dir: pathlib.Path, host_env: dict[str, str]):
    """Validate everything, create the working dir, return (command, env, working dir)."""
    settings = validate_settings(
        singularity_section(job.params), project_dir, host_env.get("PATH", os.defpath)
    )
    working_dir = working_dir_of(job.params, project_dir)
    working_dir.mkdir(parents=True, exist_ok=True)  # bound, so it must exist
    binds = bind_paths(settings, working_dir, project_dir, job.parameter_file,
                       host_env.get(SECRET_FILE_VARIABLE))
    cmd = build_command(settings, binds, project_dir, job.passthrough)
    return cmd, container_environment(settings, project_dir, host_env), working_dir


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    project_dir = pathlib.Path.cwd()
    try:
        try:
            job = read_job_arguments(argv)
        except SystemExit as e:  # argparse already printed the usage message
            return EXIT_WRAPPER_ERROR if e.code else 0
        except SingularitySettingsError:
            raise
        except Exception as e:  # smart_settings / cluster_utils parameter errors
            print(f"run_singularity: cannot read the job parameters: {e}", file=sys.stderr)
            return EXIT_WRAPPER_ERROR
        probe = probe_report_path()
        if probe is not None:  # the launcher's pre-flight: report, start nothing
            return write_report(probe, job.params, CONTAINER_SCRIPT)
        cmd, env, working_dir = prepare(job, project_dir, dict(os.environ))
    except SingularitySettingsError as e:
        print(f"run_singularity: settings error: {e}", file=sys.stderr)
        return EXIT_WRAPPER_ERROR

    print(f"run_singularity: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    try:
        return run_forwarding(cmd, env, working_dir)
    except OSError as e:
        print(f"run_singularity: cannot start {cmd[0]}: {e}", file=sys.stderr)
        return EXIT_WRAPPER_ERROR
