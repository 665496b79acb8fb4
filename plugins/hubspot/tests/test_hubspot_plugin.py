"""The installed plugin, driven by msgrelay's real relay (sandbox, SQLite ledger) into the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import msgrelay_hubspot
import pytest
from msgrelay_hubspot import EMULATOR_TOKEN, HubSpotEmulator, check_environment
from msgrelay_hubspot.emulator import Fault, RunningEmulator

from msgrelay import DeliveryPolicy, Lead, RelayContext, hookimpl
from msgrelay.plugins import PluginManager
from msgrelay.testing import RelayHarness


class _Enrich:
    """A host's ``transform_lead``: adds each lead's email, as a CRM-aware host would (until the lead
    travels whole from the submission)."""

    @hookimpl
    def transform_lead(self, lead: Lead, context: RelayContext) -> Lead:
        return attrs.evolve(lead, extra={**lead.extra, "email": f"{lead.external_prospect_id}@example.org"})


def _configure(monkeypatch: pytest.MonkeyPatch, running: RunningEmulator, **more: str) -> None:
    monkeypatch.setenv("MSGRELAY_HUBSPOT_BASE_URL", running.url)
    monkeypatch.setenv("MSGRELAY_HUBSPOT_TOKEN", EMULATOR_TOKEN)
    monkeypatch.setenv("MSGRELAY_HUBSPOT_CREATE_PROPERTIES", "1")
    for name, value in more.items():
        monkeypatch.setenv(f"MSGRELAY_HUBSPOT_{name}", value)


def _harness(harness: RelayHarness, register_plugin: object) -> None:
    # No jitter: the rows a failed batch call leaves come due together, so the retry is one batch call
    # (with jitter each row has its own retry time, and the count of calls would depend on the machine).
    harness.relay.policy = DeliveryPolicy(backoff_base=0.01, backoff_max=0.05, rng=lambda: 0.0)
    register_plugin(msgrelay_hubspot, "hubspot")  # type: ignore[operator]
    register_plugin(_Enrich(), "enrich")  # type: ignore[operator]


def test_entry_point_is_installed() -> None:
    """The distribution declares ``hubspot = msgrelay_hubspot`` in the ``msgrelay`` group."""
    found = {ep.name: ep for ep in metadata.entry_points(group="msgrelay")}
    assert found["hubspot"].value == "msgrelay_hubspot"
    assert found["hubspot"].dist is not None
    assert found["hubspot"].dist.name == "msgrelay-hubspot"


def test_plugin_manager_lists_the_destination() -> None:
    """msgrelay's manager loads the entry point without errors: ``hubspot`` and its hooks are listed."""
    pm = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "hubspot"}).load()
    assert pm.load_errors == []
    [row] = [r for r in pm.describe() if r["name"] == "hubspot"]
    assert row["destinations"] == ["hubspot"]
    assert set(row["hooks"]) == {"register_destinations", "register_destination_types", "demo_emulator"}
    assert pm.destinations.get("hubspot").plugin == "hubspot"


def test_relay_retries_a_500_and_each_lead_lands_once(
    msgrelay_harness: RelayHarness,
    register_plugin: object,
    running: RunningEmulator,
    emulator: HubSpotEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first upsert answers 500; the relay retries after its backoff; each lead is one contact."""
    _configure(monkeypatch, running)
    _harness(msgrelay_harness, register_plugin)
    emulator.script("upsert", Fault(500))
    report = msgrelay_harness.generate(leads=3, destinations=["hubspot"])
    assert (report.delivered, report.dead) == (3, 0)
    assert report.retried >= 1
    contacts = emulator.received()
    assert sorted(c["properties"]["email"] for c in contacts) == [f"lead-{i}@example.org" for i in range(3)]
    assert all(c["properties"]["msgrelay_connection_request"] for c in contacts)
    assert len(emulator.calls("/batch/upsert")) == 2


def test_relay_honours_429_retry_after(
    msgrelay_harness: RelayHarness,
    register_plugin: object,
    running: RunningEmulator,
    emulator: HubSpotEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 429 with ``Retry-After: 1`` is retried no sooner, then each lead lands once."""
    _configure(monkeypatch, running)
    _harness(msgrelay_harness, register_plugin)
    emulator.script("upsert", Fault(429, retry_after=1))
    report = msgrelay_harness.generate(leads=2, destinations=["hubspot"])
    assert (report.delivered, report.dead) == (2, 0)
    assert len(emulator.received()) == 2


def test_relay_207_then_success_sets_every_property_once(
    msgrelay_harness: RelayHarness,
    register_plugin: object,
    running: RunningEmulator,
    emulator: HubSpotEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """10 leads, a 207 with 2 per-record errors, then success: 10 contacts, every property set once,
    the retry carrying only the 2 failed records."""
    _configure(monkeypatch, running)
    _harness(msgrelay_harness, register_plugin)
    emulator.script("upsert", Fault(207, failed=(2, 8)))
    report = msgrelay_harness.generate(leads=10, destinations=["hubspot"])
    assert (report.delivered, report.retried, report.dead) == (10, 2, 0)
    assert len(emulator.received()) == 10
    for contact in emulator.contacts.values():
        assert contact.history
        assert all(len(values) == 1 for values in contact.history.values()), contact.history
    assert [len(u["inputs"]) for u in emulator.calls("/batch/upsert")] == [10, 2]


def test_relay_dead_letters_an_auth_failure_at_once(
    msgrelay_harness: RelayHarness,
    register_plugin: object,
    running: RunningEmulator,
    emulator: HubSpotEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rejected token: every delivery dead after one attempt, the reason one line naming the plugin
    and the variable, never the token."""
    _configure(monkeypatch, running, TOKEN="pat-na1-revoked-0123456789abcdef")
    _harness(msgrelay_harness, register_plugin)
    report = msgrelay_harness.generate(leads=3, destinations=["hubspot"])
    assert (report.delivered, report.retried, report.dead) == (0, 0, 3)
    dead = msgrelay_harness.relay.status()["dead_letters"]
    assert [d["attempts"] for d in dead] == [1, 1, 1]
    reason = dead[0]["last_error"]
    assert "\n" not in reason
    assert "msgrelay-hubspot" in reason
    assert "MSGRELAY_HUBSPOT_TOKEN" in reason
    assert "revoked" not in reason
    assert emulator.received() == []


def test_demo_emulator_hook_serves_the_emulator() -> None:
    """``demo_emulator("hubspot")`` starts an emulator whose settings deliver to it; other types get None."""
    pm = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "hubspot"}).load()
    assert [r for r in pm.hook.demo_emulator(destination_type="lemlist") if r is not None] == []
    [context] = [r for r in pm.hook.demo_emulator(destination_type="hubspot") if r is not None]
    with context as demo:
        assert check_environment(demo.settings) == []
        assert demo.settings["MSGRELAY_HUBSPOT_BASE_URL"].startswith("http://127.0.0.1:")
        assert demo.received() == []


def test_check_reports_the_token_and_the_id_property(running: RunningEmulator) -> None:
    """``check`` reads one contact and the id property: a bad token or a missing property is one line
    naming the setting; good settings report nothing."""
    env = {"MSGRELAY_HUBSPOT_BASE_URL": running.url, "MSGRELAY_HUBSPOT_TOKEN": EMULATOR_TOKEN}
    assert check_environment(env) == []
    [bad] = check_environment({**env, "MSGRELAY_HUBSPOT_TOKEN": "pat-na1-bad-0123456789"})
    assert "MSGRELAY_HUBSPOT_TOKEN" in bad
    assert "bad-0123" not in bad
    [missing] = check_environment({**env, "MSGRELAY_HUBSPOT_ID_PROPERTY": "crm_id"})
    assert "MSGRELAY_HUBSPOT_ID_PROPERTY" in missing
    [unset] = check_environment({})
    assert "MSGRELAY_HUBSPOT_TOKEN" in unset


PREFIX = "hubspot: "


def _msgrelay_check(name: str, settings: dict[str, str], home: Path) -> tuple[int, list[dict[str, Any]]]:
    """``msgrelay check --to NAME`` in its own process, with only ``settings`` (no vendor key of the
    developer's reaches it, so nothing leaves loopback); the exit code and this destination's lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSCALE_", "COLLECT_", "MSGRELAY_"))}
    env.update(settings, MSGRELAY_HOME=str(home))
    done = subprocess.run(
        [sys.executable, "-m", "msgrelay", "check", "--to", name, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, [line for line in lines if line["check"].startswith(PREFIX)]


def test_msgrelay_check_runs_the_registered_check(running: RunningEmulator, tmp_path: Path) -> None:
    """``msgrelay check --to hubspot``: ok against the emulator; a bad token fails the line, the fix
    naming MSGRELAY_HUBSPOT_TOKEN, exit 1."""
    code, [good] = _msgrelay_check("hubspot", running.settings, tmp_path)
    assert good["ok"] is True
    code, [bad] = _msgrelay_check(
        "hubspot", {**running.settings, "MSGRELAY_HUBSPOT_TOKEN": "pat-na1-bad-0123456789"}, tmp_path
    )
    assert code == 1
    assert bad["ok"] is False
    assert "MSGRELAY_HUBSPOT_TOKEN" in bad["fix"]
    assert "bad-0123" not in json.dumps(bad)
