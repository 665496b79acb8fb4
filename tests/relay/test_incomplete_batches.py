"""A generation not complete yet is retrieved again later, never waited on: it holds up no other batch."""

from __future__ import annotations

from typing import Any

from msgrelay.destinations.delivery import UPSCALE
from msgrelay.relay import DeliveryPolicy, Relay, RelayWorker
from msgrelay.testing import RelayHarness, make_request
from tests.helpers import Recorder, wait_until


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
        # Retrieved again and again meanwhile, each time rescheduled, never waited on.
        wait_until(lambda: (harness.ledger.get_batch(UPSCALE, slow) or {}).get("attempts", 0) >= 2)
        upscale.batches[slow].seconds_per_message = 0.0
        wait_until(lambda: len(keys_of(slow)) == 2, timeout=30.0, what="the late batch's deliveries")
        assert worker.wait_idle(30.0)
    assert sorted(keys_of(slow)) == sorted(set(keys_of(slow)))
    assert len(keys_of(ready)) == 1
    assert (harness.ledger.get_batch(UPSCALE, slow) or {})["state"] == "fanned_out"
