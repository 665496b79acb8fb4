"""Collect messages through the same pipeline: on_message_fetched per message, one delivery each."""

from __future__ import annotations

from typing import Any

import pytest

from msgrelay import COLLECT, RelayContext, delivery_key
from msgrelay.cli import main
from msgrelay.collect import InternalMessage, NewInternalMessage
from msgrelay.destinations.store import Store
from msgrelay.plugins import hookspecs
from msgrelay.sandbox.collect_seed import SEED_REQUEST_ID
from msgrelay.testing import HookRecorder, RelayHarness
from tests.helpers import Recorder


def test_collect_messages_are_fetched_and_delivered_once_each(
    msgrelay_harness: RelayHarness, register_plugin: Any, hook_recorder: HookRecorder
) -> None:
    """Each message fires on_message_fetched (typed, lead None) and reaches each destination once;
    a later run delivers only messages added since."""

    class Observer:
        @hookspecs.hookimpl
        def on_message_fetched(self, message: Any, lead: Any, context: RelayContext) -> None:
            pass

    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    register_plugin(Observer(), name="observer")
    relay = msgrelay_harness.relay
    report = relay.relay_collect(SEED_REQUEST_ID, destinations=["recorder", "store"])
    assert (report.batches, report.messages, report.delivered) == (1, 5, 10)
    fetched = hook_recorder.of("on_message_fetched")
    assert len(fetched) == 5
    assert all(c.kwargs["lead"] is None and c.kwargs["context"].source == COLLECT for c in fetched)
    assert any(isinstance(c.kwargs["message"], InternalMessage) for c in fetched)
    assert {d.message["channel"] for d in recorder.calls if d.message} == {"email", "sms", "internal"}
    assert recorder.calls[0].lead is None
    assert recorder.calls[0].key == delivery_key(
        "recorder", COLLECT, SEED_REQUEST_ID, recorder.calls[0].item_id
    )

    assert relay.relay_collect(SEED_REQUEST_ID, destinations=["recorder", "store"]).delivered == 0
    note = NewInternalMessage(title="Agent note", text="Checked.")
    added = msgrelay_harness.collect.create_message(SEED_REQUEST_ID, note)
    again = relay.relay_collect(SEED_REQUEST_ID, destinations=["recorder", "store"])
    assert (again.messages, again.delivered) == (6, 2)
    assert len(recorder.calls) == 6
    assert recorder.calls[-1].item_id == added.id
    rows = [r for r in msgrelay_harness.store.rows() if r["source"] == COLLECT]
    assert len(rows) == 6
    assert {r["message_type"] for r in rows} == {"email", "sms", "internal"}
    assert next(r["text"] for r in rows if r["external_prospect_id"] == added.id) == "Checked."


def test_relay_collect_from_the_command_line(
    msgrelay_sandbox: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``msgrelay relay ID --collect`` relays a request's messages to the store."""
    monkeypatch.setenv("COLLECT_API_KEY", msgrelay_sandbox.collect_api_key)
    monkeypatch.setenv("COLLECT_BASE_URL", msgrelay_sandbox.collect_url)
    assert main(["relay", SEED_REQUEST_ID, "--collect"]) == 0
    out = capsys.readouterr().out
    assert '"request_id":"NxAHPWu9hRzcyD24m"' in out.replace(" ", "").replace("\n", "")
    assert Store().summary()["leads"] == 5


def test_a_collect_rerun_fires_on_message_fetched_only_for_messages_not_fanned_out_before(
    msgrelay_harness: RelayHarness, register_plugin: Any, hook_recorder: HookRecorder
) -> None:
    """Relaying the same request again fetches all its messages, but the hook fires only for new ones."""

    class Observer:
        @hookspecs.hookimpl
        def on_message_fetched(self, message: Any) -> None:
            pass

    register_plugin(Observer(), name="observer")
    relay = msgrelay_harness.relay
    relay.relay_collect(SEED_REQUEST_ID)
    assert len(hook_recorder.of("on_message_fetched")) == 5
    assert relay.relay_collect(SEED_REQUEST_ID).messages == 5
    assert len(hook_recorder.of("on_message_fetched")) == 5
    added = msgrelay_harness.collect.create_message(
        SEED_REQUEST_ID, NewInternalMessage(title="Agent note", text="Checked.")
    )
    assert relay.relay_collect(SEED_REQUEST_ID).delivered == 1
    fetched = hook_recorder.of("on_message_fetched")
    assert [c.kwargs["message"].id for c in fetched[5:]] == [added.id]
