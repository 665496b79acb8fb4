"""Leases from one clock: a worker whose own clock runs 400 s ahead takes over no live claim.

Two workers share one ledger (an SQLite file, then a PostgreSQL schema), each on its own connections, as
two machines (or two processes) would. Each passes its own wall clock as ``now``; the ledger writes and
compares leases in the database's clock, so the fast one sees the other's 300 s lease as live.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from msgrelay.ledger import Ledger, open_ledger

LEASE = 300.0
AHEAD = 400.0


@pytest.fixture
def two_workers(ledger_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    honest, fast = open_ledger(ledger_url), open_ledger(ledger_url)
    try:
        yield honest, fast
    finally:
        honest.close()
        fast.close()


def test_a_worker_400_s_ahead_claims_no_batch_the_other_holds(two_workers: tuple[Ledger, Ledger]) -> None:
    """The fast worker takes the batch nobody holds, never the one held under a live lease."""
    honest, fast = two_workers
    now = time.time()
    honest.record_event("upscale", "held", event="{}", destinations=None, now=now)
    held = honest.claim_batch("honest", now=now, lease=LEASE, batch_id="held")
    assert held is not None
    honest.record_event("upscale", "free", event="{}", destinations=None, now=now)
    taken = fast.claim_batch("fast", now=time.time() + AHEAD, lease=LEASE)
    assert taken is not None
    assert taken.batch_id == "free"
    assert fast.claim_batch("fast", now=time.time() + AHEAD, lease=LEASE) is None
    assert honest.fan_out(held, "honest", context="{}", items=[], destinations=[], now=time.time())


def test_a_worker_400_s_ahead_claims_no_delivery_the_other_holds(two_workers: tuple[Ledger, Ledger]) -> None:
    """Deliveries held (and renewed) by one worker are neither claimed nor nudged by the fast one, and
    it waits for the lease as long as the lease really lasts; once released, they are its to take."""
    honest, fast = two_workers
    now = time.time()
    honest.record_event("upscale", "b1", event="{}", destinations=None, now=now)
    batch = honest.claim_batch("honest", now=now, lease=LEASE)
    assert batch is not None
    items = [(f"lead-{i}", orjson.dumps({"i": i}).decode()) for i in range(3)]
    assert honest.fan_out(batch, "honest", context="{}", items=items, destinations=["crm"], now=now)
    held = honest.claim_deliveries("honest", now=now, lease=LEASE, limit=10)
    assert len(held) == 3
    ahead = time.time() + AHEAD
    assert fast.claim_deliveries("fast", now=ahead, lease=LEASE, limit=10) == []
    assert fast.due_destinations(now=ahead) == []
    due = fast.next_due(now=ahead)
    assert due is not None
    assert due > ahead + LEASE / 2
    ids = [c.id for c in held]
    assert honest.renew_claims("honest", ids, now=time.time(), lease=LEASE) == set(ids)
    assert fast.claim_deliveries("fast", now=time.time() + AHEAD, lease=LEASE, limit=10) == []
    assert honest.release_claims("honest", ids, now=time.time()) == 3
    taken = fast.claim_deliveries("fast", now=time.time() + AHEAD, lease=LEASE, limit=10)
    assert sorted(c.id for c in taken) == sorted(ids)
    assert honest.settle("honest", delivered=ids, failed=[], now=time.time()) == ids  # fast's now


def test_an_ended_lease_is_taken_over_by_the_database_clock(two_workers: tuple[Ledger, Ledger]) -> None:
    """The lease still ends: a claim whose lease has run out by the database's clock is taken over by
    any worker, whatever its own clock says (here one running 400 s behind)."""
    honest, behind = two_workers
    now = time.time()
    honest.record_event("upscale", "b1", event="{}", destinations=None, now=now)
    assert honest.claim_batch("honest", now=now, lease=0.0) is not None
    taken = behind.claim_batch("behind", now=time.time() - AHEAD, lease=LEASE)
    assert taken is not None
    assert taken.batch_id == "b1"
