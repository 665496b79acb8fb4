"""The relay against the sandbox: hooks in order, retries, dead letters, re-drives, crash resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from msgrelay import GeneratedMessage, RelayContext, delivery_key
from msgrelay.errors import ConfigurationError
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager, hookspecs
from msgrelay.relay import DeliveryPolicy, Relay
from msgrelay.testing import HookRecorder, RelayHarness
from msgrelay.upscale.models import Lead
from tests.helpers import Recorder

TYPES = ("connection_request", "first_follow_up", "hiring_activity")


def test_a_generation_reaches_the_store(msgrelay_harness: RelayHarness) -> None:
    """Every lead is delivered once to the default store, with every requested message type."""
    report = msgrelay_harness.generate(leads=4, message_types=TYPES)
    assert (report.batches, report.leads, report.delivered, report.retried, report.dead) == (1, 4, 4, 0, 0)
    rows = list(msgrelay_harness.store.rows())
    assert len(rows) == 4 * len(TYPES)
    assert {r["external_prospect_id"] for r in rows} == {f"lead-{i}" for i in range(4)}
    assert {r["message_type"] for r in rows} == set(TYPES)
    assert all(r["text"] for r in rows if r["message_type"] != "hiring_activity")


def test_hooks_fire_in_pipeline_order(
    msgrelay_harness: RelayHarness, hook_recorder: HookRecorder, register_plugin: Any
) -> None:
    """on_generation_complete once, transform_lead per lead, on_message_fetched per generated message."""

    class Observer:
        @hookspecs.hookimpl
        def on_generation_complete(self, result: Any, context: RelayContext) -> None:
            pass

        @hookspecs.hookimpl
        def transform_lead(self, lead: Lead) -> None:
            pass

        @hookspecs.hookimpl
        def on_message_fetched(self, message: GeneratedMessage, lead: Lead, context: RelayContext) -> None:
            pass

    register_plugin(Observer(), name="observer")
    msgrelay_harness.generate(leads=3)
    hooks = hook_recorder.hooks
    assert hooks == ["on_generation_complete"] + ["transform_lead"] * 3 + ["on_message_fetched"] * 6
    complete = hook_recorder.of("on_generation_complete")[0]
    assert complete.kwargs["context"].customer_id == "test-customer"
    assert complete.kwargs["context"].destinations == ("store",)
    fetched = hook_recorder.of("on_message_fetched")[0].kwargs["message"]
    assert (fetched.external_prospect_id, fetched.message_type) == ("lead-0", "connection_request")
    assert fetched.text


def test_a_batch_fanned_out_again_fires_no_hook_for_what_it_stored_before(
    msgrelay_harness: RelayHarness, hook_recorder: HookRecorder, register_plugin: Any
) -> None:
    """A batch made due again (re-run) is retrieved and fanned out again; its leads are stored already,
    so neither on_generation_complete nor on_message_fetched fires again, and nothing is redelivered."""

    class Observer:
        @hookspecs.hookimpl
        def on_generation_complete(self, result: Any) -> None:
            pass

        @hookspecs.hookimpl
        def on_message_fetched(self, message: GeneratedMessage) -> None:
            pass

    register_plugin(Observer(), name="observer")
    sid = msgrelay_harness.submit(leads=3)
    relay = msgrelay_harness.relay
    assert relay.relay(sid).delivered == 3
    assert len(hook_recorder.of("on_message_fetched")) == 6
    assert relay.ledger.reopen_batch("upscale", sid, now=relay.clock())
    again = relay.run_pending()
    assert (again.batches, again.delivered) == (1, 0)
    assert len(hook_recorder.of("on_generation_complete")) == 1
    assert len(hook_recorder.of("on_message_fetched")) == 6


@attrs.define
class Tag:
    """Adds a marker to every message text."""

    tag: str

    @hookspecs.hookimpl
    def transform_lead(self, lead: Lead) -> Lead:
        return attrs.evolve(
            lead, messages={k: None if v is None else f"{v} {self.tag}" for k, v in lead.messages.items()}
        )


def test_two_transform_plugins_compose_in_their_declared_order(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """What the store receives went through both transforms, the first registered first."""
    register_plugin(Tag("[first]"), name="first")
    register_plugin(Tag("[second]"), name="second")
    msgrelay_harness.generate(leads=2)
    texts = [r["text"] for r in msgrelay_harness.store.rows()]
    assert texts
    assert all(t.endswith(" [first] [second]") for t in texts)


def test_a_raising_hook_is_recorded_and_delivery_goes_on(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """A plugin raising in on_message_fetched costs nothing but an error row naming it and the message."""

    class Faulty:
        @hookspecs.hookimpl
        def on_message_fetched(self, message: GeneratedMessage) -> None:
            if message.external_prospect_id == "lead-1":
                raise KeyError("no such CRM contact")

    register_plugin(Faulty(), name="faulty")
    report = msgrelay_harness.generate(leads=3)
    assert report.delivered == 3
    assert report.hook_errors == 2
    recent = msgrelay_harness.relay.status()["hook_errors"]["recent"]
    assert {(e["plugin"], e["hook"], e["subject"]) for e in recent} == {
        ("faulty", "on_message_fetched", "message connection_request of lead lead-1"),
        ("faulty", "on_message_fetched", "message first_follow_up of lead lead-1"),
    }
    assert recent[0]["error"] == "KeyError: 'no such CRM contact'"


def test_a_destination_failing_twice_receives_each_lead_exactly_once(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """Retried with backoff, each delivery succeeds on its third attempt and is never made again."""
    flaky = Recorder(name="flaky", fail_times=2)
    register_plugin(flaky, name="flaky")
    report = msgrelay_harness.generate(leads=3, destinations=["flaky"])
    assert (report.delivered, report.retried, report.dead) == (3, 6, 0)
    keys = flaky.keys()
    assert len(keys) == 9
    assert {keys.count(k) for k in keys} == {3}
    assert [d.attempt for d in flaky.calls if d.key == keys[0]] == [1, 2, 3]
    succeeded = [d for d in flaky.calls if d.attempt == 3]
    assert sorted(d.lead.external_prospect_id for d in succeeded if d.lead) == ["lead-0", "lead-1", "lead-2"]
    # Nothing is left to do: a later run delivers nothing again.
    assert msgrelay_harness.relay.run_pending().delivered == 0
    assert len(flaky.calls) == 9


def test_a_destination_that_always_fails_is_dead_lettered_and_can_be_redriven(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """After the last attempt the deliveries are dead, listed in the status; retry_dead re-drives them."""
    down = Recorder(name="down", fail_times=-1)
    register_plugin(down, name="down")
    sid = msgrelay_harness.submit(leads=2)
    relay = msgrelay_harness.relay
    report = relay.relay(sid, destinations=["down", "store"], max_wait=5.0)
    assert (report.delivered, report.dead) == (2, 2)
    attempts = relay.policy.max_attempts
    assert len(down.calls) == 2 * attempts
    status = relay.status()
    assert status["by_destination"] == {"down": {"dead": 2}, "store": {"delivered": 2}}
    assert {d["key"] for d in status["dead_letters"]} == {
        delivery_key("down", "upscale", sid, f"lead-{i}") for i in range(2)
    }
    assert status["dead_letters"][0]["last_error"] == f"ConnectionError: down is down (attempt {attempts})"
    down.fail_times = 0
    revived = relay.retry_dead(max_wait=5.0)
    assert revived.delivered == 2
    assert relay.status()["by_destination"] == {"down": {"delivered": 2}, "store": {"delivered": 2}}
    assert msgrelay_harness.store.summary()["leads"] == 2


def test_relaying_the_same_id_again_delivers_nothing_twice(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """A re-run for a relayed id adds no delivery; a new destination gets only its own."""
    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    sid = msgrelay_harness.submit(leads=2)
    relay = msgrelay_harness.relay
    assert relay.relay(sid).delivered == 2
    assert relay.relay(sid).delivered == 0
    assert relay.relay(sid, destinations=["recorder"]).delivered == 2
    assert relay.relay(sid, destinations=["recorder", "store"]).delivered == 0
    assert len(recorder.calls) == 2
    assert msgrelay_harness.store.summary()["leads"] == 2


def test_an_unknown_destination_is_refused_before_anything_is_written(msgrelay_harness: RelayHarness) -> None:
    """A typo in --to fails at once, naming the registered destinations."""
    with pytest.raises(ConfigurationError, match=r"unknown destination 'hubspt' \(registered: store\)"):
        msgrelay_harness.relay.relay("5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef", destinations=["hubspt"])
    assert msgrelay_harness.ledger.get_batch("upscale", "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef") is None


def test_a_batch_the_vendor_does_not_know_is_dead_lettered_at_once(
    msgrelay_harness: RelayHarness,
) -> None:
    """A 404 from the retrieve cannot be fixed by retrying: dead on the first attempt, with the
    vendor's message, as a delivery failing the same way would be."""
    relay = msgrelay_harness.relay
    report = relay.relay("00000000-0000-4000-8000-000000000000", max_wait=5.0)
    assert report.batch_failures == 1
    [dead] = relay.status()["dead_batches"]
    assert "404" in dead["last_error"]
    assert dead["attempts"] == 1


def test_work_left_by_a_dead_worker_resumes_without_repeats(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """Rows claimed by a worker that died are released and delivered by the next run, each once."""
    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    sid = msgrelay_harness.submit(leads=5)
    ledger = msgrelay_harness.ledger
    crashed = Relay(
        ledger=ledger,
        plugins=msgrelay_harness.plugins,
        upscale=msgrelay_harness.client,
        destinations=["recorder"],
    )
    ledger.record_event("upscale", sid, event=None, destinations=["recorder"], now=crashed.clock())
    crashed.fan_out_due()
    # The "crashed" worker claims two rows and never records them; its owner names a process that is gone.
    crashed.owner = "ghost:" + crashed.owner.split(":", 1)[1]
    ledger.claim_deliveries(crashed.owner, now=crashed.clock(), lease=3600, limit=2)
    assert ledger.batch_counts("upscale", sid) == {"claimed": 2, "pending": 3}
    # Another host's claim is only released when its lease ends; a local dead process at once.
    assert msgrelay_harness.relay.run_pending().delivered == 3
    with ledger._write() as conn:
        conn.execute("UPDATE outbox SET owner = ? WHERE state = 'claimed'", (f"{_host()}:999999999:dead",))
    assert msgrelay_harness.relay.run_pending().delivered == 2
    assert sorted(recorder.keys()) == sorted(
        delivery_key("recorder", "upscale", sid, f"lead-{i}") for i in range(5)
    )


def _host() -> str:
    import socket

    return socket.gethostname()


def test_fan_out_and_delivery_can_run_in_separate_workers(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """One relay fans out, another delivers: the halves meet through the ledger."""
    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    sid = msgrelay_harness.submit(leads=3)
    ledger = msgrelay_harness.ledger
    ledger.record_event("upscale", sid, event=None, destinations=["recorder"], now=0.0)
    fanner = Relay(ledger=ledger, plugins=msgrelay_harness.plugins, upscale=msgrelay_harness.client)
    assert fanner.fan_out_due().batches == 1
    assert recorder.calls == []
    deliverer = Relay(
        ledger=SQLiteLedger(ledger.path), plugins=msgrelay_harness.plugins, policy=DeliveryPolicy()
    )
    assert deliverer.deliver_due().delivered == 3
    assert {d.context.batch_id for d in recorder.calls} == {sid}


def test_the_delivered_lead_is_the_stored_one(msgrelay_harness: RelayHarness, register_plugin: Any) -> None:
    """A retry delivers the lead exactly as transformed at fan-out, even if the transform changed since."""
    flaky = Recorder(name="flaky", fail_times=1)
    register_plugin(flaky, name="flaky")
    register_plugin(Tag("[v1]"), name="tag")
    sid = msgrelay_harness.submit(leads=1)
    relay = msgrelay_harness.relay
    relay.relay(sid, destinations=["flaky"], max_wait=0.0)
    msgrelay_harness.plugins.unregister(name="tag")
    register_plugin(Tag("[v2]"), name="tag2")
    relay.run_pending(max_wait=5.0)
    first, second = flaky.calls
    assert first.lead == second.lead
    assert first.lead is not None
    assert all(t is None or t.endswith("[v1]") for t in first.lead.messages.values())


def test_a_relay_uses_the_plugin_manager_its_host_gives_it(tmp_path: Path) -> None:
    """No global manager: the relay dispatches through the host's own."""
    mine = PluginManager(environ={}, entry_points=False).load()
    with SQLiteLedger(tmp_path / "ledger.sqlite3") as ledger:
        assert Relay(ledger=ledger, plugins=mine).plugins is mine


def test_a_setting_changed_on_the_relay_reaches_its_steps(msgrelay_harness: RelayHarness) -> None:
    """The relay's settings live in its steps: setting one through the relay changes every step using it."""
    relay = msgrelay_harness.relay
    relay.clock = lambda: 42.0
    relay.owner = "host:1:test"
    relay.destinations = ["store", "elsewhere"]
    assert relay.fan_out.clock() == relay.deliverer.clock() == 42.0
    assert relay.fan_out.owner == relay.deliverer.owner == "host:1:test"
    assert relay.fan_out.destinations == ["store", "elsewhere"]
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        relay.batch_size = 0
