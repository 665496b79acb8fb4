"""Claims and their leases: a slow destination keeps its rows, and a lost claim is not recorded twice.

Time is an injected clock that only moves when a destination says a delivery took that long; a
second worker (another `Relay` on its own ledger connections) looks for due rows at a chosen moment
of the first worker's delivery, as a concurrent ``msgrelay relay --pending`` or second ``serve`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from msgrelay import Delivery, delivery_key
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import hookspecs
from msgrelay.relay import Relay, RelayReport
from msgrelay.testing import RelayHarness
from tests.helpers import FakeClock


@attrs.define
class Timed:
    """A destination whose every delivery takes ``seconds`` on the clock; ``during[n]`` runs inside call n."""

    clock: FakeClock
    seconds: float
    name: str
    during: dict[int, Callable[[], object]] = attrs.field(factory=dict)
    calls: list[Delivery] = attrs.field(factory=list)

    def deliver(self, delivery: Delivery) -> None:
        self.calls.append(delivery)
        self.clock.advance(self.seconds)
        action = self.during.pop(len(self.calls), None)
        if action is not None:
            action()

    @hookspecs.hookimpl
    def register_destinations(self, register: Callable[..., None]) -> None:
        register(self.name, self.deliver)


@attrs.define
class Workers:
    """Two relays on one ledger file and one clock; ``second`` runs only when a test makes it."""

    first: Relay
    second: Relay
    clock: FakeClock
    second_reports: list[RelayReport] = attrs.field(factory=list)

    def second_looks_for_work(self) -> None:
        self.second_reports.append(self.second.deliver_due())


@pytest.fixture
def workers(msgrelay_harness: RelayHarness) -> Iterator[Workers]:
    clock = FakeClock()
    harness = msgrelay_harness
    # Leases in the fake clock's time (each call's ``now``), so a lease ends when the test moves it on.
    first_ledger = SQLiteLedger(harness.ledger.path, lease_clock="caller")
    other_ledger = SQLiteLedger(harness.ledger.path, lease_clock="caller")
    first = Relay(ledger=first_ledger, plugins=harness.plugins, upscale=harness.client, clock=clock)
    second = Relay(ledger=other_ledger, plugins=harness.plugins, upscale=harness.client, clock=clock)
    yield Workers(first, second, clock)
    first_ledger.close()
    other_ledger.close()


def test_a_destination_slower_than_the_lease_does_not_get_the_next_group_delivered_twice(
    msgrelay_harness: RelayHarness, register_plugin: Any, workers: Workers
) -> None:
    """The reviewer's case: the first destination takes 301 s (the lease is 300 s); another worker then
    looks for due rows. The second destination's row is renewed before its group, so it goes out once."""
    slow = Timed(workers.clock, 301.0, name="slow")
    fast = Timed(workers.clock, 0.0, name="fast")
    register_plugin(slow, name="slow")
    register_plugin(fast, name="fast")
    fast.during[1] = workers.second_looks_for_work
    sid = msgrelay_harness.submit(leads=1)
    report = workers.first.relay(sid, destinations=["slow", "fast"], max_wait=0.0)
    key = delivery_key("fast", "upscale", sid, "lead-0")
    assert [(d.key, d.attempt) for d in fast.calls] == [(key, 1)]
    assert [r.delivered for r in workers.second_reports] == [0]
    assert (report.delivered, report.lost) == (2, 0)
    assert msgrelay_harness.ledger.batch_counts("upscale", sid) == {"delivered": 2}


def test_a_long_group_renews_its_lease_between_chunks(
    msgrelay_harness: RelayHarness, register_plugin: Any, workers: Workers
) -> None:
    """Forty deliveries of 10 s each to one destination outlast one 300 s lease; another worker looking
    for work 350 s in finds none, and each lead is delivered once."""
    slow = Timed(workers.clock, 10.0, name="slow")
    register_plugin(slow, name="slow")
    slow.during[35] = workers.second_looks_for_work
    sid = msgrelay_harness.submit(leads=40)
    report = workers.first.relay(sid, destinations=["slow"], max_wait=0.0)
    assert sorted(d.key for d in slow.calls) == sorted(
        delivery_key("slow", "upscale", sid, f"lead-{i}") for i in range(40)
    )
    assert {d.attempt for d in slow.calls} == {1}
    assert [r.delivered for r in workers.second_reports] == [0]
    assert (report.delivered, report.lost) == (40, 0)


def test_a_claim_lost_during_one_overlong_delivery_is_recorded_by_its_new_owner_only(
    msgrelay_harness: RelayHarness, register_plugin: Any, workers: Workers
) -> None:
    """One deliver call outlasting the whole lease cannot be protected (the key lets the destination
    drop the repeat); the worker that lost the claim does not count or record the row."""
    stuck = Timed(workers.clock, 301.0, name="stuck")
    register_plugin(stuck, name="stuck")
    stuck.during[1] = workers.second_looks_for_work
    sid = msgrelay_harness.submit(leads=1)
    report = workers.first.relay(sid, destinations=["stuck"], max_wait=0.0)
    assert [d.attempt for d in stuck.calls] == [1, 2]
    assert [(r.delivered, r.lost) for r in workers.second_reports] == [(1, 0)]
    assert (report.delivered, report.retried, report.dead, report.lost) == (0, 0, 0, 1)
    assert msgrelay_harness.ledger.batch_counts("upscale", sid) == {"delivered": 1}
