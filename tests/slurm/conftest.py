"""Fixtures of the Slurm tests: a real single-node Slurm cluster on this machine.

``slurm_cluster`` (session scope) runs ``scripts/slurm_setup.sh`` (installs the
Debian packages if missing, starts munged, MariaDB, slurmdbd, slurmctld and slurmd,
waits for the node and runs a smoke job) and, whatever the tests do, runs
``scripts/slurm_teardown.sh`` at the end, which stops exactly the daemons the setup
started.  Nothing is mocked: cluster_utils submits with sbatch, polls sacct, and the
jobs run under slurmd.

The tests are skipped, with the reason, where this machine cannot run the cluster:
not root, no Debian package tools, or ``LTTFS_SKIP_SLURM=1`` in the environment.
A machine that could run it but where the setup fails is a test error, not a skip.
Two test sessions on one machine take turns (an flock on ``LOCK_FILE``): otherwise
the first one to finish would tear the cluster down under the other.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "slurm_setup.sh"
TEARDOWN = REPO / "scripts" / "slurm_teardown.sh"
LOCK_FILE = Path("/tmp/lttfs-slurm-tests.lock")
LOCK_WAIT_SECONDS = 900
# PID files of the daemons a test session started.  Not under pytest's tmp_path: pytest
# deletes old temporary folders, possibly of a session that still needs them.  A
# session killed before its teardown leaves them here, and the next one stops those.
STATE_DIR = Path("/tmp/lttfs-slurm/test-session")
SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server")


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return "install ok installed" in result.stdout


def why_slurm_cannot_run() -> str | None:
    """The reason this machine cannot run the test cluster, or None if it can."""
    if os.environ.get("LTTFS_SKIP_SLURM") == "1":
        return "LTTFS_SKIP_SLURM=1 is set"
    if not sys.platform.startswith("linux"):
        return f"the Slurm test cluster needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return (
            "the Slurm test cluster needs root (scripts/slurm_setup.sh installs Debian "
            "packages and starts the Slurm daemons); run the tests as root, as CI does"
        )
    if shutil.which("dpkg-query") is None:
        return "the Slurm test cluster needs a Debian system (dpkg-query not found)"
    missing = [p for p in SLURM_PACKAGES if not _installed(p)]
    if missing and shutil.which("apt-get") is None:
        return f"Slurm packages {', '.join(missing)} are missing and there is no apt-get"
    return None


@dataclass(frozen=True)
class SlurmCluster:
    """The running test cluster, as the tests need it."""

    sbatch: str  # path of sbatch (kept off PATH by slurm_setup.sh, see there)
    env: dict[str, str]  # environment in which cluster_utils submits to this cluster
    setup_seconds: float

    def sacct(self, names: list[str], since: str) -> list[dict[str, str]]:
        """Accounting records of the jobs with these job names started since `since`.

        One dict per Slurm job (allocations only, no steps): JobID, JobName, State,
        ExitCode, Elapsed.
        """
        fields = ["JobID", "JobName", "State", "ExitCode", "Elapsed"]
        result = subprocess.run(
            ["sacct", "-X", "--parsable2", "--noheader", f"--starttime={since}",
             f"--name={','.join(names)}", f"--format={','.join(fields)}"],
            capture_output=True, text=True, check=True, env=self.env,
        )
        lines = result.stdout.splitlines()
        return [dict(zip(fields, line.split("|"), strict=True)) for line in lines]


    def cancel_jobs(self, prefix: str) -> None:
        """Cancel the queued and running jobs whose name starts with prefix."""
        queue = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True,
                               text=True, env=self.env)
        ids = [line.split()[0] for line in queue.stdout.splitlines()
               if len(line.split()) == 2 and line.split()[1].startswith(prefix)]
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, env=self.env)


def _run_script(script: Path, state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SLURM_TEST_STATE=str(state_dir))
    return subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=900
    )


def _lock_cluster(config: pytest.Config) -> int:
    """Take the machine-wide lock of the test cluster; return its file descriptor."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    waiting = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if not waiting:
                holder = os.pread(fd, 100, 0).decode(errors="replace").strip()
                _report(config, f"\nwaiting for the Slurm test cluster ({LOCK_FILE}: {holder})")
                waiting = True
            if time.monotonic() > deadline:
                os.close(fd)
                pytest.fail(
                    f"another test session kept the Slurm test cluster ({LOCK_FILE}) for "
                    f"more than {LOCK_WAIT_SECONDS} s",
                    pytrace=False,
                )
            time.sleep(1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
    return fd


def _report(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


@pytest.fixture(scope="session")
def slurm_cluster(request: pytest.FixtureRequest) -> Iterator[SlurmCluster]:
    reason = why_slurm_cannot_run()
    if reason is not None:
        pytest.skip(reason)
    state_dir = STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock_cluster(request.config)
    start = time.monotonic()
    try:
        setup = _run_script(SETUP, state_dir)
        setup_seconds = time.monotonic() - start
        if setup.returncode != 0:
            pytest.fail(
                f"scripts/slurm_setup.sh failed (exit {setup.returncode}):\n"
                f"{setup.stdout}\n{setup.stderr}",
                pytrace=False,
            )
        _report(request.config, f"\nSlurm test cluster set up in {setup_seconds:.1f} s")
        sbatch = ""
        for line in (state_dir / "env").read_text().splitlines():
            if line.startswith("SBATCH="):
                sbatch = line.removeprefix("SBATCH=")
        assert sbatch and Path(sbatch).is_file(), f"setup recorded no sbatch: {state_dir}/env"
        # cluster_utils picks Slurm when sbatch is on PATH; the jobs run `srun python3`
        # in the submitting environment, so this interpreter's folder comes first too.
        path = [str(Path(sbatch).parent), str(Path(sys.executable).parent)]
        env = dict(os.environ, PATH=os.pathsep.join(path + [os.environ.get("PATH", "")]))
        yield SlurmCluster(sbatch=sbatch, env=env, setup_seconds=setup_seconds)
    finally:
        start = time.monotonic()
        teardown = _run_script(TEARDOWN, state_dir)
        _report(
            request.config,
            f"\nSlurm test cluster torn down in {time.monotonic() - start:.1f} s"
            f" (exit {teardown.returncode})",
        )
        if teardown.returncode != 0:
            print(teardown.stdout, teardown.stderr, file=sys.stderr)
        os.close(lock_fd)  # releases the lock


# ------------------------------------------------------------------ cluster_utils runs


@dataclass
class OptimizationRun:
    """One finished ``python -m cluster_utils.hp_optimization`` on the test cluster."""

    returncode: int
    output: str  # stdout + stderr of the cluster_utils main process
    results: Path  # results_dir/<optimization_procedure_name>
    jobs_dir: Path | None  # cluster_utils' job scripts and their .out/.err (copied)
    since: str  # sacct --starttime covering this run's Slurm jobs
    seconds: float

    def slurm_job_ids(self) -> dict[int, list[str]]:
        """cluster_utils job id -> the Slurm job ids that executed it, in order.

        Read from the job scripts' output files, where cluster_utils' Slurm run script
        prints "Job id: <id>, cluster id: <SLURM_JOB_ID>" at every start.
        """
        found: dict[int, list[str]] = {}
        for out in sorted(self.jobs_dir.glob("*.out")) if self.jobs_dir else []:
            for job_id, slurm_id in re.findall(r"Job id: (\d+), cluster id: (\d+)",
                                                out.read_text(errors="replace")):
                found.setdefault(int(job_id), []).append(slurm_id)
        return found

    def explain(self) -> str:
        """What to look at when the run did not do what was expected."""
        parts = [f"cluster_utils exit code {self.returncode} after {self.seconds:.0f} s",
                 "--- cluster_utils output (end):", self.output[-3000:]]
        for err in sorted(self.jobs_dir.glob("*.err")) if self.jobs_dir else []:
            text = err.read_text(errors="replace").strip()
            if text:
                parts += [f"--- {err.name} (end):", text[-1500:]]
        for log in sorted(self.results.glob("working_directories/*/job.log")):
            parts += [f"--- {log} (end):", log.read_text(errors="replace")[-1500:]]
        return "\n".join(parts)


RunOptimization = Callable[..., OptimizationRun]


@pytest.fixture
def run_optimization(slurm_cluster: SlurmCluster, tmp_path: Path) -> RunOptimization:
    """Run ``python -m cluster_utils.hp_optimization`` on the cluster, from the project dir.

    ``run(settings, timeout)``: settings is the content of an hp_optim/ settings file
    (the tests load hp_optim/ppo_slurm.json and shrink its budget); it is written to
    tmp_path.  On the command line go what differs per machine and per run, as a user
    would pass them: a fresh results_dir under tmp_path (cluster_utils asks "Delete
    everything?" for a used one) and environment_setup.virtual_env_path = this
    interpreter's virtual environment (the shipped file has the relative ".venv").
    The job scripts' outputs are kept (copied to tmp_path/jobs; the originals under
    ~/.cache are removed).
    """

    def run(settings: dict, timeout: float) -> OptimizationRun:
        name = settings["optimization_procedure_name"]
        settings_file = tmp_path / f"{name}.json"
        settings_file.write_text(json.dumps({**settings, "remove_jobs_dir": False}, indent=2))
        results_dir = tmp_path / "results"
        overrides: dict[str, object] = {"results_dir": str(results_dir)}
        if sys.prefix != sys.base_prefix:  # running in a virtual environment
            overrides["environment_setup.virtual_env_path"] = sys.prefix
        command = [sys.executable, "-m", "cluster_utils.hp_optimization", str(settings_file)]
        command += [f"{key}={value!r}" for key, value in overrides.items()]
        os.makedirs(Path.home() / ".cache", exist_ok=True)  # cluster_utils 3.0 needs it
        since = time.strftime("%Y-%m-%dT%H:%M:%S")
        start = time.monotonic()
        process = subprocess.Popen(
            command, cwd=REPO, env=slurm_cluster.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
            output += f"\n[test] cluster_utils killed after the test's timeout of {timeout} s"
            slurm_cluster.cancel_jobs(prefix=f"{name}_")
        seconds = time.monotonic() - start
        jobs_dir = None
        found = re.search(r"Logs of individual jobs stored at (\S+)", output)
        if found and Path(found.group(1)).is_dir():
            jobs_dir = tmp_path / "jobs"
            shutil.copytree(found.group(1), jobs_dir)
            shutil.rmtree(found.group(1))
        return OptimizationRun(process.returncode, output, results_dir / name, jobs_dir,
                               since, seconds)

    return run
