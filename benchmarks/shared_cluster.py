"""Safe on a shared cluster: a hostile but realistic other user of the same cluster against
the suite, one case per row (docs/security.md).

Nothing the sweep listens to or reads back may run code, nothing may give a silent wrong
result, nothing may hang. Each case sets up what another user could do (the setups of
tests/launch/test_shared_cluster.py, test_sweep_messages.py, test_stack_sweep.py,
test_preflight_refusals.py, test_inspect_hostile_text.py, tests/job/test_cpu_lock_folder.py)
and runs the project's real entry points on it: the launcher (``python -m learning.sweep``,
tiny real sweeps: PPO, 128 timesteps, one run per job), the inspection, ``run_learning.py``,
the pre-flight (``--check``, in-process ``main()``) and the job's CPU reservation. Payloads
would create a file in the case's folder if they ran; each case checks that it does not
exist.

 1. a pickle (``os.system``) and a datagram signed with a wrong key, sent by UDP to a running
    sweep's port (from ``cluster_run.log``): not run, the sweep finishes, the launcher
    reports the dropped datagrams;
 2. a planted ``status.pickle``, then ``--resume`` with one more sample;
 3. ``$(touch ...)`` in a best job's settings.json, then the inspection's ``--confirm``;
 4. ``{__import__('os').system(...)}`` in a settings.json rerun with ``run_learning.py``;
 5. a ``{...}`` expression in an hp_optim string (``--check``);
 6. a lock file of local_cpu_pinning symlinked to a file of the user (not truncated);
 7. the CPU lock folder made by another uid (root only: chown);
 8. ``optimization_procedure_name`` ``"../escape"`` (``--check``);
 9. Discrete options ``[0.1, "auto"]`` (``--check``);
10. Discrete options that are lists (``--check``);
11. ``request_cpus`` above this machine's CPUs in local mode (``--check``);
12. ``--resume`` after an optimized parameter's bounds changed;
13. ``$\\frac{$``, ``<script>`` and ``$(touch ...)`` in a results folder's all_data.csv,
    then the inspection (report.html written, text escaped);
14. a job script that prints a message and exits 1: the sweep stops after its first jobs
    with that message, exit code 1, no traceback.

A SIGSTOPped (hung) learner is benchmarks/faults.py's job 3 (and a test:
tests/launch/test_shared_cluster.py::test_a_sigstopped_learner_in_a_sweep_is_stopped_and_retried).

Prints one row per case (case, attack, outcome ``defended: ...`` or ``NOT defended: ...``,
seconds; ``error:`` when a case could not be set up, ``skipped`` without root or in Slurm
mode), "N of M cases defended" and the load average before and after. Exit code 0 if every
case that ran was defended, 1 otherwise. No timing asserts.

Usage: python benchmarks/shared_cluster.py [--cases 1,2,5] [--work DIR (kept)]
About a minute on 2 cores (four tiny sweeps, 2 + 1 + 2 jobs, and 3 failing ones); the
--check cases take seconds. Each case's output is in its folder under --work.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MESSAGE_CHARS = 100  # of a refusal, in the table
SWEEP_TIMEOUT = 300  # seconds: longer is a hang
OTHER_UID = 12345

#: a tiny sweep (as tests/tiny_sweep.py TINY_SWEEP): PPO, 128 timesteps, 1 run per job
TINY = {
    "script_relative_path": "run_learning.py",
    "run_in_working_dir": True,
    "no_user_interaction": True,
    "generate_report": "never",
    "remove_jobs_dir": True,
    "num_best_jobs_whose_data_is_kept": 2,
    "environment_setup": {"virtual_env_path": sys.prefix},
    "cluster_requirements": {"request_cpus": 1},
    "fixed_params": {
        "config.config_templates": "hp_optim/config_templates_ppo.json",
        "config.rl_config.num_timesteps": 128,
        "config.rl_config.n_steps": 32,
        "config.rl_config.batch_size": 32,
        "config.rl_config.n_epochs": 1,
        "config.hysr_config.nb_steps_per_episode": 20,
        "config.rl_common_config.evaluation_episodes": 2,
        "learning_runs_per_job": 1,
        "max_attempts": 1,
    },
    "optimizer_str": "cem_metaoptimizer",
    "optimizer_settings": {"with_restarts": False, "num_jobs_in_elite": 2},
    "optimization_setting": {
        "metric_to_optimize": "mean_eval_reward",
        "minimize": False,
        "number_of_samples": 2,
        "n_jobs_per_iteration": 2,
        "run_local": True,
    },
    "optimized_params": [
        {"param": "config.rl_config.learning_rate", "distribution": "TruncatedLogNormal",
         "bounds": [1e-5, 1e-2]},
        {"param": "config.rl_config.gamma", "distribution": "Discrete", "options": [0.9, 0.99]},
    ],
}
BASE_NAME = "base"  # the finished tiny sweep that cases 2, 3, 12 and 13 start from


class Payload:
    """Unpickling this runs ``touch <path>``: what an attacker sends or plants."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class Unusable(Exception):
    """The case could not be set up (not a verdict on the defence)."""


def live_pickle(folder: Path) -> bytes:
    """The pickled Payload, after checking that unpickling it does create its file (as
    cluster_utils' server and its resume would); the file it creates when run is
    ``folder / "pwned"``."""
    control = folder / "control"
    pickle.loads(pickle.dumps(Payload(control)))
    if not control.exists():
        raise Unusable(f"the payload does not work here: unpickled, it made no {control}")
    return pickle.dumps(Payload(folder / "pwned"))


@dataclass
class Work:
    root: Path
    base: Path | None = None  #: results folder of the finished tiny sweep, made once
    base_seconds: float | None = None  #: what it took
    base_reported: bool = False

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def line(self, text: str, *words: str, start: str | None = None) -> str:
        """The first line of ``text`` holding all ``words``, stripped, paths under the work
        folder relative to it, cut to MESSAGE_CHARS (from ``start`` in it if given)."""
        for line in text.splitlines():
            if all(word in line for word in words):
                line = line.strip().replace(f"{self.root}{os.sep}", "")
                if start is not None and start in line:
                    line = "..." + line[line.index(start):]
                return line[:MESSAGE_CHARS] + ("..." if len(line) > MESSAGE_CHARS else "")
        return ""


# --------------------------------------------------------------------------- helpers


def tiny(name: str, results_dir: Path, samples: int = 2) -> dict:
    config = json.loads(json.dumps(TINY))
    config.update(optimization_procedure_name=name, results_dir=str(results_dir))
    config["optimization_setting"]["number_of_samples"] = samples
    return config


def local_with(results_dir: Path, **changes) -> dict:
    """hp_optim/ppo_local.json with this venv, 1 CPU per job and results in the work dir."""
    config = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    config["environment_setup"] = {"virtual_env_path": sys.prefix}
    config["cluster_requirements"]["request_cpus"] = 1
    config["results_dir"] = str(results_dir)
    config.update(changes)
    return config


def write(path: Path, config: dict) -> Path:
    path.write_text(json.dumps(config, indent=1))
    return path


def run(command: list[str], log: Path, timeout: float = SWEEP_TIMEOUT
        ) -> subprocess.CompletedProcess:
    """``command`` from the project directory as a user runs it (no terminal); its output
    is also written to ``log``."""
    result = subprocess.run(command, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=timeout)
    log.write_text(f"$ {' '.join(command)}\nexit code {result.returncode}\n--- stdout\n"
                   f"{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def sweep(log: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m learning.sweep ARGS``."""
    return run([sys.executable, "-m", "learning.sweep", *args], log)


def inspection(log: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m learning.analysis.inspection ARGS``."""
    return run([sys.executable, "-m", "learning.analysis.inspection", *args], log)


@contextlib.contextmanager
def in_repo() -> Iterator[None]:
    """The current directory is the project's (jobs and the pre-flight start there)."""
    before = os.getcwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(before)


def captured(function: Callable[[], object]) -> tuple[object, str]:
    """(what ``function()`` returned, what it printed to stdout and stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = function()
    return result, out.getvalue()


def check(path: Path, *overrides: str) -> tuple[int, str]:
    """The launcher's pre-flight only (``--check``), in-process: (exit code, output)."""
    from learning.launch.launcher import main as launch

    with in_repo():
        code, output = captured(lambda: launch([str(path), *overrides, "--check"]))
    return int(code), output


def last_lines(text: str, count: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:])


def refused(work: Work, code: int, output: str, words: tuple[str, ...],
            expected_code: int = 2, planted: Path | None = None,
            start: str | None = None) -> tuple[bool, str]:
    """The verdict on a case whose attack must be refused before any job: exit code
    ``expected_code``, a line of the output holding ``words``, no payload file."""
    if planted is not None and planted.exists():
        return False, f"the payload ran: {planted} exists (exit code {code})"
    message = work.line(output, *words, start=start)
    if code == expected_code and message:
        return True, f"refused before any job: {message}"
    return False, (f"exit code {code} (expected {expected_code}), no line with {words}:"
                   f" {last_lines(output)}")


def data_rows(root: Path) -> int:
    text = (root / "all_data.csv").read_text()
    return len(text.splitlines()) - 1


def base_sweep(work: Work) -> Path:
    """A finished tiny sweep (2 samples), run once; cases copy it before changing it."""
    if work.base is None:
        folder = work.folder("base")
        path = write(folder / "base.json", tiny(BASE_NAME, folder / "results"))
        started = time.monotonic()
        result = sweep(folder / "sweep.log", str(path))
        work.base_seconds = time.monotonic() - started
        root = folder / "results" / BASE_NAME
        if result.returncode != 0 or not (root / "all_data.csv").is_file():
            raise Unusable(f"the tiny sweep failed (exit code {result.returncode}):"
                           f" {last_lines(result.stdout + result.stderr)}")
        work.base = root
    return work.base


def copy_of_base(work: Work, case: str) -> Path:
    """A private copy of the finished sweep (same procedure name) under the case's folder."""
    target = work.folder(case) / "results" / BASE_NAME
    shutil.copytree(base_sweep(work), target)
    return target


# --------------------------------------------------------------------------- the cases


def udp_port(log: Path, process: subprocess.Popen, seconds: float = 120) -> int | None:
    """The sweep's UDP port, from cluster_utils' log, once it listens."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if log.is_file():
            found = re.search(r"Communication happening on port: (\d+)", log.read_text())
            if found:
                return int(found.group(1))
        time.sleep(0.1)
    return None


def case_udp(work: Work) -> tuple[bool, str]:
    from learning.sweep_messages import encode_message

    folder = work.folder("case1")
    payload, planted = live_pickle(folder), folder / "pwned"
    path = write(folder / "udp.json", tiny("udp", folder / "results"))
    log = folder / "sweep.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "learning.sweep", str(path)],
                                   cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
        try:
            port = udp_port(folder / "results" / "udp" / "cluster_run.log", process)
            if port is None:
                raise Unusable(f"no port in cluster_run.log: {last_lines(log.read_text())}")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, ("127.0.0.1", port))
                wrong_key = encode_message(os.urandom(32), 0, (0, "attacker-host"))
                sock.sendto(wrong_key, ("127.0.0.1", port))
            code = process.wait(timeout=SWEEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return False, f"the sweep hung: not finished {SWEEP_TIMEOUT} s after the datagrams"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = log.read_text()
    if planted.exists():
        return False, f"the pickle ran: {planted} exists"
    note = work.line(output, "datagram(s) sent to the sweep's port were not signed")
    if code != 0 or not note.startswith("note: 2 datagram(s)"):
        return False, (f"payload not run, but exit code {code}, dropped datagrams reported:"
                       f" {note or 'no'}; {last_lines(output)}")
    return True, f"payload not run, the sweep finished (exit 0); {note}"


def case_status_pickle(work: Work) -> tuple[bool, str]:
    root = copy_of_base(work, "case2")
    folder = root.parents[1]
    planted = folder / "pwned"
    (root / "status.pickle").write_bytes(live_pickle(folder))
    recorded = data_rows(root)
    path = write(folder / "resume.json", tiny(BASE_NAME, root.parent, samples=recorded + 1))
    result = sweep(folder / "resume.log", str(path), "--resume")
    if planted.exists():
        return False, f"status.pickle was unpickled: {planted} exists"
    resumed = work.line(result.stdout, "resuming", "samples done", start=f"{recorded} of")
    rows = data_rows(root)
    if (result.returncode != 0 or f"{recorded} of {recorded + 1} samples done" not in resumed
            or rows != recorded + 1):
        return False, (f"payload not run, but exit code {result.returncode}, {rows} jobs in"
                       f" all_data.csv: {resumed or last_lines(result.stdout + result.stderr)}")
    return True, (f"status.pickle not unpickled (payload not run), the sweep finished with"
                  f" {rows} jobs (exit 0): {resumed}")


def case_confirm_settings(work: Work) -> tuple[bool, str]:
    root = copy_of_base(work, "case3")
    planted = root.parents[1] / "pwned"
    crafted = 0
    for settings_file in (root / "best_jobs").glob("*/settings.json"):
        settings = json.loads(settings_file.read_text())
        settings["config"]["rl_common_config"] = {"algorithm": f"ppo$(touch {planted})"}
        settings_file.write_text(json.dumps(settings))
        crafted += 1
    if not crafted:
        raise Unusable(f"no best job's settings.json in {root / 'best_jobs'}")
    result = inspection(root.parents[1] / "confirm.log", str(root), "--confirm", "1",
                        "--seeds", "1")
    if result.returncode == 0:
        return False, f"the confirmation ran (exit code 0): {last_lines(result.stdout)}"
    return refused(work, result.returncode, result.stdout + result.stderr, ("a dollar sign",),
                   expected_code=result.returncode, planted=planted, start="error: fixed")


def case_rerun_settings(work: Work) -> tuple[bool, str]:
    folder = work.folder("case4")
    planted = folder / "pwned"
    settings = {"config": {"config_templates": "hp_optim/config_templates_ppo.json",
                           "rl_common_config": {"algorithm": f"{{__import__('os').system("
                                                             f"'touch {planted}')}}"}},
                "working_dir": str(folder / "job")}
    path = write(folder / "settings.json", settings)
    result = run([sys.executable, "run_learning.py", str(path)], folder / "job.log")
    ok, text = refused(work, result.returncode, result.stderr, ("config error",),
                       planted=planted, start="config error")
    return ok, text.replace("refused before any job", "read as text, refused by the job")


def case_brace_expression(work: Work) -> tuple[bool, str]:
    folder = work.folder("case5")
    planted = folder / "pwned"
    config = local_with(folder / "results")
    config["fixed_params"]["config.rl_config.policy"] = (
        f"{{__import__('os').system('touch {planted}')}}")
    code, output = check(write(folder / "sweep.json", config))
    return refused(work, code, output, ("fixed_params.config.rl_config.policy",),
                   planted=planted)


@contextlib.contextmanager
def lock_folder_in(folder: Path) -> Iterator[Path]:
    """The CPU lock folder with the temporary directory (TMPDIR) set to ``folder``."""
    from learning.job.learner import cpu_lock_folder

    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield cpu_lock_folder()
    finally:
        tempfile.tempdir = saved


def reserve_one_cpu() -> tuple[frozenset[int] | None, str]:
    """What a job with local_cpu_pinning reserves (released at once) and prints."""
    from learning.job.learner import CpuReservation

    def reserve():
        reservation = CpuReservation(1)
        reservation.release()
        return reservation.cpus

    return captured(reserve)


def case_lock_symlink(work: Work) -> tuple[bool, str]:
    folder = work.folder("case6")
    important = folder / "important.txt"
    important.write_text("the user's results")
    with lock_folder_in(folder) as locks:
        locks.mkdir(mode=0o700)
        (locks / "cpu0.lock").symlink_to(important)
        cpus, output = reserve_one_cpu()
    if important.read_text() != "the user's results":
        return False, f"the link's target was changed: {important.read_text()!r}"
    warning = work.line(output, "is a symbolic link")
    if (cpus is not None and 0 in cpus) or not warning:
        return False, f"target intact, but CPU 0 taken through the link ({cpus}): {output!r}"
    return True, f"target not truncated, CPU 0 not used: {warning}"


def case_lock_folder_owner(work: Work) -> tuple[bool | None, str]:
    if os.geteuid() != 0:
        return None, "skipped: chown to another uid needs root"
    folder = work.folder("case7")
    with lock_folder_in(folder) as locks:
        locks.mkdir(mode=0o700)
        os.chown(locks, OTHER_UID, OTHER_UID)
        cpus, output = reserve_one_cpu()
    warning = work.line(output, "warning: not pinning", f"belongs to uid {OTHER_UID}",
                        start="belongs")
    made = sorted(os.listdir(locks))
    if cpus is not None or not warning or made:
        return False, f"CPUs {cpus}, lock files made there {made}: {output!r}"
    return True, f"refused with a warning, no lock file made there: {warning}"


def case_procedure_name(work: Work) -> tuple[bool, str]:
    folder = work.folder("case8")
    config = local_with(folder / "results", optimization_procedure_name="../escape")
    code, output = check(write(folder / "sweep.json", config))
    escaped = folder / "escape"
    if escaped.exists() or (folder / "results").exists():
        return False, f"a folder was made: {escaped} or {folder / 'results'} (exit code {code})"
    return refused(work, code, output, ("optimization_procedure_name", "contains '/'"))


def case_mixed_options(work: Work) -> tuple[bool, str]:
    folder = work.folder("case9")
    config = json.loads((REPO / "hp_optim" / "sac.json").read_text())
    config.update(results_dir=str(folder / "results"),
                  environment_setup={"virtual_env_path": sys.prefix})
    config["cluster_requirements"]["request_cpus"] = 1
    config["optimized_params"].append({"param": "config.rl_config.ent_coef",
                                       "distribution": "Discrete", "options": [0.1, "auto"]})
    code, output = check(write(folder / "sweep.json", config),
                         "optimization_setting.run_local=True")
    return refused(work, code, output, ("ent_coef", "mix numbers and strings"))


def case_list_options(work: Work) -> tuple[bool, str]:
    folder = work.folder("case10")
    config = local_with(folder / "results")
    config["optimized_params"][1] = {"param": "config.rl_config.policy_kwargs.net_arch",
                                     "distribution": "Discrete",
                                     "options": [[64, 64], [256, 256]]}
    code, output = check(write(folder / "sweep.json", config))
    return refused(work, code, output, ("net_arch", "is a list"))


def case_request_cpus(work: Work) -> tuple[bool | None, str]:
    from learning.launch.sweep_file import read_sweep_file
    from learning.preflight.environment import cluster_system

    folder = work.folder("case11")
    config = local_with(folder / "results")
    config["cluster_requirements"]["request_cpus"] = (os.cpu_count() or 1) + 1
    path = write(folder / "sweep.json", config)
    with in_repo():
        if cluster_system(read_sweep_file(path, [])) != "local":
            return None, "skipped: a cluster (Slurm/HTCondor) is on the PATH, not local mode"
    code, output = check(path)
    return refused(work, code, output, ("cluster_requirements.request_cpus", "this machine has"))


def case_changed_bounds(work: Work) -> tuple[bool, str]:
    root = copy_of_base(work, "case12")
    folder = root.parents[1]
    recorded = data_rows(root)
    config = tiny(BASE_NAME, root.parent, samples=recorded + 1)
    config["optimized_params"][0]["bounds"] = [1e-4, 1e-2]
    result = sweep(folder / "resume.log", str(write(folder / "changed.json", config)),
                   "--resume")
    if data_rows(root) != recorded:
        return False, (f"jobs ran on the changed search: all_data.csv has {data_rows(root)}"
                       f" jobs, had {recorded} (exit code {result.returncode})")
    return refused(work, result.returncode, result.stdout + result.stderr,
                   ("config.rl_config.learning_rate", "changed from"), start="optimized_params")


MATHTEXT = "$\\frac{$"  # matplotlib's mathtext parser raises on it
SCRIPT = "<script>alert(1)</script>"


def case_hostile_text(work: Work) -> tuple[bool, str]:
    import pandas as pd

    root = copy_of_base(work, "case13")
    planted = root.parents[1] / "pwned"
    hostile = [MATHTEXT, SCRIPT, f"$(touch {planted})"]
    all_data = pd.read_csv(root / "all_data.csv", index_col=0)
    all_data["config.rl_config.gamma"] = [hostile[i % 2] for i in range(len(all_data))]
    all_data["config.config_templates"] = hostile[2]
    all_data.to_csv(root / "all_data.csv")
    result = inspection(root.parents[1] / "inspection.log", str(root))
    output = result.stdout + result.stderr
    report = root / "report.html"
    if planted.exists():
        return False, f"the payload ran: {planted} exists"
    if result.returncode != 0 or not report.is_file():
        return False, (f"exit code {result.returncode}, report.html"
                       f" {'written' if report.is_file() else 'missing'}: {last_lines(output)}")
    page = report.read_text(encoding="utf-8")
    escaped = html.escape(SCRIPT, quote=False)
    if "<script" in page or escaped not in page or MATHTEXT not in page:
        return False, f"report.html holds {SCRIPT!r} unescaped or lost the planted values"
    shown = sum(text in result.stdout for text in (MATHTEXT, SCRIPT))
    return True, (f"payload not run; report.html written ({len(page) // 1024} KiB), holds"
                  f" '{escaped}' and '{MATHTEXT}' as text, no <script> element; the printed"
                  f" table shows {shown} of 2 values as written")


def case_failing_jobs(work: Work) -> tuple[bool, str]:
    folder = work.folder("case14")
    script = folder / "fail.py"
    message = "boom: the cluster has no such module"
    script.write_text(f"import sys\nprint({message!r}, file=sys.stderr)\nsys.exit(1)\n")
    config = tiny("failing", folder / "results", samples=8)
    config.update(script_relative_path=str(script))
    config["optimization_setting"]["n_jobs_per_iteration"] = 4
    started = time.monotonic()
    result = sweep(folder / "sweep.log", str(write(folder / "failing.json", config)))
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    stopped = work.line(result.stderr, "sweep stopped")
    if (result.returncode != 1 or "Traceback" in output or not stopped
            or f"    {message}" not in result.stderr):
        return False, (f"exit code {result.returncode}, traceback"
                       f" {'printed' if 'Traceback' in output else 'none'}:"
                       f" {last_lines(output)}")
    failed = result.stdout.count(f"failed: {message}")
    return True, (f"exit 1 after {seconds:.0f} s, {failed} jobs reported failed with the"
                  f" job's message, no traceback: {stopped}")


@dataclass(frozen=True)
class Case:
    name: str
    attack: str
    run: Callable[[Work], tuple[bool | None, str]]


CASES = {
    1: Case("udp pickle", "pickle (os.system) and a wrong-key signed datagram to the sweep's"
            " UDP port", case_udp),
    2: Case("status.pickle", "planted status.pickle (os.system), then --resume",
            case_status_pickle),
    3: Case("confirm settings", "best job's settings.json holds $(touch ...), then"
            " inspection --confirm 1 --seeds 1", case_confirm_settings),
    4: Case("rerun settings", "settings.json holds {__import__('os').system(...)}, then"
            " run_learning.py settings.json", case_rerun_settings),
    5: Case("hp_optim braces", "{__import__('os').system(...)} in an hp_optim string,"
            " --check", case_brace_expression),
    6: Case("lock file symlink", "CPU lock file symlinked to a file of the user",
            case_lock_symlink),
    7: Case("lock folder owner", f"CPU lock folder made by uid {OTHER_UID}",
            case_lock_folder_owner),
    8: Case("procedure name", "optimization_procedure_name \"../escape\", --check",
            case_procedure_name),
    9: Case("mixed options", "Discrete options [0.1, \"auto\"], --check", case_mixed_options),
    10: Case("list options", "Discrete options [[64, 64], [256, 256]], --check",
             case_list_options),
    11: Case("request_cpus", "request_cpus above this machine's CPUs (local mode), --check",
             case_request_cpus),
    12: Case("changed bounds", "--resume after learning_rate's bounds changed",
             case_changed_bounds),
    13: Case("hostile text", "$\\frac{$, <script> and $(touch ...) in all_data.csv, then the"
             " inspection", case_hostile_text),
    14: Case("failing jobs", "a job script that prints a message and exits 1",
             case_failing_jobs),
}


# --------------------------------------------------------------------------- report


def run_case(number: int, work: Work) -> tuple[str, str, float]:
    """(verdict: defended, NOT defended, skipped or error, what happened, seconds)."""
    started = time.monotonic()
    try:
        ok, text = CASES[number].run(work)
        verdict = {True: "defended", False: "NOT defended", None: "skipped"}[ok]
    except Unusable as e:
        verdict, text = "error", f"the case could not be set up: {e}"
    except subprocess.TimeoutExpired as e:
        verdict = "NOT defended"
        text = f"hung: {' '.join(map(str, e.cmd))[-80:]} ran past {e.timeout:g} s"
    except Exception as e:  # a crash of the benchmark or the project: a row, not a traceback
        verdict, text = "NOT defended", f"{type(e).__name__}: {e}"
    if verdict != "skipped":
        text = f"{verdict}: {text}"
    if work.base_seconds is not None and not work.base_reported:  # it ran in this case
        work.base_reported = True
        text += f" (of the seconds: {work.base_seconds:.0f} for the tiny sweep it starts from)"
    return verdict, text, time.monotonic() - started


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def print_row(*cells: object) -> None:
    print("| " + " | ".join(cell(c) for c in cells) + " |", flush=True)


def parse_cases(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a list of case numbers: {text!r}") from e
    unknown = [n for n in numbers if n not in CASES]
    if unknown or not numbers:
        raise argparse.ArgumentTypeError(f"cases are 1-{len(CASES)}; got {text!r}")
    return numbers


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=parse_cases, default=list(CASES),
                        help="comma-separated case numbers (default: all)")
    parser.add_argument("--work", type=Path,
                        help="folder for the cases' files, kept (default: a temporary one,"
                             " removed)")
    args = parser.parse_args(argv)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="shared-cluster-", dir=args.work))
    else:
        root = Path(tempfile.mkdtemp(prefix="lttfs-shared-cluster-"))
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)  # cluster_utils needs it
    before = load()
    print(f"cases in {root}; load average before {before}", flush=True)
    work = Work(root)
    print_row("#", "case", "attack", "outcome", "s")
    print("|---|---|---|---|---|")
    verdicts = []
    started = time.monotonic()
    for number in args.cases:
        verdict, text, seconds = run_case(number, work)
        verdicts.append(verdict)
        print_row(number, CASES[number].name, CASES[number].attack, text, f"{seconds:.1f}")
    ran = [v for v in verdicts if v != "skipped"]
    extra = [f"{verdicts.count(v)} {v}" for v in ("skipped", "error") if v in verdicts]
    print(f"\n{ran.count('defended')} of {len(ran)} cases defended"
          + (f" ({', '.join(extra)})" if extra else "")
          + f" in {time.monotonic() - started:.0f} s; load average before {before}, after"
          f" {load()}")
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"files kept in {root}")
    return 0 if all(v == "defended" for v in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
