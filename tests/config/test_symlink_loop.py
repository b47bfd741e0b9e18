"""A role file that is a symbolic link loop (to itself, or two links to each other): a
ConfigError naming the file that names it and the role, "symlink loop" (it was a raw
RuntimeError from Path.resolve(), or "file not found" for an absolute path)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from learning.__main__ import main
from learning.config import ConfigError, load_configs
from learning.job.settings import JobConfigError, merged_configs

REPO = Path(__file__).resolve().parents[2]


def self_loop(folder: Path, name: str) -> Path:
    link = folder / name
    link.unlink(missing_ok=True)
    os.symlink(name, link)
    return link


def two_loop(folder: Path, name: str) -> Path:
    link = folder / name
    link.unlink(missing_ok=True)
    os.symlink("other_loop.json", link)
    os.symlink(name, folder / "other_loop.json")
    return link


@pytest.mark.parametrize("make_loop", [self_loop, two_loop])
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_role_file_symlink_loop(config_dir, make_loop, absolute):
    link = make_loop(config_dir, "reward.json")
    if absolute:  # config.json names it by its absolute path
        main_file = config_dir / "config.json"
        mapping = json.loads(main_file.read_text())
        main_file.write_text(json.dumps(dict(mapping, reward_config=str(link))))
    with pytest.raises(ConfigError) as info:
        load_configs(config_dir / "config.json")
    assert info.value.file == str(config_dir / "config.json")
    assert info.value.key == "reward_config"
    assert info.value.problem.startswith("symlink loop: ")
    assert "reward.json" in info.value.problem


def test_learner_prints_one_line_and_exits_2(config_dir, capsys):
    self_loop(config_dir, "pam.json")
    assert main([str(config_dir / "config.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: ") and err.count("\n") == 1
    assert "config.json: pam_config: symlink loop: " in err and "Traceback" not in err


def test_template_symlink_loop_in_a_job(tmp_path):
    """A job's templates file (config.config_templates) whose rl_config is a loop: the
    job's error (and so the sweep's pre-flight) names the templates file and the role."""
    mapping = json.loads((REPO / "hp_optim" / "config_templates_ppo.json").read_text())
    mapping = {role: str((REPO / "hp_optim" / file).resolve()) for role, file in mapping.items()}
    mapping["rl_config"] = "ppo.json"
    templates = tmp_path / "templates.json"
    templates.write_text(json.dumps(mapping))
    two_loop(tmp_path, "ppo.json")
    with pytest.raises(JobConfigError) as info:
        merged_configs({"config": {"config_templates": str(templates)}}, cwd=tmp_path)
    assert f"{templates}: rl_config: symlink loop: " in str(info.value)
