"""Refuse settings that cluster_utils 3.0 would hand to a shell unquoted.

cluster_utils writes every job into a bash script (``LOCAL_RUN_SCRIPT`` in local mode, an
sbatch script on Slurm) and quotes nothing itself:

- the job's parameters as ``--parameter-dict "{...}"``: the Python ``repr`` of the settings
  dict inside double quotes.  A string value with ``"``, `````, ``$`` or ``\\`` (or ``'``,
  which makes ``repr`` switch to double quotes) ends the quoting or is expanded, so part
  of the value runs as a command on the machine that runs the script;
- ``environment_setup.variables`` as ``export NAME="VALUE"`` (and ``--env NAME="VALUE"``
  for its own Singularity wrapper);
- paths bare: ``cd <project>``, ``source <virtual_env_path>/bin/activate``,
  ``./<pre_job_script>``, ``bash <jobs dir>/<script>.sh``, the top-level ``singularity``
  image and executable; a space or ``;`` there splits or ends the command.

That is cluster_utils' defect; the launcher refuses such values before anything is
submitted, naming the setting.  The job's own values (templates, learner configs) never
pass through a shell, so everything else is safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: characters that break a value inside "..." in bash (``'``: through repr's quoting)
IN_DOUBLE_QUOTES = {'"': "a double quote", "`": "a backtick", "$": "a dollar sign",
                    "\\": "a backslash", "\n": "a newline", "'": "a single quote"}
#: ... and those that break a bare word (paths cluster_utils writes unquoted)
BARE_WORD = {**IN_DOUBLE_QUOTES, " ": "a space", "\t": "a tab", ";": "a semicolon",
             "&": "an ampersand", "|": "a pipe", "<": "a '<'", ">": "a '>'", "(": "a '('",
             ")": "a ')'", "*": "a '*'", "?": "a '?'", "#": "a '#'", "!": "a '!'",
             "\r": "a carriage return"}
#: bare-word contexts where spaces separate arguments on purpose (singularity.args)
OPTIONS = {key: value for key, value in BARE_WORD.items() if key not in (" ", "\t")}

WHY_QUOTED = ("cluster_utils 3.0 writes it into the job's bash script inside \"...\" without"
              " escaping it, so the shell would expand or run part of it")
WHY_BARE = "cluster_utils 3.0 writes it into the job's bash script unquoted"


def valid_text(unsafe: dict[str, str]) -> str:
    shown = sorted(repr(c)[1:-1] if c in "\n\t\r" else c for c in unsafe)
    return "text without " + " ".join(shown)


def strings_in(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every string in a settings value: dict keys and values,
    list/tuple items; ``where`` grows by ``.key``, ``[i]`` and `` (key)``."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key, f"{where} (key)")
            yield from strings_in(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from strings_in(item, f"{where}[{index}]")


def unsafe_reason(text: str, unsafe: dict[str, str]) -> str | None:
    """What makes ``text`` unsafe (the first bad character), None if it is safe."""
    for char in text:
        if char in unsafe:
            return f"contains {unsafe[char]} ({char!r})"
    return None


def check_value(name: str, value: Any, unsafe: dict[str, str], why: str) -> list[str]:
    """Messages for every unsafe string in ``value`` (setting ``name``)."""
    messages = []
    for where, text in strings_in(value):
        reason = unsafe_reason(text, unsafe)
        if reason:
            shown = text if len(text) <= 60 else text[:57] + "..."
            messages.append(f"{name}{where}: {shown!r} {reason}: {why};"
                            f" valid: {valid_text(unsafe)}")
    return messages
