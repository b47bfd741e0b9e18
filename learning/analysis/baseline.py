"""The shipped defaults as a contender in a confirmation (``--confirm K --baseline``).

The baseline is the sweep's winning settings with every optimized parameter put back to
the value its templates file holds (``config.<role>.<key>`` looked up in the templates the
job merges, a job option such as ``learning_runs_per_job`` at the job's default; the env of
a sweep over envs stays the winner's): what a
user gets by not optimizing, under the sweep's own fixed parameters and budget. The
confirmation trains it on the same fresh seeds as the winners (paired), and the verdict
says whether the winner beats it by more than the noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from learning.config import ConfigError, ParameterError, parse_address, read_role_files
from learning.config.addressing import PREFIX, TEMPLATES_KEY
from learning.contract import ENV_PARAMETER
from learning.job.settings import OPTION_DEFAULTS, resolve_templates_path

LABEL = "defaults"


class NoBaseline(Exception):
    """A parameter has no shipped default to go back to; the message says which."""


def template_value(templates: dict, address: str) -> Any:
    """The value at ``<role>.<key>[:N]...`` in the templates (KeyError/IndexError if none)."""
    parts = parse_address(address)
    node = templates[parts[0]][1]
    for part in parts[1:]:
        node = node[part]
    return node


def baseline_settings(settings: dict[str, Any], params: list[str],
                      project_dir: Path) -> dict[str, Any]:
    """``settings`` (flattened) with each optimized parameter at its shipped default."""
    try:
        path = resolve_templates_path(settings.get(PREFIX + TEMPLATES_KEY), cwd=project_dir)
        templates = read_role_files(path)
    except (ParameterError, ConfigError) as e:
        raise NoBaseline(f"the templates cannot be read: {e}") from e
    baseline = dict(settings)
    for param in params:
        if param == ENV_PARAMETER:
            continue  # the env is the task, not a setting: the defaults train the same env
        if param.startswith(PREFIX):
            try:
                value = template_value(templates, param[len(PREFIX):])
            except (KeyError, IndexError, TypeError, ParameterError) as e:
                raise NoBaseline(f"{param} has no value in the templates {path}") from e
            if isinstance(value, (dict, list)):
                raise NoBaseline(f"{param} is {type(value).__name__} in the templates {path};"
                                 " a confirmation compares single values (optimize its keys"
                                 " or items instead, e.g. {param}.<key>)")
            baseline[param] = value
        elif param in OPTION_DEFAULTS:
            baseline[param] = OPTION_DEFAULTS[param]
        else:
            raise NoBaseline(f"{param} is not a config parameter with a shipped default")
    return baseline
