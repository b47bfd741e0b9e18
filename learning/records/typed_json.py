"""Parsed JSON as typed dataclasses: every field's JSON type checked, the first problem
named by its dotted path (``runs:1.attempts:0.outcome``). The readers of
:mod:`learning.records` use it; their dataclasses are their files' schemas.

Supported field types: dataclasses, ``list[T]``, ``dict[str, T]``, ``T | None``, bool,
int, float (a JSON integer is accepted and made a float; NaN as written by json.dumps),
str and Any. A missing field takes its default (an error if it has none); an unknown
field is an error.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

from learning.atomic_io import atomic_write_json


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def from_json(tp: Any, value: Any, where: str = "") -> Any:
    """``value`` (parsed JSON) as type ``tp``; ValueError naming the field if it is not."""
    label = where or "(top level)"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return from_json(inner, value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{label}: is {_kind(value)}, expected an object")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ValueError(f"{label}: unknown field {unknown[0]!r}")
        kwargs = {}
        for name, f in fields.items():
            sub = f"{where}.{name}" if where else name
            if name in value:
                kwargs[name] = from_json(hints[name], value[name], sub)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{sub}: missing")
        return tp(**kwargs)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{label}: is {_kind(value)}, expected a list")
        return [from_json(args[0], item, f"{where}:{i}") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{label}: is {_kind(value)}, expected an object")
        return {k: from_json(args[1], v, f"{where}.{k}") for k, v in value.items()}
    return _scalar(tp, value, label)


def _scalar(tp: Any, value: Any, label: str) -> Any:
    if tp is Any:
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if not (isinstance(value, float) and math.isnan(value)) else value
    if tp is str and isinstance(value, str):
        return value
    raise ValueError(f"{label}: is {_kind(value)} {value!r:.40}, expected {tp.__name__}")


def read_format_file(path: Path | str, tp: Any, file_format: str) -> Any | None:
    """A JSON file of ``tp`` whose ``format`` field is ``file_format``; None if missing,
    unreadable (being replaced), of another format or of the wrong shape."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != file_format:
        return None
    try:
        return from_json(tp, data)
    except ValueError:
        return None


def write_dataclass_file(path: Path | str, value: Any) -> None:
    """Write a dataclass as JSON atomically, making its folder (OSError if it cannot)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, dataclasses.asdict(value), indent=1)
