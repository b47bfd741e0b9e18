"""`python -m learning CONFIG.json ROLE.KEY=VALUE ...`: how values are read, the job's
addressing and checks, and errors that name the override (exit code 2, nothing trained)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from learning.config import ParameterError, load_configs, parse_overrides
from learning.config.overrides import parse_value

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, value", [
    ("1e-4", 1e-4), ("0.2", 0.2), ("64", 64), ("-3", -3), ("true", True), ("null", None),
    ("[256, 256]", [256, 256]), ('{"pi": [64]}', {"pi": [64]}),
    ("relu", "relu"), ("auto_0.1", "auto_0.1"), ("models/model.zip", "models/model.zip"),
    ('"1"', "1"), ("", ""), ("NaN", "NaN"), ("Infinity", "Infinity"), ("[1, 2", "[1, 2"),
])
def test_values_are_json_or_else_strings(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_overrides_split_at_the_first_equals_sign():
    assert parse_overrides(["a.b=c=d", "hysr_config.robot_position:0=0.2"]) == {
        "a.b": "c=d", "hysr_config.robot_position:0": 0.2}
    with pytest.raises(ParameterError, match="expected ROLE.KEY=VALUE"):
        parse_overrides(["rl_config.learning_rate"])
    with pytest.raises(ParameterError, match="expected ROLE.KEY=VALUE"):
        parse_overrides(["=3"])
    with pytest.raises(ParameterError, match="'rl_config.gamma' is given twice"):
        parse_overrides(["rl_config.gamma=0.9", "rl_config.gamma=0.8"])


def test_load_configs_merges_overrides_and_allows_the_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_configs(REPO / "config" / "config.json", overrides=parse_overrides([
        "rl_config.learning_rate=1e-4", "hysr_config.robot_position:0=0.2",
        "rl_config.log_path=elsewhere", "rl_config.policy_kwargs.activation_fn=relu",
    ]))
    assert config.rl["learning_rate"] == 1e-4 and config.hysr["robot_position"][0] == 0.2
    assert config.rl["log_path"] == "elsewhere"
    assert config.overrides["rl_config.learning_rate"] == 1e-4
    assert config.files["rl_config"] == REPO / "config" / "ppo_default.json"
    # the templates themselves are untouched
    assert load_configs(REPO / "config" / "config.json").rl["learning_rate"] == 3e-4


@pytest.mark.parametrize("override, message", [
    ("rl_config.learning_rat=0.1", "override 'rl_config.learning_rat': unknown key"
     " 'learning_rat' in rl_config of "),
    ("rl_config.learning_rate=fast", "override 'rl_config.learning_rate': wrong type for"
     " rl_config.learning_rate in "),
    ("rl_config.gamma=1.5", "override 'rl_config.gamma': gamma: 1.5 is out of range; valid:"
     " a value in [0, 1]"),
    ("hysr_config.robot_position:3=0.2", "override 'hysr_config.robot_position:3': index :3"
     " out of range"),
    ("rl_config.load_path=missing.zip", "override 'rl_config.load_path': load_path: model"
     " file not found"),
    ("learning_rate=1e-4", "override 'learning_rate': unknown role 'learning_rate'"),
    ("rl_config.gamma", "override 'rl_config.gamma': expected ROLE.KEY=VALUE"),
])
def test_cli_names_the_bad_override(tmp_path, override, message):
    shutil.copytree(REPO / "config", tmp_path / "config")
    result = subprocess.run(
        [sys.executable, "-m", "learning", str(tmp_path / "config" / "config.json"), override],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("config error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "logs").exists()  # nothing trained
    assert json.loads((tmp_path / "config" / "ppo_default.json").read_text())["gamma"] == 0.99
