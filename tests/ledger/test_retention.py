"""Retention: `Ledger.prune_delivered` removes finished rows only, never pending, claimed or dead ones;
on both backends (a real PostgreSQL started by the suite)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from msgrelay.ledger import BatchClaim, Failure, HookErrorRow, Ledger, Pruned, open_ledger

NOW = 1_000_000.0
DAY = 86_400.0


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    opened = open_ledger(ledger_url)
    try:
        yield opened
    finally:
        opened.close()


def fanned_out(ledger: Ledger, batch: str, items: int, *, now: float) -> BatchClaim:
    ledger.record_event("upscale", batch, event="{}", destinations=None, now=now)
    claim = ledger.claim_batch("owner", now=now, lease=60, batch_id=batch)
    assert claim is not None
    payloads = [
        (f"{batch}-{i}", orjson.dumps({"external_prospect_id": f"{batch}-{i}"}).decode())
        for i in range(items)
    ]
    assert ledger.fan_out(claim, "owner", context="{}", items=payloads, destinations=["store"], now=now)
    return claim


def deliver_all(ledger: Ledger, batch: str, *, now: float) -> None:
    claims = ledger.claim_deliveries("w", now=now, lease=60, limit=100, batch_id=batch)
    ledger.settle("w", delivered=[c.id for c in claims], failed=[], now=now)


def item_count(ledger: Ledger, batch: str) -> int:
    return len(ledger.stored_items("upscale", batch))


def test_only_finished_old_rows_are_pruned(ledger: Ledger) -> None:
    """Old and delivered: gone, with its batch's items. A batch with one dead, one claimed or one
    pending delivery keeps that row and every item; recent deliveries stay; the inbox rows stay."""
    old = NOW - 40 * DAY
    # "done": every delivery made 40 days ago.
    fanned_out(ledger, "done", 3, now=old)
    deliver_all(ledger, "done", now=old)
    # "dead": two delivered, one dead-lettered, 40 days ago.
    fanned_out(ledger, "dead", 3, now=old)
    a, b, c = ledger.claim_deliveries("w", now=old, lease=60, limit=10, batch_id="dead")
    ledger.settle("w", delivered=[a.id, b.id], failed=[Failure(c.id, "gone", None)], now=old)
    # "claimed": one delivered, one still claimed (a worker holds it).
    fanned_out(ledger, "claimed", 2, now=old)
    d, _held = ledger.claim_deliveries("w", now=old, lease=10 * 365 * DAY, limit=10, batch_id="claimed")
    ledger.settle("w", delivered=[d.id], failed=[], now=old)
    # "pending": never attempted.
    fanned_out(ledger, "pending", 2, now=old)
    # "recent": delivered yesterday.
    fanned_out(ledger, "recent", 2, now=NOW - DAY)
    deliver_all(ledger, "recent", now=NOW - DAY)
    ledger.record_hook_errors([HookErrorRow(plugin="p", hook="h", subject="s", error="e")], now=old)
    ledger.record_hook_errors([HookErrorRow(plugin="p", hook="h", subject="s", error="e")], now=NOW)

    pruned = ledger.prune_delivered(before=NOW - 30 * DAY)

    # Delivered 40 days ago: done's 3, dead's 2, claimed's 1.
    assert pruned == Pruned(outbox=6, items=3, hook_errors=1)
    assert ledger.batch_counts("upscale", "done") == {}
    assert item_count(ledger, "done") == 0
    assert ledger.batch_counts("upscale", "dead") == {"dead": 1}
    assert item_count(ledger, "dead") == 3  # retry-dead delivers from them
    assert ledger.batch_counts("upscale", "claimed") == {"claimed": 1}
    assert item_count(ledger, "claimed") == 2
    assert ledger.batch_counts("upscale", "pending") == {"pending": 2}
    assert item_count(ledger, "pending") == 2
    assert ledger.batch_counts("upscale", "recent") == {"delivered": 2}
    assert item_count(ledger, "recent") == 2
    # Every inbox row stays: a repeated webhook for a pruned batch is still a repeat.
    assert all(
        ledger.batch_state("upscale", b) == "fanned_out" for b in ("done", "dead", "claimed", "recent")
    )
    assert ledger.record_event("upscale", "done", event="{}", destinations=None, now=NOW) is False
    # The dead letter can still be re-driven and delivered from its item.
    assert ledger.retry_dead(now=NOW) == (0, 1)
    [revived] = ledger.claim_deliveries("w", now=NOW, lease=60, limit=10, batch_id="dead")
    assert orjson.loads(revived.payload)["external_prospect_id"] == "dead-2"
    assert ledger.prune_delivered(before=NOW - 30 * DAY) == Pruned(outbox=0, items=0, hook_errors=0)


def test_a_batch_still_being_fanned_out_keeps_its_items(ledger: Ledger) -> None:
    """A batch claimed for fan-out (no outbox rows yet) is not 'fanned out': its items stay."""
    old = NOW - 40 * DAY
    claim = fanned_out(ledger, "b1", 2, now=old)
    ledger.settle(
        "w",
        delivered=[c.id for c in ledger.claim_deliveries("w", now=old, lease=60, limit=10)],
        failed=[],
        now=old,
    )
    ledger.reopen_batch("upscale", "b1", now=old)  # a destination added: pending again
    assert claim.batch_id == "b1"
    pruned = ledger.prune_delivered(before=NOW)
    assert (pruned.outbox, pruned.items) == (2, 0)
    assert item_count(ledger, "b1") == 2
