"""run_singularity.py end to end, with a STAND-IN for the container runtime.

No Singularity/Apptainer runtime can be installed on the test machine. The runtime is
replaced by tests/singularity/fake_singularity, a small script that checks the options
and bind paths it is given, emulates the clean, contained environment and then runs the
command *on the host* (no container). Everything else is real: the wrapper runs as its
own process with the command line cluster_utils gives a job script, and the slow test
runs a real `python -m cluster_utils.hp_optimization` in local mode through
run_singularity.py -> run_learning.py -> the learner.
"""

import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
WRAPPER = REPO / "run_singularity.py"
FAKE = pathlib.Path(__file__).with_name("fake_singularity")


def make_executable(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def host_env(tmp_path: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    # the stand-in's `#!/usr/bin/env python3` finds this venv's python, which also plays
    # the image's python (see fake_singularity)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["FAKE_SINGULARITY_LOG"] = str(tmp_path / "fake_singularity.jsonl")
    env["HOST_ONLY_VARIABLE"] = "must not reach the container"
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture
def job(tmp_path):
    """A project dir with an image file; returns a function that runs the wrapper."""
    project = tmp_path / "project dir"
    project.mkdir()
    image = tmp_path / "lttfs.sif"
    image.write_bytes(b"stand-in image file")
    working_dir = tmp_path / "results" / "job 0"

    def start(inner_script: str, **extra):
        make_executable(project / "inner.sh", inner_script)
        params = {
            "working_dir": str(working_dir),
            "id": 0,
            "singularity.image": str(image),
            "singularity.script": "inner.sh",
            "singularity.executable": str(FAKE),
            **extra,
        }
        argv = ["--job-id=0", "--cluster-utils-server=127.0.0.1:1",
                "--parameter-dict", str(params)]
        process = subprocess.Popen(
            [sys.executable, str(WRAPPER), *argv], cwd=project, env=host_env(tmp_path),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        return process, argv

    def run(inner_script: str, **extra):
        process, argv = start(inner_script, **extra)
        out, err = process.communicate(timeout=60)
        return process.returncode, out, err, argv

    return {"run": run, "start": start, "working_dir": working_dir, "project": project,
            "log": tmp_path / "fake_singularity.jsonl"}


def test_resume_exit_code_3_and_unchanged_arguments(job):
    rc, out, _, argv = job["run"](
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$PWD/args.txt"\necho resuming later\nexit 3\n'
    )
    assert rc == 3
    assert (job["project"] / "args.txt").read_text().splitlines() == argv
    assert "resuming later" in out
    assert (job["working_dir"] / "stdout.txt").read_text() == "resuming later\n"


def test_failing_inner_script_is_reported_and_logged(job):
    failing = "#!/bin/sh\necho step one\necho 'boom: learner crashed' >&2\nexit 1\n"
    rc, out, err, _ = job["run"](failing)
    assert rc == 1
    assert "boom: learner crashed" in err  # what cluster_utils shows for a failed job
    rc, _, _, _ = job["run"](failing)  # a second attempt appends to the same logs
    assert rc == 1
    stderr_log = (job["working_dir"] / "stderr.txt").read_text()
    assert stderr_log.count("boom: learner crashed") == 2
    assert (job["working_dir"] / "stdout.txt").read_text() == "step one\nstep one\n"


def test_other_exit_codes_and_death_by_signal(job):
    assert job["run"]("#!/bin/sh\nexit 65\n")[0] == 65
    assert job["run"]("#!/bin/sh\nkill -KILL $$\n")[0] == 128 + signal.SIGKILL


def test_contained_environment_and_binds(job):
    rc, _, err, _ = job["run"]("#!/bin/sh\nenv > \"$PWD/env.txt\"\n",
                               **{"singularity.nv": True})
    assert rc == 0, err
    inner = dict(line.split("=", 1) for line in
                 (job["project"] / "env.txt").read_text().splitlines() if "=" in line)
    assert inner["PYTHONPATH"] == str(job["project"])
    assert inner["OMP_NUM_THREADS"] == "1"
    assert "HOST_ONLY_VARIABLE" not in inner
    (call,) = [json.loads(line) for line in job["log"].read_text().splitlines()]
    assert call["binds"] == ["/tmp", str(job["working_dir"]), str(job["project"])]
    assert {"--nv", "--cleanenv", "--containall"} <= set(call["flags"])
    assert call["pwd"] == str(job["project"])


def test_settings_error_fails_before_running_anything(job):
    rc, _, err, _ = job["run"]("#!/bin/sh\nexit 0\n", **{"singularity.nv": "yes"})
    assert rc == 1
    assert "singularity.nv: must be true or false" in err
    assert not job["log"].exists()


WAITING_SCRIPT = (  # records its pid, traps {name}, then waits to be signalled
    "#!/bin/sh\necho $$ > \"$PWD/inner.pid\"\ntrap 'echo got {name}; exit 75' {name}\n"
    "echo ready\nwhile true; do sleep 0.05; done\n"
)


def signal_when_ready(job, process, signals):
    """Send ``signals`` to the wrapper only, once the inner script is ready; always
    clean up the inner script (also when forwarding is broken and it is orphaned)."""
    stdout_log = job["working_dir"] / "stdout.txt"
    try:
        deadline = time.monotonic() + 30
        while not (stdout_log.exists() and "ready" in stdout_log.read_text()):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        for signum, then in signals:
            os.kill(process.pid, signum)
            then()
        process.communicate(timeout=30)
        return process.returncode, stdout_log.read_text()
    finally:
        inner_pid = int((job["project"] / "inner.pid").read_text())
        try:
            os.kill(inner_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_signals_reach_the_inner_script(job, signum):
    """Only the wrapper's pid is signalled: the inner script sees it only if forwarded."""
    name = signal.Signals(signum).name[3:]
    process, _ = job["start"](WAITING_SCRIPT.format(name=name))
    rc, stdout = signal_when_ready(job, process, [(signum, lambda: None)])
    assert rc == 75
    assert stdout == f"ready\ngot {name}\n"


def test_sigint_is_left_to_the_terminal_and_the_wrapper_keeps_waiting(job):
    process, _ = job["start"](WAITING_SCRIPT.format(name="TERM"))

    def still_waiting():
        time.sleep(0.5)
        assert process.poll() is None  # SIGINT to the wrapper alone: it keeps waiting

    rc, stdout = signal_when_ready(
        job, process, [(signal.SIGINT, still_waiting), (signal.SIGTERM, lambda: None)]
    )
    assert (rc, stdout) == (75, "ready\ngot TERM\n")


# --- real cluster_utils (local mode) -> run_singularity.py -> stand-in runtime -> job ---

RESUMING_JOB = """#!/usr/bin/env python3
# first call: exit for resume (code 3); second call: report the result
import pathlib
from cluster_utils import exit_for_resume, finalize_job, initialize_job

params = initialize_job()
marker = pathlib.Path(params.working_dir) / "first_part_done"
print("part", 2 if marker.exists() else 1, "x =", params.x)
if not marker.exists():
    marker.write_text("done")
    exit_for_resume()
finalize_job({"score": float(params.x) ** 2}, params)
"""


def hp_optimization(config: dict, tmp_path: pathlib.Path, timeout: float):
    config_file = tmp_path / "hp_optim.json"
    config_file.write_text(json.dumps(config, indent=2))
    process = subprocess.Popen(
        [sys.executable, "-m", "cluster_utils.hp_optimization", str(config_file)],
        cwd=REPO, env=host_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # cluster_utils 3.0's local mode waits forever for a job that ends with a code
        # other than 0, 1 or 3 without registering; end its whole process group
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"hp_optimization did not finish in {timeout} s:\n{out[-3000:]}{err[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
def test_cluster_utils_jobs_register_and_resume_through_the_wrapper(tmp_path):
    inner = make_executable(tmp_path / "resuming_job.py", RESUMING_JOB)
    image = tmp_path / "lttfs.sif"
    image.write_bytes(b"stand-in image file")
    config = {
        "optimization_procedure_name": "singularity_resume",
        "results_dir": str(tmp_path / "results"),
        "script_relative_path": "run_singularity.py",
        "run_in_working_dir": True,
        "generate_report": "never",
        "no_user_interaction": True,
        "environment_setup": {},
        "cluster_requirements": {"request_cpus": 1},
        "fixed_params": {
            "singularity.image": str(image),
            "singularity.script": str(inner),  # absolute: under /tmp, which is bound
            "singularity.executable": str(FAKE),
        },
        "optimized_params": [
            {"param": "x", "distribution": "TruncatedNormal", "bounds": [0, 1]}
        ],
        "optimizer_str": "cem_metaoptimizer",
        "optimizer_settings": {"with_restarts": False, "num_jobs_in_elite": 2},
        "num_best_jobs_whose_data_is_kept": 2,
        "optimization_setting": {
            "run_local": True, "n_jobs_per_iteration": 2, "number_of_samples": 2,
            "metric_to_optimize": "score", "minimize": True,
        },
    }
    result = hp_optimization(config, tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Procedure successfully finished" in result.stdout
    best = sorted((tmp_path / "results" / "singularity_resume" / "best_jobs").iterdir())
    assert len(best) == 2
    for job_dir in best:
        stdout = (job_dir / "stdout.txt").read_text()  # appended by both wrapper runs
        assert "part 1" in stdout and "part 2" in stdout
        assert (job_dir / "metrics.csv").exists()


def test_singularity_local_config_is_ppo_local_plus_the_two_changes():
    """The shipped example is exactly what a user makes of any config (issue text)."""
    local = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    wrapped = json.loads((REPO / "hp_optim" / "ppo_singularity_local.json").read_text())
    assert wrapped.pop("script_relative_path") == "run_singularity.py"
    assert wrapped.pop("optimization_procedure_name") == "ppo_singularity_local"
    fixed = wrapped["fixed_params"]
    assert fixed.pop("singularity.image") == "~/lttfs.sif"
    assert fixed.pop("singularity.script") == local["script_relative_path"]
    del local["script_relative_path"], local["optimization_procedure_name"]
    assert wrapped == local


@pytest.mark.slow
def test_hp_optimization_trains_through_wrapper_job_and_learner(tmp_path):
    """hp_optim/ppo_singularity_local.json on tiny budgets: cluster_utils (local mode)
    -> run_singularity.py -> stand-in runtime -> run_learning.py -> python -m learning."""
    config = json.loads((REPO / "hp_optim" / "ppo_singularity_local.json").read_text())
    image = tmp_path / "lttfs.sif"
    image.write_bytes(b"stand-in image file")
    config["results_dir"] = str(tmp_path / "results")
    fixed = config["fixed_params"]
    assert fixed["singularity.script"] == "run_learning.py"
    fixed["singularity.image"] = str(image)
    fixed["singularity.executable"] = str(FAKE)
    fixed["learning_runs_per_job"] = 1
    fixed["training_iterations"] = 1
    fixed["max_attempts"] = 1
    for key in [k for k in fixed if k.startswith("pruning.")]:
        del fixed[key]  # pruning needs training_iterations >= 2 and more jobs
    config["optimized_params"] = [p for p in config["optimized_params"]
                                  if p["param"] != "config.rl_config.batch_size"]
    # cluster_utils wants fixed_params flat (dotted names); it nests them for the job
    fixed.update({f"config.rl_config.{key}": value for key, value in
                  {"num_timesteps": 128, "n_steps": 32, "batch_size": 32, "n_epochs": 1}.items()})
    fixed["config.rl_common_config.evaluation_episodes"] = 1
    config["optimization_setting"].update({"number_of_samples": 2, "n_jobs_per_iteration": 2})

    result = hp_optimization(config, tmp_path, timeout=600)
    procedure = tmp_path / "results" / config["optimization_procedure_name"]
    log = procedure / "cluster_run.log"  # has the jobs' errors
    assert result.returncode == 0, result.stderr[-2000:] + (
        log.read_text()[-3000:] if log.exists() else "")
    assert "Procedure successfully finished" in result.stdout
    best = sorted((procedure / "best_jobs").iterdir())
    assert len(best) == 2
    for job_dir in best:
        metrics = (job_dir / "metrics.csv").read_text().splitlines()
        assert "mean_eval_reward" in metrics[0].split(",")
        assert (job_dir / "stdout.txt").exists() and (job_dir / "stderr.txt").exists()
        assert list(job_dir.glob("run_0.0-*/model.zip")), sorted(p.name for p in job_dir.iterdir())
    calls = [json.loads(line) for line in
             (tmp_path / "fake_singularity.jsonl").read_text().splitlines()]
    assert calls and all(c["image"] == str(image) for c in calls)
    assert all(c["cmd"][:2] == ["python3", str(REPO / "run_learning.py")] or
               c["cmd"][0] == str(REPO / "run_learning.py") for c in calls)
    assert all({"--cleanenv", "--containall"} <= set(c["flags"]) for c in calls)
    assert all(c["env"]["PYTHONPATH"] == str(REPO) for c in calls)
