"""A copy of the shipped config/ folder for each test, and loading it with rl_config
values changed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from learning.config import RunConfig, load_configs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped config/ folder; the current directory is tmp_path."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "config"


@pytest.fixture
def load_with_rl(config_dir) -> Callable[..., RunConfig]:
    """``load_with_rl(algorithm, **rl)``: the shipped configs of the algorithm ("ppo" or
    "sac") with these rl_config values, loaded as the learner loads them."""

    def load(algorithm: str = "ppo", **rl) -> RunConfig:
        path = config_dir / ("ppo_default.json" if algorithm == "ppo" else "sac_default.json")
        path.write_text(json.dumps(dict(json.loads(path.read_text()), **rl)))
        main = "config.json" if algorithm == "ppo" else "config_sac.json"
        return load_configs(config_dir / main)

    return load
