"""Pre-flight of a sweep (learning.preflight.checks): the job's own errors, named by
parameter, and the settings cluster_utils would hand to a shell, before any job.

Real cluster_utils reader and distributions, the job's real merge and config checks;
nothing is submitted (no cluster_utils server starts), so these tests are quick."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from learning.launch.launcher import main
from learning.launch.sweep_file import read_sweep_file
from learning.preflight.checks import run_preflight
from learning.preflight.environment import slurm_partitions, slurm_problems
from learning.preflight.shell_safety import IN_DOUBLE_QUOTES, WHY_QUOTED, check_value

REPO = Path(__file__).resolve().parents[2]
LOCAL = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
PBT = json.loads((REPO / "hp_optim" / "ppo_pbt.json").read_text())


@pytest.fixture(autouse=True)
def in_project(monkeypatch):
    """Jobs start in the project directory; so does the pre-flight."""
    monkeypatch.chdir(REPO)


def write(tmp_path: Path, config: dict, name: str = "sweep.json") -> Path:
    config = dict(config, results_dir=str(tmp_path / "results"))
    path = tmp_path / name
    path.write_text(json.dumps(config, indent=1))
    return path


def problems_of(tmp_path: Path, config: dict, *overrides: str) -> list[str]:
    return run_preflight(read_sweep_file(write(tmp_path, config), list(overrides))).problems


def changed(**changes) -> dict:
    config = copy.deepcopy(LOCAL)
    config.update(changes)
    return config


def with_param(index: int, **item) -> dict:
    config = copy.deepcopy(LOCAL)
    config["optimized_params"][index] = item
    return config


def with_fixed(**fixed) -> dict:
    config = copy.deepcopy(LOCAL)
    config["fixed_params"].update(fixed)
    return config


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("name, overrides", [
    ("ppo_local.json", []),
    ("grid_search.json", []),
    ("envs_grid.json", []),
    ("ppo_aim.json", []),
    ("ppo_pbt.json", []),
    # the cluster files on a machine without Slurm: checked as local runs (on as many CPUs
    # as this machine has)
    ("ppo.json", ["optimization_setting.run_local=True", "cluster_requirements.request_cpus=1"]),
    ("sac.json", ["optimization_setting.run_local=True", "cluster_requirements.request_cpus=1"]),
])
def test_shipped_hp_optim_files_pass(tmp_path, name, overrides):
    config = json.loads((REPO / "hp_optim" / name).read_text())
    assert problems_of(tmp_path, config, *overrides) == []


def test_typo_in_an_optimized_parameter(tmp_path):
    config = with_param(1, param="config.rl_config.lerning_rate",
                        distribution="TruncatedLogNormal", bounds=[1e-5, 1e-2])
    problem = only(problems_of(tmp_path, config))
    assert problem.startswith("optimized_params[1] 'config.rl_config.lerning_rate' = 1e-05"
                              " (lower bound): parameter 'config.rl_config.lerning_rate':"
                              " unknown key 'lerning_rate' in rl_config")
    assert "valid keys:" in problem and "learning_rate" in problem


def test_typo_in_fixed_params_names_each_parameter(tmp_path):
    config = with_fixed(**{"config.rl_config.n_step": 256,
                           "config.hysr_config.robot_positon:0": 0.1,
                           "learning_run_per_job": 2})
    problems = problems_of(tmp_path, config)
    assert len(problems) == 3, problems
    assert any("parameter 'config.rl_config.n_step': unknown key 'n_step'" in p for p in problems)
    assert any("'config.hysr_config.robot_positon:0': unknown key 'robot_positon'" in p
               for p in problems)
    assert any("unknown job settings ['learning_run_per_job']" in p for p in problems)
    assert all(p.startswith("fixed_params: ") for p in problems)


def test_out_of_range_bound(tmp_path):
    config = with_param(1, param="config.rl_config.gamma", distribution="TruncatedNormal",
                        bounds=[0.9, 1.2])
    problem = only(problems_of(tmp_path, config))
    assert problem.startswith("optimized_params[1] 'config.rl_config.gamma' = 1.2 (upper bound):"
                              " parameter 'config.rl_config.gamma': gamma: 1.2")
    assert "valid:" in problem


def test_wrongly_typed_option(tmp_path):
    config = with_param(1, param="config.rl_config.n_steps", distribution="Discrete",
                        options=[256, "512"])
    del config["fixed_params"]["config.rl_config.n_steps"]
    problem = only(problems_of(tmp_path, config))
    assert problem.startswith("optimized_params[1] 'config.rl_config.n_steps' = '512' (option):")
    assert "expected integer like the template value" in problem


def test_missing_templates(tmp_path):
    config = with_fixed(**{"config.config_templates": "hp_optim/no_such_templates.json"})
    problem = only(problems_of(tmp_path, config))
    assert "parameter 'config.config_templates': no file 'hp_optim/no_such_templates.json'" in (
        problem)
    mapping = json.loads((REPO / "hp_optim" / "config_templates_ppo.json").read_text())
    mapping = {role: str((REPO / "hp_optim" / file).resolve()) for role, file in mapping.items()}
    mapping["pam_config"] = str(tmp_path / "missing_pam.json")
    (tmp_path / "templates.json").write_text(json.dumps(mapping))
    config = with_fixed(**{"config.config_templates": str(tmp_path / "templates.json")})
    problem = only(problems_of(tmp_path, config))
    assert "templates.json: pam_config: file not found" in problem


@pytest.mark.parametrize("setting, value, what", [
    ("config.rl_common_config.algorithm", 'ppo"; touch /tmp/pwned; "', "a double quote"),
    ("config.rl_common_config.algorithm", "ppo$(touch /tmp/pwned)", "a dollar sign"),
    ("singularity.binds", ["/data:/data", "/x`touch /tmp/pwned`"], "a backtick"),
    ("config.rl_config.device", "cpu\\", "a backslash"),
    ("config.rl_config.device", "cp\nu", "a newline"),
    ("config.rl_config.device", "it's", "a single quote"),
])
def test_unsafe_strings_in_fixed_params(tmp_path, setting, value, what):
    problems = problems_of(tmp_path, with_fixed(**{setting: value}))
    unsafe = [p for p in problems if what in p]
    assert len(unsafe) == 1, problems
    assert unsafe[0].startswith(f"fixed_params '{setting}'")
    assert "bash script" in unsafe[0] and "valid: text without" in unsafe[0]


def test_unsafe_option_and_singularity_section(tmp_path):
    config = with_param(1, param="config.rl_common_config.algorithm", distribution="Discrete",
                        options=["ppo", "$(reboot)"])
    config["singularity"] = {"image": "/images/my image.sif", "args": ["--bind /a:/b;id"]}
    problems = problems_of(tmp_path, config)
    assert any(p.startswith("optimized_params[1] 'config.rl_common_config.algorithm' options[1]:"
                            " '$(reboot)' contains a dollar sign") for p in problems), problems
    assert any(p.startswith("singularity.image: '/images/my image.sif' contains a space")
               for p in problems), problems
    assert any(p.startswith("singularity.args[0]:") and "a semicolon" in p for p in problems)


def test_check_value_walks_keys_and_nested_values():
    value = {"ok": ["fine", {"bad$key": 1, "deep": ("x", 'y"')}]}
    messages = check_value("fixed_params 'x'", value, IN_DOUBLE_QUOTES, WHY_QUOTED)
    assert [m.split(":")[0] for m in messages] == [
        "fixed_params 'x'.ok[1] (key)", "fixed_params 'x'.ok[1].deep[1]"]
    assert check_value("n", {"a": [1, 2.5, True, None, "plain-text_1.0/x"]}, IN_DOUBLE_QUOTES,
                       WHY_QUOTED) == []


def test_shape_of_the_file(tmp_path):
    config = changed(remove_working_dir=True)
    del config["optimizer_settings"]
    problems = problems_of(tmp_path, config)
    assert any(": remove_working_dir: unknown setting (cluster_utils would ignore it)" in p
               for p in problems), problems
    assert any(": optimizer_settings: missing (required)" in p for p in problems), problems
    config = with_param(0, param="config.rl_config.learning_rate",
                        distribution="TruncatedLogNormal", bounds=[0.0, 1e-2])
    problem = only(problems_of(tmp_path, config))
    assert "optimized_params[0] 'config.rl_config.learning_rate'" in problem
    assert "must be positive" in problem


def test_metric_must_be_one_the_jobs_report(tmp_path):
    problem = only(problems_of(tmp_path, LOCAL,
                               'optimization_setting.metric_to_optimize="mean_reward"'))
    assert "optimization_setting.metric_to_optimize: 'mean_reward' is not a metric" in problem
    assert "mean_eval_reward" in problem


def test_slurm_requirements(tmp_path):
    """The Slurm checks themselves, without submitting: the partition is looked up with
    sinfo where it answers (a Slurm cluster), skipped where it does not (a login node
    without sinfo, as cluster_utils would find out only at the first sbatch)."""
    sweep = read_sweep_file(write(tmp_path, LOCAL), [])
    partitions = slurm_partitions()
    good = {"partition": partitions[0] if partitions else "cpu", "request_cpus": 2,
            "memory_in_mb": 4000, "request_time": "01:00:00", "signal_seconds_to_timeout": 300}
    assert slurm_problems(sweep, good) == []
    bad = {"partition": good["partition"], "request_cpus": 0, "request_time": "1h",
           "signal_seconds_to_timout": 300, "signal_seconds_to_timeout": 2.5}
    problems = slurm_problems(sweep, bad)
    keys = sorted(p.split(": ")[1] for p in problems)
    assert keys == ["cluster_requirements.memory_in_mb", "cluster_requirements.request_cpus",
                    "cluster_requirements.request_time",
                    "cluster_requirements.signal_seconds_to_timeout",
                    "cluster_requirements.signal_seconds_to_timout"], problems
    assert slurm_problems(sweep, {**good, "request_time": "2-00:00:00"}) == []
    assert slurm_problems(sweep, {**good, "request_time": "00:04:00"}) != []  # signal 300 s
    if partitions:
        problem = only(slurm_problems(sweep, {**good, "partition": "no-such-partition"}))
        assert f"no partition 'no-such-partition' on this cluster; valid: {partitions[0]}" in (
            problem)


def test_check_starts_nothing(tmp_path, capsys):
    path = write(tmp_path, LOCAL)
    assert main([str(path), "--check"]) == 0
    assert "pre-flight passed." in capsys.readouterr().out
    assert not (tmp_path / "results").exists()
    bad = write(tmp_path, with_fixed(**{"config.rl_config.n_step": 256}), "bad.json")
    assert main([str(bad)]) == 2  # without --check too: refused before anything starts
    out = capsys.readouterr().out
    assert "error: fixed_params: parameter 'config.rl_config.n_step'" in out
    assert "nothing was submitted" in out
    assert not (tmp_path / "results").exists()


# population-based training (learning.preflight.population): mutated parameters must be
# searched, pbt.metric may differ from the optimization's metric (a dense metric for the
# decisions), the same metric must keep its direction, and PBT is not combined with pruning

def pbt_problems(tmp_path: Path, **fixed) -> list[str]:
    config = copy.deepcopy(PBT)
    config["fixed_params"].update(fixed)
    return problems_of(tmp_path, config)


def test_shipped_file_decides_on_a_dense_metric_and_ranks_the_return_rate():
    assert PBT["fixed_params"]["pbt.metric"] == "mean_eval_reward"
    assert PBT["optimization_setting"]["metric_to_optimize"] == "mean_return_rate"


def test_pbt_metric_may_differ_from_the_ranked_metric(tmp_path):
    assert pbt_problems(tmp_path, **{"pbt.metric": "mean_hit_rate", "pbt.minimize": False}) == []


def test_same_metric_in_the_other_direction_is_refused(tmp_path):
    problems = pbt_problems(tmp_path, **{"pbt.metric": "mean_return_rate", "pbt.minimize": True})
    assert len(problems) == 1, problems
    assert "fixed_params 'pbt.minimize'" in problems[0]
    assert "optimization_setting.minimize False" in problems[0]


def test_metric_the_job_does_not_report_is_named(tmp_path):
    problems = pbt_problems(tmp_path, **{"pbt.metric": "mean_score"})
    assert problems and all("pbt.metric" in p for p in problems), problems
    assert "mean_eval_reward" in problems[0]  # the valid metrics are listed


def test_mutation_the_sweep_does_not_search_is_refused(tmp_path):
    problems = pbt_problems(tmp_path, **{"pbt.mutations": ["config.rl_config.n_epochs"]})
    assert any("pbt.mutations" in p and "config.rl_config.n_epochs" in p for p in problems), \
        problems


def test_pbt_with_pruning_is_refused(tmp_path):
    problems = pbt_problems(tmp_path, **{"pruning.keep_fraction": 0.5})
    assert any("pbt" in p and "pruning" in p for p in problems), problems
