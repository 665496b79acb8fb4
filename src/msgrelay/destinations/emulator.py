"""What a destination plugin's vendor emulator offers the demo: settings pointing at it, and a view of
what it received.

A plugin that ships an emulator of its vendor (every first-party one does, for its own tests) answers
the ``demo_emulator`` hook with a context manager yielding a `DemoEmulator`; ``msgrelay demo --to TYPE``
starts it when the plugin's base URL is not set, points the destination at it and prints what the
vendor received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["DemoEmulator"]


class DemoEmulator(Protocol):
    """A running emulator of a destination's vendor, on 127.0.0.1."""

    @property
    def settings(self) -> Mapping[str, str]:
        """Environment-style settings that point the destination at this emulator (its base URL and a
        credential it accepts), e.g. ``{"MSGRELAY_HUBSPOT_BASE_URL": "http://127.0.0.1:5123", ...}``."""
        ...

    def received(self) -> list[dict[str, Any]]:
        """What the vendor holds now, JSON-ready, one dict per record (contacts, leads, messages)."""
        ...
