"""A generation not complete yet is retrieved again later, never waited on: it holds up no other batch."""

from __future__ import annotations

from typing import Any

from msgrelay.destinations.delivery import UPSCALE
from msgrelay.relay import DeliveryPolicy, Relay, RelayWorker
from msgrelay.sandbox import Fault
from msgrelay.testing import RelayHarness, make_request
from tests.helpers import FakeClock, Recorder, wait_until

RETRIEVE = "/retrieve_messages"


def test_an_incomplete_batch_does_not_block_a_complete_one_behind_it(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """Webhooks for A (still generating) then B (complete): B is delivered while A is incomplete and
    rescheduled in the ledger; once A completes, it is delivered, once."""
    harness = msgrelay_harness
    recorder = Recorder(name="recorder")
    register_plugin(recorder, name="recorder")
    upscale = harness.sandbox.upscale
    slow = harness.client.request_generation(make_request(2, prefix="slow")).secure_request_id
    upscale.batches[slow].seconds_per_message = 1e9  # stays at 202 until the test lets it complete
    ready = harness.client.request_generation(make_request(1, prefix="ready")).secure_request_id
    harness.client.wait_for_completion(ready, timeout=60.0, initial_interval=0.01)

    def relay() -> Relay:
        return Relay(
            ledger=harness.ledger,
            plugins=harness.plugins,
            upscale=harness.client,
            destinations=["recorder"],
            policy=DeliveryPolicy(backoff_base=0.01, backoff_max=0.05),
            poll_interval=0.05,
        )

    def keys_of(sid: str) -> list[str]:
        return [d.key for d in list(recorder.calls) if d.context.batch_id == sid]

    with RelayWorker(relay, sweep_interval=0.1) as worker:
        for sid in (slow, ready):  # what the receiver does for each webhook
            harness.ledger.record_event(
                UPSCALE, sid, event="{}", destinations=None, now=harness.relay.clock()
            )
            worker.submit(UPSCALE, sid)
        wait_until(lambda: len(keys_of(ready)) == 1, timeout=30.0, what="the complete batch's delivery")
        assert keys_of(slow) == []
        waiting = harness.ledger.get_batch(UPSCALE, slow)
        assert waiting is not None
        assert waiting["state"] == "pending"
        assert "generation not complete yet (0 of 4 messages)" in waiting["last_error"]
        # Retrieved again and again meanwhile, each time rescheduled, never waited on (and never
        # counted as an attempt: a wait, not a failure).
        retrieved = harness.sandbox.count("GET", "/retrieve_messages")
        wait_until(lambda: harness.sandbox.count("GET", "/retrieve_messages") >= retrieved + 2)

        def waiting_uncounted() -> bool:
            # Read between two re-checks: while one runs, its claim holds an attempt it then gives back.
            batch = harness.ledger.get_batch(UPSCALE, slow) or {}
            return batch.get("state") == "pending" and batch.get("attempts") == 0

        wait_until(waiting_uncounted, what="the incomplete batch pending with no attempt counted")
        upscale.batches[slow].seconds_per_message = 0.0
        wait_until(lambda: len(keys_of(slow)) == 2, timeout=30.0, what="the late batch's deliveries")
        assert worker.wait_idle(30.0)
    assert sorted(keys_of(slow)) == sorted(set(keys_of(slow)))
    assert len(keys_of(ready)) == 1
    assert (harness.ledger.get_batch(UPSCALE, slow) or {})["state"] == "fanned_out"


def test_incomplete_retrieves_do_not_use_up_the_retries_a_failure_needs(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """Nine retrieves answered 202 (well inside ``wait_timeout``), then one transient failure: the
    batch is retried, not dead-lettered (the policy allows 8 attempts, and an incomplete retrieve is
    not one); once complete it is delivered, once per lead."""
    harness = msgrelay_harness
    recorder = Recorder(name="recorder")
    register_plugin(recorder, name="recorder")
    upscale = harness.sandbox.upscale
    sid = harness.client.request_generation(make_request(2, prefix="slow")).secure_request_id
    upscale.batches[sid].seconds_per_message = 1e9  # stays at 202 until the test lets it complete
    clock = FakeClock()
    relay = Relay(
        ledger=harness.ledger,
        plugins=harness.plugins,
        upscale=harness.client,
        destinations=["recorder"],
        policy=DeliveryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05),
        wait_timeout=600.0,
        clock=clock,
    )

    def batch() -> dict[str, Any]:
        return harness.ledger.get_batch(UPSCALE, sid) or {}

    def next_round() -> None:
        due = harness.ledger.next_due(UPSCALE, sid)
        assert due is not None
        clock.now = max(clock.now, due)
        relay.fan_out_due(source=UPSCALE, batch_id=sid)

    harness.ledger.record_event(UPSCALE, sid, event="{}", destinations=None, now=clock())
    try:
        for _ in range(9):
            next_round()
            assert batch()["state"] == "pending"
            assert "generation not complete yet" in batch()["last_error"]
        assert clock.now - batch()["created_at"] < 600.0
        harness.sandbox.inject(Fault("GET", RETRIEVE, status=507, body={"message": "oops"}))
        next_round()
        assert batch()["state"] == "pending", batch()["last_error"]
        assert batch()["attempts"] == 1
        upscale.batches[sid].seconds_per_message = 0.0
        next_round()
        assert batch()["state"] == "fanned_out"
        relay.deliver_due(source=UPSCALE, batch_id=sid)
    finally:
        relay.close()
    keys = [d.key for d in recorder.calls]
    assert len(keys) == 2  # one delivery per lead
    assert len(set(keys)) == 2  # each once
