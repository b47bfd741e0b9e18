"""Config files that are not clean JSON objects: bytes that are not UTF-8, NaN/Infinity,
a key twice, a list or a number at the top: each a ConfigError naming the file and the
dotted key (they were a raw UnicodeDecodeError, or the key "(json)", before)."""

from __future__ import annotations

from pathlib import Path

import pytest

from learning.__main__ import main
from learning.config import ConfigError, load_configs

BAD_CONTENTS = [
    # (content, key, words of the problem)
    (b'{"smash": "caf\xe9"}', "(encoding)", "not UTF-8: byte 0xe9 at line 1 column 15"),
    (b'{\n  "a": 1,\n  "b": "\xff"\n}', "(encoding)", "byte 0xff at line 3 column 9"),
    (b'{"x": {"y": [1.0, NaN]}}', "x.y:1", "is NaN, which JSON does not allow"),
    (b'{"normalization_constant": Infinity}', "normalization_constant", "is Infinity"),
    (b'{"a": [[0, -Infinity]]}', "a:0:1", "is -Infinity"),
    (b'{"a": 1, "b": {"c": 1, "c": 2}}', "b.c", "appears twice in one object"),
    (b"[1, 2]", "(top level)", "is a list"),
    (b"3.5", "(top level)", "is a number"),
]


@pytest.mark.parametrize("name", ["config.json", "reward.json", "ppo_default.json"])
@pytest.mark.parametrize("content, key, problem", BAD_CONTENTS)
def test_bad_file_names_the_file_and_key(config_dir, name, content, key, problem):
    (config_dir / name).write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_configs(config_dir / "config.json")
    assert Path(info.value.file).resolve() == (config_dir / name).resolve()
    assert info.value.key == key
    assert problem in info.value.problem


def test_byte_order_mark_is_accepted(config_dir):
    """Editors on Windows write UTF-8 with a byte-order mark; it is still UTF-8."""
    reward = config_dir / "reward.json"
    reward.write_bytes(b"\xef\xbb\xbf" + reward.read_bytes())
    assert load_configs(config_dir / "config.json").reward["normalization_constant"] > 0


def test_learner_prints_one_line_and_exits_2(config_dir, capsys):
    (config_dir / "hysr.json").write_bytes(b'{"trajectory": "\xe9"}')
    assert main([str(config_dir / "config.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: ") and err.count("\n") == 1
    assert "hysr.json: (encoding): not UTF-8: byte 0xe9" in err and "Traceback" not in err
