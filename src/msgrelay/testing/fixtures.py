"""The pytest fixtures msgrelay ships to plugin authors (loaded through `msgrelay.testing`, the
``pytest11`` entry point): see that module's docstring for the list.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgrelay.collect.client import CollectClient
from msgrelay.config import ENV_PREFIXES
from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import DeliveryPolicy, Relay
from msgrelay.sandbox import Sandbox
from msgrelay.testing.harness import HookRecorder, RelayHarness
from msgrelay.upscale.client import UpscaleClient

__all__ = [
    "hook_recorder",
    "msgrelay_harness",
    "msgrelay_home",
    "msgrelay_plugins",
    "msgrelay_sandbox",
    "register_plugin",
]


@pytest.fixture
def msgrelay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh temporary ``MSGRELAY_HOME``, and none of msgrelay's other variables for this test.

    Keys, base URLs, destinations and plugin settings exported in your shell are removed (every
    ``UPSCALE_*``, ``COLLECT_*`` and ``MSGRELAY_*``), so a test never reaches a live API by accident.
    """
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "msgrelay-home"
    monkeypatch.setenv("MSGRELAY_HOME", str(home))
    return home


@pytest.fixture
def msgrelay_plugins() -> PluginManager:
    """A fresh plugin manager: the built-in plugins, no entry points, no environment."""
    return PluginManager(environ={}, entry_points=False).load()


@pytest.fixture
def register_plugin(msgrelay_plugins: PluginManager) -> Iterator[Any]:
    """``register_plugin(plugin, name=None) -> name``: registered for this test, always unregistered after."""
    names: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        registered = msgrelay_plugins.register(plugin, name=name)
        assert registered is not None, f"plugin name {name!r} is blocked"
        names.append(registered)
        return registered

    try:
        yield register
    finally:
        for name in reversed(names):
            if msgrelay_plugins.get_plugin(name) is not None:
                msgrelay_plugins.unregister(name=name)


@pytest.fixture
def hook_recorder(msgrelay_plugins: PluginManager) -> Iterator[HookRecorder]:
    """Records every hook call made through ``msgrelay_plugins`` during the test."""
    recorder = HookRecorder()
    remove = msgrelay_plugins.add_tracer(recorder)
    try:
        yield recorder
    finally:
        remove()


@pytest.fixture
def msgrelay_sandbox() -> Iterator[Sandbox]:
    """Both emulated APIs on 127.0.0.1 (a free port); generation takes about a millisecond a message."""
    with Sandbox(seconds_per_message=0.001) as sandbox:
        yield sandbox


@pytest.fixture
def msgrelay_harness(
    msgrelay_home: Path, msgrelay_plugins: PluginManager, msgrelay_sandbox: Sandbox
) -> Iterator[RelayHarness]:
    """A `RelayHarness` for this test (see the module docstring)."""
    ledger = SQLiteLedger(msgrelay_home / "ledger.sqlite3")
    client = UpscaleClient(msgrelay_sandbox.upscale_api_key, msgrelay_sandbox.upscale_url, trust_env=False)
    collect = CollectClient(msgrelay_sandbox.collect_api_key, msgrelay_sandbox.collect_url, trust_env=False)
    relay = Relay(
        ledger=ledger,
        plugins=msgrelay_plugins,
        upscale=client,
        collect=collect,
        destinations=["store"],
        policy=DeliveryPolicy(backoff_base=0.01, backoff_max=0.05),
        wait_timeout=60.0,
    )
    store = Store(msgrelay_home / "store.sqlite3")
    try:
        yield RelayHarness(msgrelay_sandbox, msgrelay_plugins, ledger, client, relay, store, collect)
    finally:
        relay.close()
        client.close()
        collect.close()
        ledger.close()
        store.close()
