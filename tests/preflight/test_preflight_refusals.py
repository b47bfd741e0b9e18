"""Pre-flight refusals of settings that cluster_utils would run into a wrong result or a
raw traceback: the procedure name as a path, more CPUs per job than local mode has,
Discrete options numpy cannot sample or would convert, and unsafe parameter names.

Real cluster_utils reader and distributions, the job's real checks; nothing is
submitted."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from learning.launch.launcher import main
from learning.launch.sweep_file import mixed_options_problem, read_sweep_file
from learning.preflight.checks import run_preflight
from learning.preflight.environment import cluster_system

REPO = Path(__file__).resolve().parents[2]
LOCAL = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
GRID = json.loads((REPO / "hp_optim" / "grid_search.json").read_text())
SAC = json.loads((REPO / "hp_optim" / "sac.json").read_text())


@pytest.fixture(autouse=True)
def in_project(monkeypatch):
    """Jobs start in the project directory; so does the pre-flight."""
    monkeypatch.chdir(REPO)


def write(tmp_path: Path, config: dict, name: str = "sweep.json") -> Path:
    config = dict(config, results_dir=str(tmp_path / "results"))
    path = tmp_path / name
    path.write_text(json.dumps(config, indent=1))
    return path


def preflight(tmp_path: Path, config: dict, *overrides: str):
    return run_preflight(read_sweep_file(write(tmp_path, config), list(overrides)))


def one_cpu(config: dict) -> dict:
    """The file with 1 CPU per job, so that it passes on any machine in local mode."""
    config = copy.deepcopy(config)
    config["cluster_requirements"]["request_cpus"] = 1
    return config


def with_option(config: dict, index: int, param: str, options: list) -> dict:
    config = copy.deepcopy(config)
    config["optimized_params"][index] = {"param": param, "distribution": "Discrete",
                                         "options": options}
    return config


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------- 1. the name


@pytest.mark.parametrize("base", [LOCAL, GRID], ids=["hp_optimization", "grid_search"])
@pytest.mark.parametrize("name, words", [
    ("../escape", "contains '/'"),
    ("sub/name", "contains '/'"),
    ("/abs/name", "contains '/'"),
    ("", "is empty"),
    (".", "is results_dir itself or its parent"),
    ("..", "is results_dir itself or its parent"),
    (".hidden", "starts with '.'"),
    ("a\0b", "a NUL character"),
    (5, "is integer"),
])
def test_procedure_name_must_be_one_folder_name(tmp_path, capsys, base, name, words):
    path = write(tmp_path, one_cpu(dict(base, optimization_procedure_name=name)))
    assert main([str(path), "--check"]) == 2
    out = capsys.readouterr().out
    assert f"error: {path}: optimization_procedure_name: " in out
    assert words in out and "valid: one folder name" in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "escape").exists()


def test_resume_with_a_path_as_name_is_refused_too(tmp_path, capsys):
    """``sub/name`` passed the pre-flight before, then crashed in cluster_utils, and so did
    the --resume the launcher suggested."""
    path = write(tmp_path, one_cpu(dict(LOCAL, optimization_procedure_name="sub/name")))
    for mode in ("--resume", "--fresh"):
        assert main([str(path), mode]) == 2
        out, err = capsys.readouterr()
        assert "optimization_procedure_name: 'sub/name' contains '/'" in out
        assert "Traceback" not in out + err
    assert not (tmp_path / "results").exists()


# --------------------------------------------------------------------------- 2. local CPUs


@pytest.fixture
def local_mode(tmp_path):
    if cluster_system(read_sweep_file(write(tmp_path, LOCAL), [])) != "local":
        pytest.skip("Slurm or HTCondor is on the PATH: the sweep would not run locally")


def test_request_cpus_above_the_machine(tmp_path, local_mode):
    machine = os.cpu_count()
    config = copy.deepcopy(LOCAL)
    config["cluster_requirements"]["request_cpus"] = machine + 1
    problem = only(preflight(tmp_path, config).problems)
    assert f"cluster_requirements.request_cpus: {machine + 1} CPUs per job, but" in problem
    assert f"this machine has {machine} CPUs" in problem
    assert "Sample larger than population" in problem
    assert f"valid: an integer in [1, {machine}]" in problem
    config["cluster_requirements"]["request_cpus"] = machine
    assert preflight(tmp_path, config).problems == []


def test_request_cpus_above_max_cpus(tmp_path, local_mode):
    config = copy.deepcopy(LOCAL)
    config["cluster_requirements"].update(request_cpus=2, max_cpus=1)
    if os.cpu_count() < 2:
        pytest.skip("needs 2 CPUs")
    problem = only(preflight(tmp_path, config).problems)
    assert "cluster_requirements.request_cpus: 2 CPUs per job" in problem
    assert "and max_cpus is 1" in problem and "valid: an integer in [1, 1]" in problem
    config["cluster_requirements"].update(request_cpus=1)
    assert preflight(tmp_path, config).problems == []
    for bad in (0, "2", 1.5):
        config["cluster_requirements"].update(max_cpus=bad)
        problem = only(preflight(tmp_path, config).problems)
        assert f"cluster_requirements.max_cpus: {bad!r}; valid: an integer >= 1" in problem


# --------------------------------------------------------------------------- 3. list options


def test_list_options_fail_in_cluster_utils():
    """Why they are refused: cluster_utils' Discrete samples with numpy, which cannot."""
    from cluster_utils.hp_optimization import get_distribution

    distribution = get_distribution(param="config.rl_config.policy_kwargs.net_arch",
                                    distribution="Discrete", options=[[64, 64], [256, 256]])
    with pytest.raises(ValueError, match="1-dimensional"):
        distribution.prepare_samples(howmany=1)


def test_list_options_are_refused_with_a_hint(tmp_path, capsys):
    config = with_option(LOCAL, 1, "config.rl_config.policy_kwargs.net_arch",
                         [[64, 64], [256, 256]])
    path = write(tmp_path, one_cpu(config))
    assert main([str(path), "--check"]) == 2
    problem = only([line for line in capsys.readouterr().out.splitlines() if "error:" in line])
    assert (f"{path}: optimized_params[1] 'config.rl_config.policy_kwargs.net_arch'"
            " options[0]: [64, 64] is a list") in problem
    assert "a must be 1-dimensional" in problem
    assert "config.rl_config.num_layers and config.rl_config.num_hidden" in problem
    assert "grid_search" in problem


def test_object_and_null_options_are_refused(tmp_path):
    config = with_option(LOCAL, 1, "config.rl_config.policy_kwargs",
                         [{"net_arch": [64]}, {"net_arch": [256]}])
    problem = only(preflight(tmp_path, one_cpu(config)).problems)
    assert "'config.rl_config.policy_kwargs' options[0]: {'net_arch': [64]} is an object" in (
        problem)
    assert "num_layers" in problem and "dotted names" in problem
    config = with_option(LOCAL, 1, "config.rl_config.target_kl", [None, 0.01])
    problem = only(preflight(tmp_path, one_cpu(config)).problems)
    assert "options[0]: null is not a value cluster_utils accepts" in problem
    config = with_option(LOCAL, 1, "config.rl_config.gamma", [])
    assert "options: is []; valid: a non-empty list" in only(
        preflight(tmp_path, one_cpu(config)).problems)


# --------------------------------------------------------------------------- 4. mixed kinds


def test_mixed_options_reach_the_jobs_converted():
    """Why they are refused: cluster_utils' Discrete makes every option a string."""
    from cluster_utils.hp_optimization import get_distribution

    distribution = get_distribution(param="config.rl_config.ent_coef",
                                    distribution="Discrete", options=[0.1, "auto"])
    distribution.prepare_samples(howmany=10)
    samples = {distribution.sample().item() for _ in range(10)}
    assert samples <= {"0.1", "auto"} and samples


def test_mixed_strings_and_numbers_are_refused(tmp_path):
    """SAC's ent_coef is "auto", "auto_<start>" or a number; both as written pass the job's
    checks, the jobs would get '0.1'."""
    config = one_cpu(SAC)
    config["optimized_params"].append({"param": "config.rl_config.ent_coef",
                                       "distribution": "Discrete", "options": [0.1, "auto"]})
    problem = only(preflight(tmp_path, config, "optimization_setting.run_local=True").problems)
    index = len(config["optimized_params"]) - 1
    assert problem.startswith(f"{tmp_path / 'sweep.json'}: optimized_params[{index}]"
                              " 'config.rl_config.ent_coef' options: [0.1, 'auto'] mix numbers"
                              " and strings")
    assert "the jobs would get ['0.1', 'auto']" in problem
    assert "valid: options of one kind" in problem and '"auto_0.1"' in problem
    config["optimized_params"][index]["options"] = ["auto", "auto_0.1"]
    assert preflight(tmp_path, config, "optimization_setting.run_local=True").problems == []


def test_job_error_on_a_written_option_comes_first(tmp_path):
    """An option the job refuses as written is named by the job's own error (more precise
    than the mix)."""
    config = with_option(LOCAL, 1, "config.rl_config.gamma", [0.9, "0.99"])
    problem = only(preflight(tmp_path, one_cpu(config)).problems)
    assert problem.startswith("optimized_params[1] 'config.rl_config.gamma' = '0.99'"
                              " (option):")


def test_booleans_mixed_with_numbers(tmp_path):
    sweep = read_sweep_file(write(tmp_path, LOCAL), [])
    problem = str(mixed_options_problem(sweep, 2, "config.rl_config.verbose", [True, 0]))
    assert "options: [True, 0] mix true/false and numbers" in problem
    assert "the jobs would get [1, 0]" in problem
    assert mixed_options_problem(sweep, 2, "config.rl_config.x", [True, False]) is None
    assert mixed_options_problem(sweep, 2, "config.rl_config.x", ["a", "b"]) is None


def test_integers_among_floats(tmp_path):
    """numpy makes them floats: allowed when the job accepts the floats too (both forms are
    checked), refused when a float cannot hold the integer."""
    config = with_option(LOCAL, 1, "config.rl_config.gamma", [1, 0.5])
    result = preflight(tmp_path, one_cpu(config))
    assert result.problems == []
    floats = preflight(tmp_path, one_cpu(with_option(LOCAL, 1, "config.rl_config.gamma",
                                                     [1.0, 0.5])))

    def checked(notes: list[str]) -> int:
        note = next(n for n in notes if n.startswith("job settings:"))
        return int(note.split(", ")[1].split()[0])  # "..., N values of ..."

    assert checked(result.notes) == checked(floats.notes) + 1  # 1 and 1.0
    big = 2**53 + 1
    config = with_option(LOCAL, 3, "config.rl_config.learning_rate", [big, 0.5])
    problem = only(preflight(tmp_path, one_cpu(config)).problems)
    assert f"options: {big} among floats: numpy makes it {float(big)!r}" in problem


# --------------------------------------------------------------------------- 6. names


def test_unsafe_fixed_param_name_is_refused(tmp_path, capsys):
    name = 'x"; touch /tmp/pwned; "'
    config = one_cpu(LOCAL)
    config["fixed_params"][name] = 1
    path = write(tmp_path, config)
    assert main([str(path), "--check"]) == 2
    out = capsys.readouterr().out
    assert f"error: fixed_params name: {name!r} contains a double quote" in out
    assert "bash script" in out and "valid: text without" in out


def test_unsafe_grid_param_name_is_refused(tmp_path):
    config = one_cpu(GRID)
    config["hyperparam_list"].append({"param": "config.rl_config.gamma$(id)",
                                      "values": [0.9, 0.99]})
    problems = preflight(tmp_path, config).problems
    assert any(p.startswith("hyperparam_list[2] param: 'config.rl_config.gamma$(id)' contains"
                            " a dollar sign") for p in problems), problems
