"""Leases kept alive during slow calls, outcomes recorded as they come, and a clean stop (issue 10, 7 and 13).

These run in real time: the lease heartbeat is a thread, as in production.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import attrs

from msgrelay import Delivery, delivery_key
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import hookspecs
from msgrelay.relay import DeliveryPolicy, Relay
from msgrelay.testing import RelayHarness


@attrs.define
class Slow:
    """A destination where every ``every``-th call takes ``seconds`` (real time); ``during[n]`` runs in
    call n."""

    seconds: float
    every: int
    during: dict[int, Callable[[], object]] = attrs.field(factory=dict)
    calls: list[Delivery] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def deliver(self, delivery: Delivery) -> None:
        with self._lock:
            self.calls.append(delivery)
            n = len(self.calls)
        if self.every and n % self.every == 0:
            threading.Event().wait(self.seconds)  # a slow CRM, not a synchronisation
        action = self.during.pop(n, None)
        if action is not None:
            action()

    @hookspecs.hookimpl
    def register_destinations(self, register: Callable[..., None]) -> None:
        register("slow", self.deliver)


def test_three_workers_with_a_short_lease_never_deliver_a_slow_key_twice(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """The reporter's case: a 1 s lease and deliveries taking 1.5 s, three workers at once; the heartbeat
    keeps each slow row's lease, so every key reaches ``deliver`` exactly once."""
    harness = msgrelay_harness
    slow = Slow(seconds=1.5, every=4)
    register_plugin(slow, name="slow")
    sid = harness.submit(leads=12)
    policy = DeliveryPolicy(lease=1.0)
    ledgers = [SQLiteLedger(harness.ledger.path) for _ in range(3)]
    relays = [
        Relay(ledger=ledger, plugins=harness.plugins, upscale=harness.client, policy=policy, batch_size=4)
        for ledger in ledgers
    ]
    relays[0].ledger.record_event("upscale", sid, event=None, destinations=["slow"], now=relays[0].clock())
    assert relays[0].fan_out_due().batches == 1
    threads = [threading.Thread(target=r.run_pending) for r in relays]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for r, ledger in zip(relays, ledgers, strict=True):
            r.close()
            ledger.close()
    keys = [d.key for d in slow.calls]
    assert sorted(keys) == sorted(delivery_key("slow", "upscale", sid, f"lead-{i}") for i in range(12))
    assert harness.ledger.batch_counts("upscale", sid) == {"delivered": 12}


def test_a_stop_during_a_chunk_records_what_was_delivered_and_releases_the_rest(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """Stopped (SIGTERM's effect) in the 5th of 20 deliveries: that call finishes and is recorded, the
    other 15 are pending again at once, their attempt not counted; the next run delivers only them."""
    harness = msgrelay_harness
    slow = Slow(seconds=0.0, every=0)
    register_plugin(slow, name="slow")
    sid = harness.submit(leads=20)
    relay = Relay(ledger=harness.ledger, plugins=harness.plugins, upscale=harness.client)
    slow.during[5] = relay.stop
    report = relay.relay(sid, destinations=["slow"], max_wait=0.0)
    assert (report.delivered, report.released) == (5, 15)
    assert harness.ledger.batch_counts("upscale", sid) == {"delivered": 5, "pending": 15}
    again = Relay(ledger=harness.ledger, plugins=harness.plugins, upscale=harness.client)
    assert again.run_pending().delivered == 15
    keys = [d.key for d in slow.calls]
    assert sorted(keys) == sorted(delivery_key("slow", "upscale", sid, f"lead-{i}") for i in range(20))
    assert {d.attempt for d in slow.calls} == {1}
    relay.close()
    again.close()


def test_outcomes_are_recorded_in_small_groups_during_a_chunk(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """Inside the first chunk of 16, the 12th call finds the first ten recorded already: a crash there
    would repeat at most the last small group, not the whole chunk."""
    harness = msgrelay_harness
    slow = Slow(seconds=0.0, every=0)
    register_plugin(slow, name="slow")
    sid = harness.submit(leads=16)
    seen: list[dict[str, int]] = []
    slow.during[12] = lambda: seen.append(harness.ledger.batch_counts("upscale", sid))
    relay = Relay(ledger=harness.ledger, plugins=harness.plugins, upscale=harness.client)
    assert relay.relay(sid, destinations=["slow"], max_wait=0.0).delivered == 16
    relay.close()
    assert seen[0]["delivered"] >= 10
