"""What a sweep searches, saved when it starts, so that ``--resume`` cannot mix two searches.

Resuming with an hp_optim file whose optimized parameters, bounds, options, fixed
params, optimizer or metric changed would silently mix the results of two different
searches in one ranking. The launcher saves :func:`definition_of` the sweep in
``<results>/sweep_definition.json`` when it starts a sweep; ``--resume`` compares
(:func:`changes`) and refuses a changed definition, naming what changed, unless the
user says ``--accept-changes`` (the file then records the new definition). What may
change freely: the number of samples, the cluster requirements, the environment, the
results folder's location, reporting.
"""

from __future__ import annotations

import json
from typing import Any

from learning.atomic_io import atomic_write_json
from learning.launch.sweep_file import GRID_SEARCH, SweepFile
from learning.records.sweep_definition import (  # noqa: F401 (read_definition: the launcher's)
    DEFINITION_FILE,
    DEFINITION_FORMAT,
    read_definition,
)

#: the settings that define what a sweep searches (dotted: inside a section)
SEARCH_KEYS = ("optimized_params", "hyperparam_list", "fixed_params", "optimizer_str",
               "optimizer_settings", "optimization_setting.metric_to_optimize",
               "optimization_setting.minimize", "script_relative_path", "restarts")


def _get(params: Any, dotted: str) -> Any:
    value = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _data(value: Any) -> Any:
    """Settings as JSON data (smart_settings' dicts, tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


def definition_of(sweep: SweepFile) -> dict[str, Any]:
    search = {key: _data(_get(sweep.params, key)) for key in SEARCH_KEYS
              if _get(sweep.params, key) is not None}
    return {"format": DEFINITION_FORMAT, "kind": sweep.kind, "search": search}


def save_definition(sweep: SweepFile) -> None:
    atomic_write_json(sweep.results_root / DEFINITION_FILE, definition_of(sweep), indent=1)


def _items(value: Any) -> dict[str, Any]:
    """A list of optimized_params / hyperparam_list entries by parameter name."""
    if isinstance(value, list):
        named = {json.dumps(item.get("param")) if isinstance(item, dict) else str(i): item
                 for i, item in enumerate(value)}
        if len(named) == len(value):
            return named
    return {"": value}


def changes(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two definitions, one phrase each."""
    found = []
    old, new = saved.get("search", {}), now.get("search", {})
    for key in SEARCH_KEYS:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in ("optimized_params", "hyperparam_list"):
            a, b = _items(before), _items(after)
            for name in sorted(set(a) | set(b)):
                if name not in a:
                    found.append(f"{key}: {name} added")
                elif name not in b:
                    found.append(f"{key}: {name} removed")
                elif a[name] != b[name]:
                    found.append(f"{key}: {name} changed from {json.dumps(a[name])} to"
                                 f" {json.dumps(b[name])}")
        elif key == "fixed_params" and isinstance(before, dict) and isinstance(after, dict):
            for name in sorted(set(before) | set(after)):
                if before.get(name, "(unset)") != after.get(name, "(unset)"):
                    found.append(f"fixed_params.{name}: {json.dumps(before.get(name))} ->"
                                 f" {json.dumps(after.get(name))}")
        else:
            found.append(f"{key}: {json.dumps(before)} -> {json.dumps(after)}")
    return found


def resume_problem(sweep: SweepFile, accept_changes: bool) -> tuple[str | None, str | None]:
    """(why resuming is refused, a note) for a sweep resumed with this file; saves the
    definition when there was none or the changes are accepted."""
    root = sweep.results_root
    saved, now = read_definition(root), definition_of(sweep)
    if saved is None:
        save_definition(sweep)
        return None, (f"{root / DEFINITION_FILE} was missing (a sweep started before it was"
                      " recorded): its search space cannot be compared; saved this one")
    if saved.get("kind") != now["kind"]:
        return (f"{root} holds a {saved.get('kind')}, {sweep.path} is a {now['kind']}; start"
                " again with --fresh"), None
    found = changes(saved, now)
    if not found:
        return None, None
    if accept_changes:
        save_definition(sweep)
        return None, ("resuming with a changed search (--accept-changes): "
                      + "; ".join(found))
    what = "grid" if sweep.kind == GRID_SEARCH else "search space"
    return (f"{sweep.path} changed the {what} of the sweep in {root} ("
            + "; ".join(found) + "): resuming would mix the results of two different"
            " searches. Restore the file, start again with --fresh, or resume anyway with"
            " --resume --accept-changes"), None
