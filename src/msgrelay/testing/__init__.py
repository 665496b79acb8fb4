"""Fixtures for plugin authors (a pytest plugin, loaded through the ``pytest11`` entry point).

Test a plugin against the real pipeline in a few lines::

    def test_my_destination(msgrelay_harness, register_plugin):
        register_plugin(my_plugin)
        report = msgrelay_harness.generate(leads=3, destinations=["my-crm"])
        assert report.delivered == 3

Fixtures:
    msgrelay_home: ``MSGRELAY_HOME`` pointed at a temporary folder (ledger and store land there).
    msgrelay_plugins: a fresh `PluginManager` with the built-in plugins and no entry points.
    register_plugin: ``register_plugin(plugin, name=None)`` registers for this test only.
    hook_recorder: a `HookRecorder` of every hook call made through ``msgrelay_plugins``.
    msgrelay_sandbox: both emulated APIs on 127.0.0.1, on a free port.
    msgrelay_harness: a `RelayHarness`: sandbox, ledger, plugins and relay wired together.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from msgrelay.collect.client import CollectClient
from msgrelay.config import ENV_PREFIXES
from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import HookCall, PluginManager
from msgrelay.relay import DeliveryPolicy, Relay, RelayReport
from msgrelay.sandbox import Sandbox
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep

__all__ = ["HookRecorder", "RelayHarness", "make_request"]

#: The message types `make_request` asks for unless told otherwise.
DEFAULT_MESSAGE_TYPES = ("connection_request", "first_follow_up")


class HookRecorder:
    """Every hook call, in order: ``recorder.of("transform_lead")`` → the `HookCall` objects."""

    def __init__(self) -> None:
        self.calls: list[HookCall] = []

    def __call__(self, call: HookCall) -> None:
        self.calls.append(call)

    def of(self, hook: str, plugin: str | None = None) -> list[HookCall]:
        """The calls of one hook (to one plugin's implementation, if given)."""
        return [c for c in self.calls if c.hook == hook and (plugin is None or c.plugin == plugin)]

    @property
    def hooks(self) -> list[str]:
        """Hook names in call order."""
        return [c.hook for c in self.calls]


def make_request(
    leads: int = 3,
    *,
    message_types: Sequence[str] = DEFAULT_MESSAGE_TYPES,
    notify_url: str = "http://127.0.0.1:9/unused",
    prefix: str = "lead",
) -> GenerationRequest:
    """A valid generation request for ``leads`` made-up leads (ids ``lead-0``, ``lead-1``...)."""
    return GenerationRequest(
        completion_notification_url=notify_url,
        automation_tool_customer_id="test-customer",
        automation_tool_campaign_id="test-campaign",
        automation_tool_campaign_name="msgrelay tests",
        proposition_company_name="Example Labs",
        proposition_company_url="https://example.com",
        material_link="https://example.com/case-study",
        hiring_location="United Kingdom",
        signoff_name="Sam",
        message_sequence=[MessageStep(step=i, message_type=t) for i, t in enumerate(message_types, start=1)],
        lead_data=[
            LeadInput(
                external_prospect_id=f"{prefix}-{i}",
                linkedin=f"https://www.linkedin.com/in/{prefix}-{i}/",
                first_name=f"Person{i}",
                lead_company=f"Company {i}",
            )
            for i in range(leads)
        ],
    )


@attrs.define
class RelayHarness:
    """The pipeline wired for a test: the sandbox, both clients, a ledger and store under
    ``msgrelay_home``, the test's plugin manager, and a relay whose retries wait milliseconds."""

    sandbox: Sandbox
    plugins: PluginManager
    ledger: SQLiteLedger
    client: UpscaleClient
    relay: Relay
    store: Store
    collect: CollectClient

    def submit(self, leads: int = 3, *, message_types: Sequence[str] = DEFAULT_MESSAGE_TYPES) -> str:
        """Request a generation in the sandbox and wait until it is complete; its ``secure_request_id``."""
        ticket = self.client.request_generation(make_request(leads, message_types=message_types))
        self.client.wait_for_completion(ticket.secure_request_id, timeout=60.0, initial_interval=0.01)
        return ticket.secure_request_id

    def generate(
        self,
        leads: int = 3,
        *,
        message_types: Sequence[str] = DEFAULT_MESSAGE_TYPES,
        destinations: Sequence[str] | None = None,
        max_wait: float = 5.0,
    ) -> RelayReport:
        """Generate for ``leads`` leads and relay them to ``destinations`` (default: the store)."""
        sid = self.submit(leads, message_types=message_types)
        return self.relay.relay(sid, destinations=destinations, max_wait=max_wait)


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
