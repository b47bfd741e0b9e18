"""numpy scalars as the Python values they hold, without importing numpy.

cluster_utils samples with numpy and pandas reads CSV columns into numpy arrays, so a
value that reaches a settings dict, a JSON file or a message may be an ``np.float64``,
``np.int64`` or ``np.bool_``: numpy 2 prints them as ``np.float64(0.5)``, which neither
cluster_utils' job parser nor ``json`` takes.
"""

from __future__ import annotations

from typing import Any


def is_numpy_scalar(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "item")


def without_numpy_scalars(value: Any) -> Any:
    """``value`` with every numpy scalar (also inside dicts, lists and tuples, keys
    included) replaced by the plain Python value it holds; anything else as it is."""
    if isinstance(value, dict):
        return {without_numpy_scalars(k): without_numpy_scalars(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(without_numpy_scalars(v) for v in value)
    if is_numpy_scalar(value):
        return value.item()
    return value
