"""Pre-flight: start one job the way cluster_utils will, in the jobs' own interpreter.

A sweep whose jobs cannot start (``environment_setup`` empty, so the jobs run the
``python3`` on their PATH, which has no cluster_utils; a venv of another project; a
``--parameter-dict`` the job's parser cannot read) used to pass the pre-flight, then
every job failed within a second. This check writes the job script of one sample with
cluster_utils' own ``Job.generate_execution_cmd`` (``cd``, virtual env, conda env,
variables, ``pre_job_script``, then the job script with ``--job-id``,
``--cluster-utils-server`` and ``--parameter-dict``), runs it with bash and the
launcher's environment, as cluster_utils' local mode does (sbatch exports the same
environment by default), with ``LTTFS_JOB_PROBE`` set (learning.job_probe): the job
script reads its arguments as a job would, reports, and starts nothing.

The sample is one of cluster_utils' own, with its numpy values (numpy 2 writes them as
``np.float64(...)``), so the round trip through cluster_utils' command construction and
the job's parser is checked; the settings the job read must equal the sample's.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from learning.contract import JOB_SCRIPTS
from learning.job_probe import PROBE_VARIABLE, read_report
from learning.launch.sweep_file import HP_OPTIMIZATION, SweepFile, job_settings

TIMEOUT = 120


def _sample(sweep: SweepFile, distributions: list) -> dict[str, Any]:
    """One sample as cluster_utils draws it (numpy values included)."""
    if sweep.kind == HP_OPTIMIZATION:
        sample = {}
        for distribution in distributions:
            distribution.prepare_samples(howmany=1)
            sample[distribution.param_name] = distribution.sample()
        return sample
    sample = {}
    for item in sweep.params["hyperparam_list"]:
        names = item["param"] if isinstance(item["param"], list) else [item["param"]]
        value = random.choice(list(item["values"]))
        sample.update(zip(names, list(value) if len(names) > 1 else [value], strict=False))
    return sample


def job_script(sweep: SweepFile, sample: dict[str, Any], folder: Path) -> tuple[str, str]:
    """(the job's bash script as cluster_utils writes it, the interpreter it runs)."""
    from cluster_utils.server.job import Job
    from cluster_utils.server.utils import nested_to_dict, process_other_params

    params = sweep.params
    environment = dict(params["environment_setup"])
    paths = {"main_path": str(sweep.main_path), "script_to_run": params["script_relative_path"],
             "result_dir": str(folder), "jobs_dir": str(folder),
             "current_result_dir": str(folder / "working_directories"), **environment}
    nested = nested_to_dict([(name.split("."), value) for name, value in sample.items()])
    job = Job(id=0, settings=nested, other_params=process_other_params(sweep.fixed(), None, None),
              paths=paths, iteration=1, connection_info={"ip": "127.0.0.1", "port": 9},
              opt_procedure_name=sweep.name, singularity_settings=None)
    executor = environment.get("custom_python_executable_path", "python3")
    return job.generate_execution_cmd(paths), executor


def _expected(sweep: SweepFile, sample: dict[str, Any], folder: Path) -> dict[str, Any]:
    from learning.numpy_scalars import without_numpy_scalars

    settings = job_settings(without_numpy_scalars(sample), sweep.fixed())
    settings["working_dir"] = str(folder / "working_directories" / "0")
    settings["id"] = 0
    return settings


def _lists(value: Any) -> Any:
    """Tuples as lists (cluster_utils makes lists tuples; JSON makes them lists again)."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def interpreter_problems(sweep: SweepFile, distributions: list) -> tuple[list[str], list[str]]:
    """Run the probe job; (problems, notes)."""
    import os

    script_name = os.path.basename(str(sweep.params["script_relative_path"]))
    if script_name not in JOB_SCRIPTS:
        return [], [f"environment: {script_name} is not this project's job script; its"
                    " interpreter is not probed"]
    setup = "environment_setup"
    with tempfile.TemporaryDirectory(prefix="lttfs-probe-") as tmp:
        folder = Path(tmp)
        sample = _sample(sweep, distributions)
        try:
            script, executor = job_script(sweep, sample, folder)
        except Exception as e:  # cluster_utils' own errors while writing the script
            return [str(sweep.problem(setup, f"cluster_utils cannot write the job script"
                                      f" ({type(e).__name__}: {e})"))], []
        found = folder / "interpreter.txt"
        lines = script.rsplit("\n", 1)
        probe_script = (f"{lines[0]}\ncommand -v {executor} > {found} || echo 'not found' >"
                        f" {found}\n{lines[1]}\n")
        report_path = folder / "report.json"
        env = dict(os.environ, **{PROBE_VARIABLE: str(report_path)})
        try:
            result = subprocess.run(["bash", "-c", probe_script], env=env, capture_output=True,
                                    text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return [str(sweep.problem(setup, f"a job did not start within {TIMEOUT} s (the"
                                      " probe job hung)"))], []
        interpreter = found.read_text().strip() if found.is_file() else "?"
        report = read_report(report_path)
        where = _where(sweep, executor, interpreter)
        if result.returncode != 0 or report is None:
            error = ([line for line in result.stderr.splitlines() if line.strip()]
                     or [f"exit code {result.returncode}, no output"])[-1]
            return [str(sweep.problem(
                setup, f"a job cannot start: {where} fails with: {error}",
                "environment_setup.virtual_env_path naming a venv with this project"
                " installed (make setup makes .venv), or conda_env_path, or a PATH whose"
                " python3 has it"))], []
        expected = _lists(_expected(sweep, sample, folder))
        received = _lists(report.get("settings"))
        if received != expected:
            changed = sorted(k for k in set(expected) | set(received or {})
                             if (received or {}).get(k) != expected.get(k))
            return [str(sweep.problem(
                setup, f"the job read other settings than cluster_utils wrote ({where});"
                f" differing: {', '.join(changed)}"))], []
    return [], [f"environment: a job starts ({where}, Python {report.get('python_version')},"
                f" numpy {report.get('numpy')}) and reads its settings as written"]


def _where(sweep: SweepFile, executor: str, interpreter: str) -> str:
    setup = sweep.params["environment_setup"]
    for key in ("virtual_env_path", "conda_env_path"):
        if key in setup:
            return f"the {executor} of {key} ({interpreter})"
    return (f"the {executor} on the jobs' PATH ({interpreter}; environment_setup names no"
            " virtual_env_path)")
