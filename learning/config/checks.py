"""Generic checks of JSON config values, each failure a ConfigError naming the file, the
dotted key (``world_boundaries.min:2`` for item 2 of a list) and what is valid."""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config file is missing, malformed, or has a missing/unknown/invalid key."""

    def __init__(self, file: str | Path, key: str, problem: str, valid: str = "",
                 also: tuple[str, ...] = ()):
        self.file = str(file)
        self.key = key
        self.problem = problem
        self.valid = valid
        #: other keys of the same file whose values the problem is about (a parameter that
        #: set one of them is named as its cause in a job's error)
        self.also = also
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.file}: {self.key}: {self.problem}"
        return f"{text}; valid: {self.valid}" if self.valid else text


class _Flagged:
    """Stands in, while parsing, for a value that a config may not hold: NaN, Infinity or
    -Infinity (Python's json accepts them, JSON does not), or a key's second value."""

    def __init__(self, problem: str, valid: str):
        self.problem, self.valid = problem, valid


def _flag_constant(name: str) -> _Flagged:
    return _Flagged(f"is {name}, which JSON does not allow", "a finite number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out[key] = _Flagged("appears twice in one object", "each key once") if key in out else value
    return out


def _first_flagged(value: Any, key: str = "") -> tuple[str, _Flagged] | None:
    """The dotted key (``a.b:2``) and marker of the first flagged value, depth first."""
    if isinstance(value, _Flagged):
        return key or "(top level)", value
    items = value.items() if isinstance(value, dict) else ()
    for sub, item in items:
        found = _first_flagged(item, _join(key, sub))
        if found:
            return found
    for i, item in enumerate(value if isinstance(value, list) else ()):
        found = _first_flagged(item, f"{key}:{i}")
        if found:
            return found
    return None


def decode_utf8(path: Path, data: bytes) -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            path, "(encoding)",
            f"not UTF-8: byte 0x{data[e.start]:02x} at line {line} column {column}",
            "a UTF-8 text file (save it as UTF-8)",
        ) from e


def parse_json_text(path: str | Path, data: bytes) -> Any:
    """Parse a config file's bytes as strict JSON: UTF-8, no NaN or Infinity, no key twice
    in one object; every failure is a ConfigError naming the file and the dotted key."""
    path = Path(path)
    text = decode_utf8(path, data)
    try:
        value = json.loads(text, parse_constant=_flag_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise ConfigError(
            path, "(json)", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from e
    flagged = _first_flagged(value)
    if flagged:
        key, marker = flagged
        raise ConfigError(path, key, marker.problem, marker.valid)
    return value


def read_json_object(path: str | Path) -> dict[str, Any]:
    """Read a JSON object from ``path``; every failure is a ConfigError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(path, "(file)", "file not found", "an existing JSON file") from e
    except IsADirectoryError as e:
        raise ConfigError(path, "(file)", "is a folder", "a JSON file") from e
    except OSError as e:
        raise ConfigError(path, "(file)", f"cannot read: {e.strerror}") from e
    value = parse_json_text(path, data)
    if not isinstance(value, dict):
        raise ConfigError(path, "(top level)", f"is a {json_kind(value)}", "a JSON object {...}")
    return value


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):  # tuples: cluster_utils' values, never in JSON
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def check_keys(data: dict[str, Any], schema: dict[str, Any], file: Path, prefix: str) -> None:
    """Unknown keys (with a 'did you mean') and missing keys are errors."""
    valid = ", ".join(schema)
    for key in data:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(file, _join(prefix, key), f"unknown key{hint}", valid)
    for key in schema:
        if key not in data:
            raise ConfigError(file, _join(prefix, key), "missing key", valid)


def check_like(value: Any, default: Any, file: Path, key: str) -> None:
    """``value`` must have the JSON type (and for lists the length) of ``default``."""
    if default is None:
        return
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(
                file, key, f"is a {json_kind(value)}", f"an object with keys {list(default)}"
            )
        check_keys(value, default, file, key)
        for sub, sub_default in default.items():
            check_like(value[sub], sub_default, file, _join(key, sub))
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(
                file, key, f"is a {json_kind(value)}", f"a list of {len(default)} items"
            )
        if default and len(value) != len(default):
            raise ConfigError(
                file, key, f"has {len(value)} items", f"a list of {len(default)} items"
            )
        for i, item in enumerate(value):
            check_like(item, default[i] if default else None, file, f"{key}:{i}")
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(file, key, f"is a {json_kind(value)}", "true or false")
    elif isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(file, key, f"is a {json_kind(value)} ({value!r})", "an integer")
    elif isinstance(default, float):
        if not is_number(value):
            raise ConfigError(file, key, f"is a {json_kind(value)} ({value!r})", "a number")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(file, key, f"is a {json_kind(value)}", "a string")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any, minimum: int | None = None) -> bool:
    """A JSON integer (not a bool), at least ``minimum`` if given."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and (minimum is None or value >= minimum))


def check_range(
    value: float,
    file: Path,
    key: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """``low <= value <= high`` (``<`` where open); None: unbounded."""
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "-inf" if low is None else str(low)
        right = "inf" if high is None else str(high)
        interval = f"{'(' if low_open or low is None else '['}{left}, {right}"
        interval += ")" if high_open or high is None else "]"
        raise ConfigError(file, key, f"{value!r} is out of range", f"a value in {interval}")
