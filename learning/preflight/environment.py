"""Pre-flight of the machine side of a sweep: the job script, the venv the jobs activate,
that results_dir is writable, and the cluster requirements (Slurm or local mode).

cluster_utils 3.0 picks the cluster system itself (``get_cluster_type``): HTCondor if
``condor_q`` is on the PATH, else Slurm if ``sbatch`` is, else local mode when
``run_local`` (``local_run`` for grid_search) is true or unset.  In local mode it gives
each job ``request_cpus`` CPUs of this machine (``random.sample`` of ``range(cpu_count())``,
then ``taskset``) and runs ``min(max_cpus, cpu_count()) // request_cpus`` jobs at a time, so
``request_cpus`` must be at most ``min(max_cpus, cpu_count())``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from learning.config.checks import is_integer
from learning.launch.sweep_file import SweepFile

SLURM_KEYS = ("partition", "request_cpus", "memory_in_mb", "request_time", "request_gpus",
              "forbidden_hostnames", "signal_seconds_to_timeout", "extra_submission_options")
SLURM_REQUIRED = SLURM_KEYS[:4]
#: sbatch --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def environment_problems(sweep: SweepFile) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    notes: list[str] = []
    for check in (_script, _venv, _results_dir, _cluster):
        check(sweep, problems, notes)
    return problems, notes


def _script(sweep: SweepFile, problems: list[str], notes: list[str]) -> None:
    script = sweep.main_path / str(sweep.params["script_relative_path"])
    if not script.is_file():
        problems.append(str(sweep.problem(
            "script_relative_path", f"no file {script}",
            "a path relative to the project directory (where you start the sweep), e.g."
            " run_learning.py")))


def _venv(sweep: SweepFile, problems: list[str], notes: list[str]) -> None:
    """The venv the jobs activate exists; whether its python can run a job is the probe's
    (learning.preflight.interpreter)."""
    venv_value = sweep.params["environment_setup"].get("virtual_env_path")
    if venv_value is None:
        return
    venv = sweep.main_path / os.path.expanduser(str(venv_value))
    key = "environment_setup.virtual_env_path"
    if not (venv / "bin" / "activate").is_file():
        problems.append(str(sweep.problem(key, f"no {venv / 'bin' / 'activate'}",
                                          "a virtual environment (relative paths: to the"
                                          " project directory)")))


def _results_dir(sweep: SweepFile, problems: list[str], notes: list[str]) -> None:
    root = sweep.results_root
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        problems.append(str(sweep.problem(
            "results_dir", f"cannot write {root} ({existing} is not a writable folder)",
            "a writable folder (relative paths are under your home directory)")))
        return
    notes.append(f"results: {root}" + (" (exists)" if root.exists() else " (new)"))


def cluster_system(sweep: SweepFile) -> str:
    """What cluster_utils will submit to: "condor", "slurm", "local" or "none"."""
    if shutil.which("condor_q"):
        return "condor"
    if shutil.which("sbatch"):
        return "slurm"
    return "none" if sweep.run_local is False else "local"


def _cluster(sweep: SweepFile, problems: list[str], notes: list[str]) -> None:
    system = cluster_system(sweep)
    requirements = sweep.params["cluster_requirements"]
    local_key = "local_run" if sweep.kind == "grid_search" else "optimization_setting.run_local"
    if system == "none":
        problems.append(str(sweep.problem(
            local_key, "false, but neither Slurm (sbatch) nor HTCondor (condor_q) is on the"
            " PATH", "true to run the jobs on this machine, or start the sweep where sbatch"
            " is available")))
    elif system == "local":
        _local_requirements(sweep, requirements, problems, notes)
    elif system == "slurm":
        problems += slurm_problems(sweep, requirements)
        notes.append(f"cluster: Slurm, partition {requirements.get('partition')!r},"
                     f" {requirements.get('request_cpus')} CPU(s) and"
                     f" {requirements.get('memory_in_mb')} MB per job, time limit"
                     f" {requirements.get('request_time')}")
    else:
        notes.append("cluster: HTCondor (its requirements are not checked here)")


def _local_requirements(sweep: SweepFile, requirements: dict, problems: list[str],
                        notes: list[str]) -> None:
    cpus = requirements.get("request_cpus")
    if not is_integer(cpus, 1):
        problems.append(str(sweep.problem("cluster_requirements.request_cpus", f"{cpus!r}",
                                          "an integer >= 1 (CPUs per job)")))
        return
    machine = os.cpu_count() or 1  # what cluster_utils' local mode counts (cpu_count())
    max_cpus = requirements.get("max_cpus")
    if max_cpus is not None and not is_integer(max_cpus, 1):
        problems.append(str(sweep.problem(
            "cluster_requirements.max_cpus", f"{max_cpus!r}",
            f"an integer >= 1 (the CPUs all local jobs use together), or leave it out (all"
            f" {machine} CPUs of this machine)")))
        return
    available = min(machine, max_cpus or machine)
    if cpus > available:
        limits = f"this machine has {machine} CPUs" + (
            f" and max_cpus is {max_cpus}" if max_cpus is not None else "")
        # cluster_utils 3.0 picks each job's CPUs with random.sample(range(cpu_count()),
        # request_cpus); under max_cpus it runs max_cpus jobs at once of request_cpus each
        effect = ("cluster_utils' local mode fails when it submits the first job (\"Sample"
                  " larger than population\")" if cpus > machine else
                  f"cluster_utils' local mode would run {available} jobs at once of {cpus} CPUs"
                  " each, beyond max_cpus")
        problems.append(str(sweep.problem(
            "cluster_requirements.request_cpus", f"{cpus} CPUs per job, but {limits}: {effect}",
            f"an integer in [1, {available}] (request_cpus <= min(max_cpus, the machine's"
            " CPUs))")))
        return
    notes.append(f"cluster: local mode, {available} CPUs, {max(available // cpus, 1)} jobs at"
                 f" a time ({cpus} CPU(s) each)")


def _seconds(slurm_time: str) -> int | None:
    match = SLURM_TIME.match(slurm_time)
    if not match:
        return None
    days, first, second, third = (int(g) if g else None for g in match.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        return days * 86400 + first * 3600 + (second or 0) * 60 + (third or 0)
    if third is not None:
        return first * 3600 + second * 60 + third
    if second is not None:
        return first * 60 + second
    return first * 60


def slurm_problems(sweep: SweepFile, requirements: dict) -> list[str]:
    """cluster_requirements for Slurm (cluster_utils' SlurmJobRequirements reads them and
    only logs keys it does not know); the partition is looked up with sinfo."""
    problems: list[str] = []

    def problem(key: str, what: str, valid: str) -> None:
        problems.append(str(sweep.problem(f"cluster_requirements.{key}", what, valid)))

    for key in SLURM_REQUIRED:
        if key not in requirements:
            problem(key, "missing (required on Slurm)", ", ".join(SLURM_KEYS))
    for key in requirements:
        if key not in SLURM_KEYS:
            problem(key, "not a Slurm setting (cluster_utils would ignore it)",
                    ", ".join(SLURM_KEYS))
    for key, minimum in (("request_cpus", 1), ("memory_in_mb", 1), ("request_gpus", 0)):
        if key in requirements and not is_integer(requirements[key], minimum):
            problem(key, f"{requirements[key]!r}", f"an integer >= {minimum}")
    limit = requirements.get("request_time")
    seconds = _seconds(limit) if isinstance(limit, str) else None
    if "request_time" in requirements and seconds is None:
        problem("request_time", f"{limit!r}", 'a Slurm time such as "01:00:00" or "2-00:00:00"')
    signal = requirements.get("signal_seconds_to_timeout")
    if signal is not None and not (is_integer(signal, 0) and (seconds is None or signal < seconds)):
        problem("signal_seconds_to_timeout", f"{signal!r}",
                "an integer number of seconds, less than request_time")
    partition = requirements.get("partition")
    partitions = slurm_partitions()
    if partitions is not None and partition is not None and partition not in partitions:
        problem("partition", f"no partition {partition!r} on this cluster", ", ".join(partitions))
    return problems


def slurm_partitions() -> list[str] | None:
    """The cluster's partition names (sinfo), None if sinfo cannot tell."""
    try:
        result = subprocess.run(["sinfo", "--noheader", "--format=%R"], capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = sorted({line.strip() for line in result.stdout.splitlines() if line.strip()})
    return names if result.returncode == 0 and names else None
