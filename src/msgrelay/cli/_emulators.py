"""The vendor emulators ``msgrelay demo --to TYPE`` runs: each destination plugin's own, through the
``demo_emulator`` hook, so the demo delivers to HubSpot, lemlist or Collect with no account.

A destination whose base URL is already configured (its ``*_BASE_URL`` variable is set) gets no
emulator: the demo then delivers to the real service with the settings the user gave.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence

from msgrelay.destinations import DEFAULT_DESTINATION, DemoEmulator
from msgrelay.plugins import PluginManager

__all__ = ["vendor_emulators"]


@contextlib.contextmanager
def vendor_emulators(
    plugins: PluginManager, destinations: Sequence[str], say: Callable[[str], None]
) -> Iterator[dict[str, DemoEmulator]]:
    """Start an emulator for each destination that has one and no configured base URL; the running
    ones by destination name, their settings in the environment until the block ends."""
    with contextlib.ExitStack() as stack:
        running: dict[str, DemoEmulator] = {}
        for name in destinations:
            if name == DEFAULT_DESTINATION:
                continue
            answers = [a for a in plugins.dispatch("demo_emulator", name, subject=f"demo {name}") if a]
            if not answers:
                say(f"{name}: no emulator offered; delivering with its own settings")
                continue
            emulator = stack.enter_context(answers[0])
            configured = [k for k in emulator.settings if k.endswith("BASE_URL") and os.environ.get(k)]
            if configured:
                say(f"{name}: {configured[0]} is set; delivering to the real service, not the emulator")
                continue
            stack.enter_context(_environment(emulator.settings))
            running[name] = emulator
            base = next((v for k, v in emulator.settings.items() if k.endswith("BASE_URL")), "")
            say(f"{name}: vendor emulator on {base}")
        yield running


@contextlib.contextmanager
def _environment(settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` in ``os.environ`` for the block (plugins read their settings on first use)."""
    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
