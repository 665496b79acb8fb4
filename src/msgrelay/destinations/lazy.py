"""A destination built on its first use, then reused: how a destination configured from the environment
costs nothing until a delivery needs it, and fails that delivery (naming the setting) when a setting is
wrong, rather than failing the plugin's load.

The registry builds a type's default instance this way; plugins that register a destination configured
from their own variables use the same class (``class EnvironmentHubSpot(LazyDestination[...])``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from msgrelay.destinations.delivery import Delivery
from msgrelay.destinations.types import BuiltDestination

__all__ = ["LazyDestination"]

D = TypeVar("D", bound=BuiltDestination)


class LazyDestination(Generic[D]):
    """``build()`` on first use (under a lock, so once), then the built destination's methods.

    Args:
        build: makes the destination; a `msgrelay.errors.ConfigurationError` it raises fails the
            delivery that needed it (the relay dead-letters it at once) and is raised again next time.
    """

    def __init__(self, build: Callable[[], D]) -> None:
        self._build = build
        self._built: D | None = None
        self._lock = threading.Lock()

    def destination(self) -> D:
        """The built destination (built now if it was not yet)."""
        with self._lock:
            if self._built is None:
                self._built = self._build()
            return self._built

    def deliver(self, delivery: Delivery) -> None:
        """The built destination's ``deliver``."""
        self.destination().deliver(delivery)

    def deliver_many(self, deliveries: Sequence[Delivery]) -> Mapping[str, BaseException]:
        """The built destination's ``deliver_many``, else ``deliver`` one by one (the failures by key)."""
        built = self.destination()
        many = getattr(built, "deliver_many", None)
        if callable(many):
            result: Mapping[str, BaseException] = many(deliveries)
            return result
        failures: dict[str, BaseException] = {}
        for delivery in deliveries:
            try:
                built.deliver(delivery)
            except Exception as exc:  # any failure asks for a retry
                failures[delivery.key] = exc
        return failures

    def close(self) -> None:
        """Close the built destination's connections, if it was ever built."""
        with self._lock:
            built, self._built = self._built, None
        if built is not None:
            getattr(built, "close", lambda: None)()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._built!r}>"
