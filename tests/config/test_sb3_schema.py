"""stable-baselines3's argument schema, cached per installed version without importing it
(learning.config.sb3_schema): what is derived, where the cache lives and what it refuses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from learning.config import sb3_schema
from learning.config.rl import rl_schema
from learning.contract import PROJECT_DIR


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """An empty cache folder; the schema read afresh."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sb3_schema.schema.cache_clear()
    yield tmp_path / "cache" / "lttfs"
    sb3_schema.schema.cache_clear()


def cached_file(folder):
    (path,) = folder.glob("sb3-schema-*.json")
    return path


def test_the_schema_is_stable_baselines3s_own_signature(cache_home):
    import inspect

    import stable_baselines3

    for algorithm in sb3_schema.ALGORITHMS:
        signature = inspect.signature(getattr(stable_baselines3, algorithm.upper()).__init__)
        arguments = sb3_schema.arguments(algorithm)
        assert list(arguments) == list(signature.parameters)  # the same order
        for name, parameter in signature.parameters.items():
            kinds, default = arguments[name]
            assert kinds == sb3_schema._annotation_kinds(parameter.annotation)
            if isinstance(parameter.default, (bool, int, float, str)):
                assert default == parameter.default
    assert sb3_schema.default("ppo", "n_steps") == 2048
    assert sb3_schema.default("sac", "ent_coef") == "auto"
    assert rl_schema("sac")["ent_coef"] == {"string", "number", "integer"}
    with pytest.raises(KeyError):
        sb3_schema.arguments("dqn")


def test_it_is_cached_privately_keyed_by_the_version(cache_home):
    sb3_schema.schema()
    path = cached_file(cache_home)
    version = sb3_schema._identity()["version"]
    assert path.name == f"sb3-schema-{version}.json"
    assert stat.S_IMODE(os.stat(cache_home).st_mode) == 0o700
    data = json.loads(path.read_text())  # plain JSON data
    assert data["format"] == sb3_schema.FORMAT and data["version"] == version
    assert set(data["algorithms"]) == set(sb3_schema.ALGORITHMS)


@pytest.mark.parametrize("damage", [
    "not json {", '{"format": "lttfs-sb3-schema/1"}', '"a string"', "another version",
    "other sources", "unknown kind"])
def test_a_malformed_or_stale_cache_is_rebuilt(cache_home, damage):
    sb3_schema.schema()
    path = cached_file(cache_home)
    good = json.loads(path.read_text())
    bad = json.loads(path.read_text())
    if damage == "another version":
        bad["version"] = "0.0.1"
        text = json.dumps(bad)
    elif damage == "other sources":
        bad["sources"]["ppo"] = [1, 2]
        text = json.dumps(bad)
    elif damage == "unknown kind":
        bad["algorithms"]["ppo"][3][1] = ["tensor"]
        text = json.dumps(bad)
    else:
        text = damage
    path.write_text(text)
    sb3_schema.schema.cache_clear()
    assert sb3_schema.schema() == good
    assert json.loads(path.read_text()) == good  # replaced


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another user")
def test_a_cache_file_of_another_user_is_not_read(cache_home):
    sb3_schema.schema()
    path = cached_file(cache_home)
    good = json.loads(path.read_text())
    forged = dict(good, algorithms={a: [["evil", ["string"], {"value": "x"}]]
                                    for a in sb3_schema.ALGORITHMS})
    path.write_text(json.dumps(forged))
    os.chown(path, 4242, 4242)
    sb3_schema.schema.cache_clear()
    assert sb3_schema.schema() == good
    assert os.stat(path).st_uid == os.getuid()  # replaced by our own


def test_a_cache_writable_by_others_is_not_read(cache_home):
    sb3_schema.schema()
    path = cached_file(cache_home)
    good = json.loads(path.read_text())
    path.write_text(json.dumps(dict(good, algorithms={a: [] for a in sb3_schema.ALGORITHMS})))
    os.chmod(path, 0o666)
    sb3_schema.schema.cache_clear()
    assert sb3_schema.schema() == good


def test_a_cache_folder_that_is_a_symbolic_link_is_not_used(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "lttfs").symlink_to(elsewhere)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sb3_schema.schema.cache_clear()
    try:
        assert sb3_schema.arguments("ppo")["n_steps"][1] == 2048  # derived, not cached
    finally:
        sb3_schema.schema.cache_clear()
    assert list(elsewhere.iterdir()) == []


def test_a_process_without_stable_baselines3_derives_it_in_a_child(tmp_path):
    """A process that has not imported stable-baselines3 (a job) never does: on an empty
    cache the schema comes from ``python -m learning.config.sb3_schema``."""
    code = ("import sys; from learning.config.rl import rl_schema;"
            " assert 'n_epochs' in rl_schema('ppo');"
            " print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=PROJECT_DIR, timeout=300,
                            env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"),
                                     PYTHONPATH=str(PROJECT_DIR)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert list((tmp_path / "cache" / "lttfs").glob("sb3-schema-*.json"))
