"""The generated reference (docs/_ext/lttfs_reference.py) follows the code: a changed
default or range in a schema changes the page, with no Markdown edited. Quick: the
generator is called directly (no Sphinx); tests/docs/test_docs_build.py builds the site."""

from __future__ import annotations

import inspect
import re

import pytest
from docs_text import load_reference

from learning.config import policy, rl
from learning.envs import table_tennis_roles as roles
from learning.job import settings
from learning.plugins import pruning

ref = load_reference()


def row(page: str, key: str) -> list[str]:
    """The cells of the table row whose first cell is `key`."""
    for line in page.splitlines():
        if line.startswith(f"| `{key}` |"):
            return [cell.strip() for cell in line.strip("|").split(" | ")]
    raise AssertionError(f"no row for {key!r}")


def test_every_rl_config_key_of_both_algorithms_is_listed():
    page = ref.rl_config_reference()
    for algorithm in rl.ALGORITHMS:
        for key in rl.rl_schema(algorithm):
            assert f"| `{key}` |" in page, (algorithm, key)
    for key in policy.ACTIVATIONS:
        assert f"`{key}`" in page


def test_a_changed_sb3_range_changes_the_reference(monkeypatch):
    assert row(ref.rl_config_reference(), "gamma")[1] == "number [0, 1]"
    monkeypatch.setitem(rl.RL_RANGES, "gamma", (0.5, 1, True, False))
    assert row(ref.rl_config_reference(), "gamma")[1] == "number (0.5, 1]"


def test_a_changed_default_of_our_keys_changes_the_reference(monkeypatch):
    assert row(ref.rl_config_reference(), "n_envs")[2] == "`1`"
    monkeypatch.setitem(rl.RL_VEC_ENV_DEFAULTS, "n_envs", 4)
    monkeypatch.setattr(rl, "RL_DEVICE_DEFAULT", "auto")
    page = ref.rl_config_reference()
    assert row(page, "n_envs")[2] == "`4`"
    assert row(page, "device")[2] == '`"auto"`'


def test_a_changed_policy_default_changes_the_reference(monkeypatch):
    monkeypatch.setitem(policy.POLICY_DEFAULTS, "ppo", dict(policy.POLICY_DEFAULTS["ppo"],
                                                           activation_fn="relu"))
    assert row(ref.rl_config_reference(), "activation_fn")[1] == '`"relu"`'


def test_rl_common_defaults_and_valid_values_come_from_the_schema(monkeypatch):
    cells = row(ref.rl_common_reference(), "torch_threads")
    assert cells[2] == "`1`"
    monkeypatch.setitem(rl.RL_COMMON_DEFAULTS, "torch_threads", 2)
    monkeypatch.setitem(rl.RL_COMMON_SCHEMA, "torch_threads", "an integer in [1, 64]")
    cells = row(ref.rl_common_reference(), "torch_threads")
    assert cells[1:3] == ["an integer in [1, 64]", "`2`"]


def test_a_changed_env_range_changes_the_reference_and_the_check(monkeypatch, tmp_path):
    assert row(ref.env_roles_reference(), "trajectory")[3] == ">= -1"
    hysr = dict(roles.load_default("hysr_config"), trajectory=-2)
    with pytest.raises(roles.ConfigError, match="trajectory"):
        roles.check_bounds("hysr_config", hysr, tmp_path / "hysr.json")
    monkeypatch.setitem(roles.BOUNDS["hysr_config"], "trajectory", roles.Bound(-2))
    assert row(ref.env_roles_reference(), "trajectory")[3] == ">= -2"
    roles.check_bounds("hysr_config", hysr, tmp_path / "hysr.json")  # the same data decides


def test_list_bounds_apply_to_every_item():
    assert row(ref.env_roles_reference(), "joint_damping")[3] == "each item >= 0"
    assert row(ref.env_roles_reference(), "torque_per_bar_ago")[3] == "each item > 0"


def test_a_changed_shipped_default_changes_the_reference(monkeypatch):
    shipped = roles.load_default

    def load_default(role):
        data = shipped(role)
        if role == "reward_config":
            data["normalization_constant"] = 4.5
        return data

    monkeypatch.setattr(roles, "load_default", load_default)
    cells = row(ref.env_roles_reference(), "normalization_constant")
    assert cells[1:4] == ["number", "`4.5`", "> 0"]


def test_every_key_of_the_env_roles_is_listed_with_its_type():
    page = ref.env_roles_reference()
    for role in roles.ENV_ROLES:
        for key, _ in ref.flat_items(roles.load_default(role)):
            assert row(page, key)[1], (role, key)
    assert row(page, "starting_pressures")[1] == "list of 4 lists of 2 numbers"
    assert row(page, "world_boundaries.min")[1] == "list of 3 numbers"
    for role, relations in roles.RELATIONS.items():
        for key, rule in relations:
            assert f"- `{key}`: {ref.markdown_text(rule)}" in page, (role, key)


def test_a_meaning_for_a_key_the_code_lacks_fails_the_build(monkeypatch):
    monkeypatch.setitem(ref.RL_COMMON_MEANINGS, "removed_key", "gone")
    with pytest.raises(ref.StaleMeaning, match="removed_key"):
        ref.rl_common_reference()
    monkeypatch.setitem(ref.JOB_NOTES, "old_setting", "gone")
    with pytest.raises(ref.StaleMeaning, match="old_setting"):
        ref.job_settings_reference()


def test_job_settings_come_from_the_code(monkeypatch):
    page = ref.job_settings_reference()
    for key in settings.KNOWN_SETTINGS:
        assert f"| `{key}` |" in page
    cells = row(page, "learning_runs_per_job")
    assert cells[1:3] == ["integer >= 1", f"`{settings.JobOptions.learning_runs_per_job}`"]
    assert cells[3].startswith("independent runs, each with its own seed")  # its #: comment
    # a setting added to the code shows up, with its place in the code named
    monkeypatch.setattr(settings, "KNOWN_SETTINGS", (*settings.KNOWN_SETTINGS, "new_one"))
    assert row(ref.job_settings_reference(), "new_one")[3] == \
        "(described in learning/job/settings.py)"


def test_a_changed_job_default_changes_the_reference(monkeypatch):
    from dataclasses import field, make_dataclass

    options = make_dataclass("JobOptions", [
        ("learning_runs_per_job", int, field(default=5)),
        ("training_iterations", int, field(default=1)),
        ("max_attempts", int, field(default=3)),
        ("local_cpu_pinning", bool, field(default=False)),
        ("learner_stall_seconds", float, field(default=1800)),
        ("learner_startup_seconds", float, field(default=1800)),
    ])
    monkeypatch.setattr(settings, "JobOptions", options)
    monkeypatch.setattr(ref, "attribute_comments", lambda cls: {})
    assert row(ref.job_settings_reference(), "learning_runs_per_job")[2] == "`5`"


def test_every_registered_pruning_rule_and_option_is_listed():
    page = ref.job_settings_reference()
    for rule in pruning.registered_rules():
        assert f'`pruning.rule`: `"{rule.name}"`' in page
        for option in rule.options:
            cells = row(page, f"pruning.{option.name}")
            assert cells[1] == option.expected()
    assert row(page, "pruning.keep_fraction")[1:3] == ["a number in (0, 1)", "`0.5`"]
    assert row(page, "pruning.rule")[1] == f'`"{pruning.DEFAULT_RULE}"`'


def test_the_env_page_is_the_class_docstring():
    from learning.envs.table_tennis_v0 import TableTennisEnv

    spec = ref.env_spec()
    doc = inspect.getdoc(TableTennisEnv)
    assert doc.partition("\n")[2].strip() in spec
    for heading in ("## Action Space", "## Observation Space", "## Rewards", "## Episode End"):
        assert heading in spec
    assert ref.is_markdown_docstring(doc.splitlines())


def test_sb3_descriptions_are_read_from_its_docstrings():
    from stable_baselines3 import PPO

    docs = ref.sb3_parameter_docs(PPO)
    assert docs["gamma"] == "Discount factor"
    assert row(ref.rl_config_reference(), "gae_lambda")[4].startswith("Factor for trade-off")
    assert ref.first_sentence("The steps (i.e. a rollout). More text.") == \
        "The steps (i.e. a rollout)."


def test_write_generated_rewrites_only_what_changed(tmp_path, monkeypatch):
    written = ref.write_generated(tmp_path)
    assert {p.name for p in written} == set(ref.GENERATED)
    assert ref.write_generated(tmp_path) == []
    monkeypatch.setitem(rl.RL_RANGES, "gamma", (0.5, 1, True, False))
    assert [p.name for p in ref.write_generated(tmp_path)] == ["rl_config.md"]
    assert "number (0.5, 1]" in (tmp_path / "rl_config.md").read_text()
    assert re.match(r"<!-- generated", (tmp_path / "rl_config.md").read_text())
