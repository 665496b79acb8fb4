"""The installed plugin: found by its entry point, listed by msgrelay, configured from the environment,
offering its emulator to the demo, and driven end to end by msgrelay's relay (real sandbox, real ledger)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import msgrelay_lemlist
import msgrelay_lemlist.plugin
import pytest
from msgrelay_lemlist import LemlistClient, LemlistDestination, LemlistSettings, RateLimiter, is_retryable
from msgrelay_lemlist.emulator import RunningEmulator

from msgrelay import Delivery, hookimpl
from msgrelay.destinations import RegisterDestination
from msgrelay.errors import ConfigurationError
from msgrelay.plugins import PluginManager
from msgrelay.testing import RelayHarness


def test_entry_point_is_installed() -> None:
    """The distribution declares ``lemlist = msgrelay_lemlist`` in the ``msgrelay`` group."""
    found = {ep.name: ep for ep in metadata.entry_points(group="msgrelay")}
    assert found["lemlist"].value == "msgrelay_lemlist"
    assert found["lemlist"].dist is not None
    assert found["lemlist"].dist.name == "msgrelay-lemlist"
    assert found["lemlist"].load() is msgrelay_lemlist


def test_msgrelay_lists_the_plugin_and_its_destination_type() -> None:
    """msgrelay's manager loads the entry point without errors; ``msgrelay plugins`` shows ``lemlist``."""
    pm = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "lemlist"}).load()
    assert pm.load_errors == []
    [row] = [r for r in pm.describe() if r["name"] == "lemlist"]
    assert row["destinations"] == ["lemlist"]
    assert row["version"] == msgrelay_lemlist.__version__
    assert {"register_destinations", "demo_emulator"} <= set(row["hooks"])


def test_unconfigured_delivery_names_the_variable(make_delivery: Callable[..., Delivery]) -> None:
    """Loading needs no settings; delivering without them fails permanently naming the variable."""
    pm = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "lemlist"}).load()
    delivery = make_delivery()
    failure = pm.destinations.get("lemlist").deliver_batch([delivery])[delivery.key]
    assert isinstance(failure, ConfigurationError)
    assert "MSGRELAY_LEMLIST_API_KEY" in str(failure)
    assert not is_retryable(failure)


def test_the_demo_gets_a_running_emulator(make_delivery: Callable[..., Delivery]) -> None:
    """``demo_emulator("lemlist")`` starts the emulator; its settings point a destination at it and
    ``received()`` shows the lead; another type gets no answer from this plugin."""
    pm = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "lemlist"}).load()
    assert [a for a in pm.hook.demo_emulator(destination_type="hubspot") if a is not None] == []
    [started] = [a for a in pm.hook.demo_emulator(destination_type="lemlist") if a is not None]
    with started as emulator:
        with LemlistDestination.from_env(emulator.settings) as destination:
            destination.deliver(make_delivery())
        [lead] = emulator.received()
    assert lead["upscaleProspectId"] == "crm-000123"


class _Paced:
    """A plugin registering ``lemlist`` for the emulator, paced on the test's fake clock."""

    def __init__(self, running: RunningEmulator, fake_time: Any) -> None:
        settings = LemlistSettings.from_env(running.settings)
        limiter = RateLimiter(clock=fake_time, sleep=fake_time.sleep)
        self.destination = LemlistDestination(settings, client=LemlistClient(settings, limiter=limiter))

    @hookimpl
    def register_destinations(self, register: RegisterDestination) -> None:
        self.destination.register_as(register)


@pytest.fixture
def paced(
    running: RunningEmulator, fake_time: Any, register_plugin: Callable[..., str]
) -> Iterator[LemlistDestination]:
    """The harness's plugin manager delivers ``lemlist`` to the emulator."""
    plugin = _Paced(running, fake_time)
    register_plugin(plugin, name="lemlist-test")
    yield plugin.destination
    plugin.destination.close()


def _people(running: RunningEmulator) -> list[str]:
    return sorted(lead["upscaleProspectId"] for lead in running.received())


def test_relay_500_then_success_adds_each_lead_once(
    msgrelay_harness: RelayHarness, paced: LemlistDestination, running: RunningEmulator
) -> None:
    """The first add is processed by lemlist but answered 500; the relay retries, the retry finds the
    lead already in the campaign, and every lead is in lemlist once, with its texts."""
    running.emulator.fail_next(500, method="POST", body="Internal error", after_processing=True)
    report = msgrelay_harness.generate(3, destinations=["lemlist"])
    assert (report.delivered, report.dead) == (3, 0)
    assert report.retried >= 1
    assert _people(running) == ["lead-0", "lead-1", "lead-2"]
    assert all(lead["upscaleConnectionRequest"] for lead in running.received())
    assert all(lead["upscaleFirstFollowUp"] for lead in running.received())


def test_relay_429_with_retry_after_then_success(
    msgrelay_harness: RelayHarness, paced: LemlistDestination, running: RunningEmulator, fake_time: Any
) -> None:
    """lemlist answers the first add 429 with ``Retry-After: 7``: the plugin waits 7 s (on the injected
    clock) and sends it again; every lead is added once, none retried by the relay."""
    running.emulator.fail_next(429, method="POST", body="Too many requests", headers={"Retry-After": "7"})
    report = msgrelay_harness.generate(3, destinations=["lemlist"])
    assert (report.delivered, report.retried, report.dead) == (3, 0, 0)
    assert fake_time.sleeps == [7.0]
    assert _people(running) == ["lead-0", "lead-1", "lead-2"]


def _from_env(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def test_relay_auth_failure_is_dead_lettered_at_once(
    msgrelay_harness: RelayHarness,
    register_plugin: Callable[..., str],
    running: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The installed plugin with a wrong key: every delivery is dead after one attempt, its reason one
    line naming lemlist and ``MSGRELAY_LEMLIST_API_KEY``, and nothing reaches lemlist."""
    _from_env(monkeypatch, {**running.settings, "MSGRELAY_LEMLIST_API_KEY": "revoked-key-0123456789"})
    register_plugin(msgrelay_lemlist.plugin, name="lemlist")
    report = msgrelay_harness.generate(3, destinations=["lemlist"])
    assert (report.delivered, report.retried, report.dead) == (0, 0, 3)
    dead = msgrelay_harness.ledger.status()["dead_letters"]
    assert [d["attempts"] for d in dead] == [1, 1, 1]
    reason = dead[0]["last_error"]
    assert reason.startswith("AuthenticationError: 401")
    assert "lemlist" in reason
    assert "MSGRELAY_LEMLIST_API_KEY" in reason
    assert "revoked-key-0123456789" not in reason
    assert "\n" not in reason
    assert running.received() == []


def test_relay_running_campaign_adds_nothing_and_says_why(
    msgrelay_harness: RelayHarness,
    register_plugin: Callable[..., str],
    running: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A running campaign without ``MSGRELAY_LEMLIST_ALLOW_RUNNING``: nothing is added, and each dead
    letter says the campaign is running and which setting allows it."""
    running.emulator.add_campaign(running.campaign_id, status="running")
    _from_env(monkeypatch, running.settings)
    register_plugin(msgrelay_lemlist.plugin, name="lemlist")
    report = msgrelay_harness.generate(2, destinations=["lemlist"])
    assert (report.delivered, report.retried, report.dead) == (0, 0, 2)
    dead = msgrelay_harness.ledger.status()["dead_letters"]
    assert all("is running" in d["last_error"] for d in dead)
    assert all("MSGRELAY_LEMLIST_ALLOW_RUNNING=1" in d["last_error"] for d in dead)
    assert running.received() == []
    assert not [r for r in running.emulator.requests if r.method == "POST"]
