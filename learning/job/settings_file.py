"""A standalone job's settings file, checked before cluster_utils reads it.

``run_learning.py settings.json`` hands the file to cluster_utils' ``initialize_job``
(smart_settings), which fails with a raw traceback on bytes that are not UTF-8
(UnicodeDecodeError), on a file that holds a list or a number (AttributeError), and which
accepts NaN and Infinity. This module reads the file first with the config checks' strict
JSON reader, so each of these is one ``config error`` naming the file and the key.
Files of the other formats smart_settings reads (.yaml, .yml, .toml) are checked for
their encoding only; any other name is refused. Under cluster_utils the settings come
as ``--parameter-dict`` (no file) and are not checked here.
"""

from __future__ import annotations

from pathlib import Path

from learning.config import ConfigError, json_kind
from learning.config.checks import decode_utf8, parse_json_text
from learning.job.settings import JobConfigError, settings_position

OTHER_FORMATS = (".yaml", ".yml", ".toml")  # smart_settings reads these as well


def settings_file_of(argv: list[str]) -> Path | None:
    """The settings file named on a job's command line; None for ``--parameter-dict``."""
    if "--parameter-dict" in argv:
        return None
    position = settings_position(argv)
    return None if position is None else Path(argv[position])


def check_settings_file(argv: list[str]) -> None:
    """Raise JobConfigError, naming the file and the key, if the settings file named in
    ``argv`` (program name first) is missing or not a UTF-8 file with a JSON object of
    finite values."""
    path = settings_file_of(argv)
    if path is None:
        return
    if not path.is_file():
        raise JobConfigError(f"{path}: (file): file not found; valid: an existing settings"
                             " file (JSON), e.g. a job's settings.json")
    suffix = path.suffix  # as smart_settings tells the formats apart: case-sensitive
    if suffix != ".json" and suffix not in OTHER_FORMATS:
        raise JobConfigError(
            f"{path}: (file): settings file of an unknown type {suffix or '(no suffix)'!r};"
            " valid: a .json file (cluster_utils also reads .yaml, .yml, .toml)"
        )
    try:
        data = path.read_bytes()
        if suffix != ".json":
            decode_utf8(path, data)  # the other formats: their readers report the rest
            return
        value = parse_json_text(path, data)
    except ConfigError as e:
        raise JobConfigError(str(e)) from e
    except OSError as e:
        raise JobConfigError(f"{path}: (file): cannot read: {e.strerror}") from e
    if not isinstance(value, dict):
        raise JobConfigError(str(ConfigError(
            path, "(top level)", f"is a {json_kind(value)}",
            'a JSON object of settings {"config": {...}, ...}')))
