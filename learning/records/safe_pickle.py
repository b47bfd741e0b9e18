"""Read cluster_utils' pickles (status.pickle, report_data.pickle) without running code.

``pickle.load`` calls whatever a pickle names (``os.system``, say), so unpickling a results
folder that someone else made or changed runs their code. The inspection needs only a few
plain values from these files (the optimized metric and direction, the parameter names,
the number of samples), so :func:`load_inert` replaces every class and function a pickle
names by an inert :class:`Stub` that records its name, its arguments and its state: no
module is imported and nothing from the file is called. Plain values (str, int, float,
bool, None, list, tuple, dict, bytes) come back as they are; a cluster_utils optimizer
becomes a Stub whose ``state`` holds its attributes (``metric_to_optimize``, ...).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any


class Stub:
    """An object of a class (or the result of a call) from a pickle, as inert data."""

    qualified_name = "?"  # module.name of the class or function the pickle named

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:  # pickle's NEWOBJ skips __init__
        stub = super().__new__(cls)
        stub.args, stub.kwargs = args, kwargs
        stub.state = None
        stub.items = []
        return stub

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def attributes(self) -> dict[str, Any]:
        """The object's attributes: its state as pickled (``__dict__``, or the dict of a
        ``(dict, slots)`` pair); empty if it has none."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]} if isinstance(state[0], dict) else state[1]
        return state if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"<Stub {self.qualified_name}>"


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type[Stub]:
        return type("Stub", (Stub,), {"qualified_name": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Stub:
        stub = Stub(pid)
        stub.qualified_name = "(persistent id)"
        return stub


def load_inert(path: str | Path) -> Any:
    """Unpickle ``path`` with every global replaced by a Stub (raises like pickle.load on
    a truncated or malformed file: pickle.UnpicklingError, EOFError, ValueError, ...)."""
    data = Path(path).read_bytes()
    return _InertUnpickler(io.BytesIO(data)).load()
