"""``{$NAME}`` in an hp_optim file: the one substitution the launcher makes, nothing evaluated.

cluster_utils reads hp_optim files with smart_settings' dynamic mode, which runs every
``{...}`` in a string value as a Python f-string expression (and the result through
``eval`` once more): ``"{__import__('os').system('...')}"`` runs a command when the file
is read, ``--check`` included, and ``"t{1}"`` silently becomes ``"t1"``. The original
project's files use it for one thing only, environment variables: ``"{$PWD}/results"``.

The launcher reads hp_optim files without dynamic mode and substitutes exactly that:
``{$NAME}`` in a string value becomes the environment variable ``NAME`` (as text, always:
smart_settings would turn a variable holding ``123`` into a number). An unset variable
is an error, and so is any other ``{...}`` (or ``{{``/``}}``): cluster_utils itself would
evaluate it, so the file would mean one thing to the launcher and another to cluster_utils.
A lone brace without its pair is a literal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

VARIABLE = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)\}")
EXPRESSION = re.compile(r"\{[^{}]*\}|\{\{|\}\}")


class SubstitutionError(ValueError):
    """A string value with an unset ``{$NAME}`` or another ``{...}``; names the key."""


def substitute(text: str, key: str, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    rest = VARIABLE.sub("", text)
    expression = EXPRESSION.search(rest)
    if expression:
        raise SubstitutionError(
            f"{key}: {text!r} holds {expression.group(0)!r}; only {{$NAME}} (an environment"
            " variable) is substituted in hp_optim files: cluster_utils would evaluate any"
            " other {...} as Python code. Write the value itself")

    def value_of(match: re.Match) -> str:
        name = match.group(1)
        if name not in environ:
            raise SubstitutionError(f"{key}: {text!r} names the environment variable {name},"
                                    " which is not set; set it or write the value itself")
        return environ[name]

    return VARIABLE.sub(value_of, text)


def substitute_all(value: Any, key: str = "", environ: Mapping[str, str] | None = None) -> Any:
    """Substitute in every string value of a settings tree, in place for dicts and lists
    (as smart_settings' dynamic mode does; keys are left as they are); returns the value."""
    if isinstance(value, str):
        return substitute(value, key or "(top level)", environ)
    if isinstance(value, dict):
        for name, item in value.items():
            value[name] = substitute_all(item, f"{key}.{name}" if key else str(name), environ)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = substitute_all(item, f"{key}[{index}]", environ)
    return value
