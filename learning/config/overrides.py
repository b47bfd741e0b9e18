"""Command-line overrides of ``python -m learning CONFIG.json ADDRESS=VALUE ...``.

ADDRESS is a parameter address without the ``config.`` prefix a job's parameters carry
(``rl_config.learning_rate``, ``hysr_config.robot_position:0``,
``rl_config.policy_kwargs.net_arch.pi``; learning/config/addressing.py), split from VALUE
at the first ``=``.

VALUE is read as JSON: ``1e-4``, ``0.2``, ``true``, ``null``, ``[256, 256]``,
``{"norm_obs": true}``, ``"text"``. Text that is not valid JSON is taken as a string as it
is, so ``relu``, ``auto_0.1`` or ``models/model.zip`` need no quotes; a string that is
valid JSON (the string ``"1"``) needs them: ``key='"1"'``. Values are never evaluated as
code; NaN and Infinity are not JSON numbers and stay strings (which the checks reject).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from learning.config.addressing import ParameterError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_value(text: str) -> Any:
    """VALUE as JSON, or the text itself when it is not valid JSON."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return text


def parse_override(text: str) -> tuple[str, Any]:
    """``"role.key=value"`` -> ``("role.key", value)``."""
    address, equals, value = text.partition("=")
    if not equals or not address.strip():
        raise ParameterError(
            f"override {text!r}: expected ROLE.KEY=VALUE, e.g. rl_config.learning_rate=1e-4"
            " or hysr_config.robot_position:0=0.2"
        )
    return address.strip(), parse_value(value)


def parse_overrides(texts: Iterable[str]) -> dict[str, Any]:
    """Every ``ROLE.KEY=VALUE`` argument, in order; an address given twice is an error."""
    overrides: dict[str, Any] = {}
    for text in texts:
        address, value = parse_override(text)
        if address in overrides:
            raise ParameterError(f"override '{address}' is given twice")
        overrides[address] = value
    return overrides
