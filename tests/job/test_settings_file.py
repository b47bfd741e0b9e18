"""A standalone job's settings file and its templates mapping, checked before
cluster_utils (smart_settings) reads them: each bad file is one line ``config error:
<file>: <key>: ...`` and exit code 2, before any working directory or learner (they were
a UnicodeDecodeError or AttributeError traceback, or NaN passed on, before)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from job_helpers import job_settings

from learning.contract import EXIT_CONFIG
from learning.job.cli import main

GOOD = json.dumps({"config": {"config_templates": "hp_optim/config_templates_ppo.json"}})


@pytest.mark.parametrize("name, content, message", [
    ("settings.json", b'{"learning_runs_per_job": "\xe92"}',
     "(encoding): not UTF-8: byte 0xe9 at line 1 column 28"),
    ("settings.json", b'[{"learning_runs_per_job": 2}]', "(top level): is a list; valid: a JSON"
     " object of settings"),
    ("settings.json", b'{"config": {"rl_config": {"gamma": NaN}}}',
     "config.rl_config.gamma: is NaN, which JSON does not allow; valid: a finite number"),
    ("settings.json", b'{"max_attempts": Infinity}', "max_attempts: is Infinity"),
    ("settings.json", b'{"max_attempts": 2, "max_attempts": 3}',
     "max_attempts: appears twice in one object"),
    ("settings.json", b'{"max_attempts": 2,}', "(json): not valid JSON"),
    ("settings.yaml", b"max_attempts: \xff\n", "(encoding): not UTF-8: byte 0xff"),
    ("settings.txt", GOOD.encode(), "(file): settings file of an unknown type '.txt'"),
])
def test_bad_settings_file(tmp_path, capsys, name, content, message):
    settings = tmp_path / name
    settings.write_bytes(content)
    assert main(["run_learning.py", str(settings)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"config error: {settings}: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "job").exists() and list(tmp_path.iterdir()) == [settings]


def test_missing_settings_file(tmp_path, capsys):
    assert main(["run_learning.py", str(tmp_path / "nope.json")]) == EXIT_CONFIG
    assert capsys.readouterr().err.startswith(
        f"config error: {tmp_path / 'nope.json'}: (file): file not found")


@pytest.mark.parametrize("content, message", [
    (b'{"reward_config": "\xe9.json"}', "(encoding): not UTF-8: byte 0xe9"),
    (b'{"reward_config": NaN}', "reward_config: is NaN"),
    (b'["reward.json"]', "(top level): is a list"),
])
def test_bad_templates_mapping(tmp_path, capsys, content, message):
    templates = tmp_path / "templates.json"
    templates.write_bytes(content)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(job_settings(
        tmp_path / "job", {"config.config_templates": str(templates)})))
    assert main(["run_learning.py", str(settings)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"config error: {templates}: {message}"), err
    assert err.count("\n") == 1 and not (tmp_path / "job" / "job_state.json").exists()


def test_run_learning_py_prints_one_line(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_bytes(b'{"config": {"config_templates": "caf\xe9.json"}}')
    result = subprocess.run([sys.executable, "run_learning.py", str(settings)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_CONFIG
    assert result.stderr == (f"config error: {settings}: (encoding): not UTF-8: byte 0xe9 at"
                             " line 1 column 37; valid: a UTF-8 text file (save it as UTF-8)\n")
