"""``<results>/sweep_definition.json``: what a sweep searches, as the launcher saved it when
the sweep started (learning.launch.definition writes it and compares it on ``--resume``).

The launcher is its only writer; a job reads it for the sweep distributions of the
parameters its population-based training mutates (learning.job.population). The file
is read as JSON data; its shape is checked by each reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFINITION_FILE = "sweep_definition.json"
DEFINITION_FORMAT = "lttfs-sweep-definition/1"


def read_definition(root: Path) -> dict[str, Any] | None:
    """The saved definition (None: none saved, or not of this format)."""
    try:
        data = json.loads((Path(root) / DEFINITION_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != DEFINITION_FORMAT \
            or not isinstance(data.get("search"), dict):
        return None
    return data
