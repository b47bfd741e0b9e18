"""How the inspection shows values, parameter names and paths.

Values and names come from a results folder that others may have written: they are
shown as written, with control characters (terminal escape sequences, newlines, bidi
overrides) spelled out as Python escapes (:func:`printable`).
"""

from __future__ import annotations

import math
from pathlib import Path


def printable(text: str) -> str:
    """``text`` with every non-printable character written as its Python escape (ESC as
    ``\\x1b``, a newline as ``\\n``): a name or value cannot drive the terminal or break
    the table's lines."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def format_value(value) -> str:
    """Short, readable text for a parameter or metric value ("-" for none)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return printable(str(value))


def short_names(names: list[str]) -> dict[str, str]:
    """Shortest unique dotted suffix of each name: config.rl_config.gamma -> gamma (shown
    :func:`printable`)."""
    out = {}
    for name in names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            candidate = ".".join(parts[-k:])
            clashes = [n for n in names if n != name and n.split(".")[-k:] == parts[-k:]]
            if not clashes:
                out[name] = printable(candidate)
                break
        else:
            out[name] = printable(name)
    return out


def display_path(path: Path | str) -> str:
    """Path relative to the current directory when it lies below it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
