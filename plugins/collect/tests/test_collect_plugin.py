"""The installed plugin: found by its entry point, listed by ``msgrelay plugins``, configured from the
environment, offering its emulator to the demo, and driven end to end by msgrelay's relay (the
harness: real sandbox, real ledger) through a failure and a retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import attrs
import msgrelay_collect
import pytest
from msgrelay_collect import CollectDestination, CollectSettings
from msgrelay_collect.emulator import CollectEmulator

from msgrelay import UPSCALE, CollectClient, Delivery, Lead, RelayContext, delivery_key, hookimpl
from msgrelay.collect import InternalMessage, Message
from msgrelay.plugins import PluginManager
from msgrelay.sandbox import COLLECT_PREFIX, SEED_CAMPAIGN_ID, SEED_REQUEST_ID, Fault, Sandbox
from msgrelay.testing import RelayHarness
from msgrelay.web import BackgroundServer

MESSAGES_PATH = f"/requests/{SEED_REQUEST_ID}/messages"


def _notes(sandbox: Sandbox, request_id: str = SEED_REQUEST_ID) -> list[InternalMessage]:
    """The internal notes msgrelay wrote into a request, oldest first."""
    with CollectClient(sandbox.collect_api_key, sandbox.collect_url, trust_env=False) as client:
        found: list[Message] = client.list_messages(request_id)
    return [m for m in reversed(found) if isinstance(m, InternalMessage) and "msgrelay:" in (m.text or "")]


def _prospects(notes: list[InternalMessage]) -> list[str]:
    """The lead id each note names in its title (``...: lead-0``, or ``...: Ada Example (lead-0)`` once
    the submitted names travel with the lead)."""
    return sorted((n.title or "").rsplit(": ", 1)[-1].rsplit("(", 1)[-1].rstrip(")") for n in notes)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, msgrelay_sandbox: Sandbox) -> Sandbox:
    """The environment points the ``collect`` destination at the harness's sandbox."""
    monkeypatch.setenv("COLLECT_API_KEY", msgrelay_sandbox.collect_api_key)
    monkeypatch.setenv("COLLECT_BASE_URL", msgrelay_sandbox.collect_url)
    monkeypatch.setenv("MSGRELAY_COLLECT_REQUEST_ID", SEED_REQUEST_ID)
    return msgrelay_sandbox


@pytest.fixture
def harness(msgrelay_harness: RelayHarness, register_plugin: Any) -> RelayHarness:
    """The harness with this plugin registered as msgrelay would load it."""
    register_plugin(msgrelay_collect, name="collect")
    return msgrelay_harness


def test_entry_point_is_installed() -> None:
    """The distribution declares ``collect = msgrelay_collect`` in the ``msgrelay`` group."""
    found = {ep.name: ep for ep in metadata.entry_points(group="msgrelay")}
    assert found["collect"].value == "msgrelay_collect"
    assert found["collect"].dist is not None
    assert found["collect"].dist.name == "msgrelay-collect"
    assert found["collect"].load() is msgrelay_collect


def test_plugin_manager_registers_the_destination() -> None:
    """msgrelay's manager loads the entry point without errors and gets the ``collect`` destination."""
    pm = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "collect"}).load()
    assert pm.load_errors == []
    assert pm.destinations.get("collect").plugin == "collect"
    [row] = [r for r in pm.describe() if r["name"] == "collect"]
    assert row["destinations"] == ["collect"]
    assert row["version"] == msgrelay_collect.__version__


def test_msgrelay_plugins_lists_it() -> None:
    """``msgrelay plugins`` (the CLI, in a child process) lists the plugin and its destination."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLECT_", "UPSCALE_", "MSGRELAY_"))}
    env["MSGRELAY_LOAD_PLUGINS"] = "collect"
    done = subprocess.run(
        [sys.executable, "-m", "msgrelay", "plugins"], env=env, capture_output=True, text=True, check=True
    )
    rows = json.loads(done.stdout)
    [row] = [r for r in rows if r["name"] == "collect"]
    assert row["destinations"] == ["collect"]


def test_unconfigured_delivery_is_final_and_names_the_variable(harness: RelayHarness) -> None:
    """Loading needs no settings; relaying without ``COLLECT_API_KEY`` dead-letters at once, naming it."""
    report = harness.generate(leads=2, destinations=["collect"])
    assert (report.delivered, report.retried, report.dead) == (0, 0, 2)
    dead = harness.relay.status()["dead_letters"]
    assert {d["attempts"] for d in dead} == {1}
    assert all("COLLECT_API_KEY" in d["last_error"] for d in dead)


def test_relay_500_then_success_writes_each_lead_once(harness: RelayHarness, configured: Sandbox) -> None:
    """End to end: Collect answers the first POST 500; the relay retries; three leads, three notes."""
    configured.inject(Fault("POST", MESSAGES_PATH, status=500, body={"error": "Internal Server Error"}))
    report = harness.generate(leads=3, destinations=["collect"])
    assert (report.delivered, report.dead) == (3, 0)
    assert report.retried >= 1
    assert _prospects(_notes(configured)) == ["lead-0", "lead-1", "lead-2"]
    assert configured.count("POST", MESSAGES_PATH) == 4


def test_relay_429_with_retry_after_then_success(harness: RelayHarness, configured: Sandbox) -> None:
    """A 429 with ``Retry-After: 0`` on the first POST: retried, then each lead once."""
    configured.inject(Fault("POST", MESSAGES_PATH, status=429, headers={"Retry-After": "0"}))
    report = harness.generate(leads=2, destinations=["collect"])
    assert (report.delivered, report.dead) == (2, 0)
    assert _prospects(_notes(configured)) == ["lead-0", "lead-1"]


def test_relay_after_a_post_lost_once_stored(
    harness: RelayHarness, configured: Sandbox, gateway: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Internal channel, one note per lead even after a retried POST: Collect stores the first note
    but the answer is lost (a gateway's 504); the relay retries and the marker prevents a second."""
    monkeypatch.setenv("COLLECT_BASE_URL", gateway.url + COLLECT_PREFIX)
    report = harness.generate(leads=3, destinations=["collect"])
    assert (report.delivered, report.dead) == (3, 0)
    assert report.retried >= 1
    notes = _notes(configured)
    assert _prospects(notes) == ["lead-0", "lead-1", "lead-2"]
    assert configured.count("POST", MESSAGES_PATH) == 3


def test_relay_auth_failure_is_dead_at_once_with_one_line(
    harness: RelayHarness, configured: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused key: every lead dead-lettered on its first attempt, the reason one line naming the
    plugin and ``COLLECT_API_KEY``, the key nowhere; nothing written."""
    wrong = "wrong-collect-key-0f1e2d3c4b5a"
    monkeypatch.setenv("COLLECT_API_KEY", wrong)
    report = harness.generate(leads=3, destinations=["collect"])
    assert (report.delivered, report.retried, report.dead) == (0, 0, 3)
    dead = harness.relay.status()["dead_letters"]
    assert {d["attempts"] for d in dead} == {1}
    reasons = [d["last_error"] for d in dead]
    assert any(
        r.startswith("CredentialsRefusedError: msgrelay-collect: Collect refused the API key (401")
        for r in reasons
    )
    assert all("COLLECT_API_KEY" in r and "\n" not in r and wrong not in r for r in reasons)
    assert _notes(configured) == []


class RequestColumn:
    """Stands in for the host's join of the submitted lead: puts a ``collect_request_id`` column on
    each lead (odd leads to ``other``)."""

    def __init__(self, other: str) -> None:
        self.other = other

    @hookimpl
    def transform_lead(self, lead: Lead, context: RelayContext) -> Lead:
        number = int(lead.external_prospect_id.rsplit("-", 1)[-1])
        request = self.other if number % 2 else SEED_REQUEST_ID
        return attrs.evolve(lead, extra={**lead.extra, "collect_request_id": request})


def test_each_lead_goes_to_its_own_request(
    harness: RelayHarness, configured: Sandbox, register_plugin: Any
) -> None:
    """The lead's ``collect_request_id`` picks the request: two requests, one GET each, a note per lead."""
    with CollectClient(configured.collect_api_key, configured.collect_url, trust_env=False) as client:
        other = next(r.id for r in client.list_requests(SEED_CAMPAIGN_ID) if r.id != SEED_REQUEST_ID)
    register_plugin(RequestColumn(other), name="request-column")
    report = harness.generate(leads=4, destinations=["collect"])
    assert (report.delivered, report.dead) == (4, 0)
    assert configured.count("GET", "/messages") == 2
    assert _prospects(_notes(configured)) == ["lead-0", "lead-2"]
    assert _prospects(_notes(configured, other)) == ["lead-1", "lead-3"]


def test_demo_emulator_serves_the_demo(register_plugin: Any, msgrelay_plugins: PluginManager) -> None:
    """``demo_emulator("collect")`` yields a running sandbox whose settings point the destination at it;
    ``received()`` lists what was written. Other types get None."""
    register_plugin(msgrelay_collect, name="collect")
    hook = msgrelay_plugins.hook
    assert [r for r in hook.demo_emulator(destination_type="hubspot") if r is not None] == []
    [manager] = [r for r in hook.demo_emulator(destination_type="collect") if r is not None]
    with manager as emulator:
        assert isinstance(emulator, CollectEmulator)
        with CollectDestination.from_env(emulator.settings, trust_env=False) as destination:
            delivery_lead = Lead(external_prospect_id="demo-1", messages={"connection_request": "Hi Grace!"})
            delivery = Delivery(
                destination="collect",
                key=delivery_key("collect", UPSCALE, "demo", "demo-1"),
                context=RelayContext(source=UPSCALE, batch_id="demo"),
                lead=delivery_lead,
            )
            destination.deliver(delivery)
        [received] = emulator.received()
        assert received["channel"] == "internal"
        assert "Hi Grace!" in received["text"]


def test_check_proves_the_key_or_names_the_setting(configured: Sandbox) -> None:
    """``check``: the key accepted against the default request; a wrong key is a failed line naming
    ``COLLECT_API_KEY``; a bad setting is a failed line naming its variable."""
    good = CollectSettings.from_env(dict(os.environ))
    with CollectDestination(good, trust_env=False) as destination:
        results = destination.check()
    assert all(r.ok for r in results)
    assert "accepted" in results[-1].detail
    env = {**os.environ, "COLLECT_API_KEY": "wrong-collect-key-00000000"}
    [*_, failed] = msgrelay_collect.check_environment(env)
    assert not failed.ok
    assert "set COLLECT_API_KEY" in failed.detail
    assert "wrong-collect-key" not in failed.detail
    [bad] = msgrelay_collect.check_environment({**env, "MSGRELAY_COLLECT_CHANNEL": "fax"})
    assert (bad.ok, "MSGRELAY_COLLECT_CHANNEL" in bad.detail) == (False, True)


@pytest.fixture(autouse=True)
def _no_leftover_faults(msgrelay_sandbox: Sandbox) -> Iterator[None]:
    """A fault a test did not consume does not leak into the sandbox's shutdown."""
    yield
    msgrelay_sandbox.faults.clear()
