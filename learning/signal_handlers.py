"""Signal handlers installed for a while and then restored (the learner's stop request,
the job's forwarding to its learners)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from typing import Any


class SignalHandlers:
    """Installs one handler for several signals and restores the previous ones."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    def install(self, signals: Iterable[int], handler: Callable[[int, Any], None]) -> None:
        for signum in signals:
            previous = signal.signal(signum, handler)
            self._previous.setdefault(signum, previous)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
