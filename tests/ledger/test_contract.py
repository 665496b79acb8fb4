"""The ledger contract: one suite, run against every backend (an SQLite file and a PostgreSQL schema).

Deduplicated inbox, atomic claims (threads and processes), leases, settles, orphans, dead letters,
submissions, and the schema version rule. A backend-specific test lives beside its backend
(``test_sqlite.py``, ``test_postgres.py``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from msgrelay.ledger import (
    BatchClaim,
    Failure,
    Ledger,
    Submission,
    delivery_key,
    new_owner,
    open_ledger,
    owner_is_dead,
    owner_state,
)
from msgrelay.ledger.base import ITEMS_PER_WRITE

NOW = 1_000_000.0


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    opened = open_ledger(ledger_url, lease_clock="caller")
    try:
        yield opened
    finally:
        opened.close()


def fanned_out(ledger: Ledger, items: int, destinations: list[str], batch: str = "b1") -> BatchClaim:
    """A batch recorded, claimed and fanned out with ``items`` items."""
    ledger.record_event("upscale", batch, event="{}", destinations=None, now=NOW)
    claim = ledger.claim_batch("owner", now=NOW, lease=60, batch_id=batch)
    assert claim is not None
    payloads = [
        (f"lead-{i}", orjson.dumps({"external_prospect_id": f"lead-{i}"}).decode()) for i in range(items)
    ]
    assert ledger.fan_out(claim, "owner", context="{}", items=payloads, destinations=destinations, now=NOW)
    return claim


def test_an_event_recorded_three_times_is_one_batch(ledger: Ledger) -> None:
    """The inbox deduplicates on the batch id and counts the repeats."""
    results = [
        ledger.record_event("upscale", "b1", event='{"n": 1}', destinations=None, now=NOW) for _ in range(3)
    ]
    assert results == [True, False, False]
    batch = ledger.get_batch("upscale", "b1")
    assert batch is not None
    assert (batch["state"], batch["received"]) == ("pending", 3)


def test_a_batch_is_claimed_once_until_its_lease_ends(ledger: Ledger) -> None:
    """A claimed batch is not claimable by another worker until its lease ends."""
    ledger.record_event("upscale", "b1", event=None, destinations=["store"], now=NOW)
    first = ledger.claim_batch("w1", now=NOW, lease=60)
    assert first is not None
    assert first.destinations == ("store",)
    assert ledger.claim_batch("w2", now=NOW + 59, lease=60) is None
    again = ledger.claim_batch("w2", now=NOW + 61, lease=60)
    assert again is not None
    assert again.attempts == 2
    # The first worker lost the claim, so its fan-out writes nothing.
    assert not ledger.fan_out(first, "w1", context="{}", items=[("a", "{}")], destinations=["store"], now=NOW)
    assert ledger.batch_counts("upscale", "b1") == {}


def test_fan_out_writes_one_row_per_destination_and_item_and_never_twice(ledger: Ledger) -> None:
    """Outbox rows are unique per (destination, item); adding a destination later fans out stored items."""
    fanned_out(ledger, 3, ["store", "crm"])
    assert ledger.batch_counts("upscale", "b1") == {"pending": 6}
    assert ledger.add_destinations("upscale", "b1", ["crm", "sheet"], now=NOW) == 3
    assert ledger.batch_counts("upscale", "b1") == {"pending": 9}
    claims = ledger.claim_deliveries("w", now=NOW, lease=60, limit=100)
    assert sorted({c.key for c in claims}) == sorted(
        delivery_key(d, "upscale", "b1", f"lead-{i}") for d in ("store", "crm", "sheet") for i in range(3)
    )


def test_claimed_deliveries_are_not_claimed_again(ledger: Ledger) -> None:
    """Two claims never return the same row; a settled row is never claimed again."""
    fanned_out(ledger, 10, ["store"])
    first = ledger.claim_deliveries("w1", now=NOW, lease=60, limit=6)
    second = ledger.claim_deliveries("w2", now=NOW, lease=60, limit=6)
    assert len(first) == 6
    assert len(second) == 4
    assert not {c.id for c in first} & {c.id for c in second}
    ledger.settle("w1", delivered=[c.id for c in first], failed=[], now=NOW)
    # An hour later the second claim's lease has ended: only its rows come back, never the delivered ones.
    later = ledger.claim_deliveries("w3", now=NOW + 3600, lease=60, limit=100)
    assert sorted(c.id for c in later) == sorted(c.id for c in second)


def test_failures_are_retried_then_dead_lettered_and_can_be_revived(ledger: Ledger) -> None:
    """A failure waits for its next attempt; a dead letter waits for `retry_dead`."""
    fanned_out(ledger, 2, ["store"])
    a, b = ledger.claim_deliveries("w", now=NOW, lease=60, limit=10)
    ledger.settle(
        "w", delivered=[], failed=[Failure(a.id, "503", NOW + 30), Failure(b.id, "gone", None)], now=NOW
    )
    assert ledger.batch_counts("upscale", "b1") == {"pending": 1, "dead": 1}
    assert ledger.claim_deliveries("w", now=NOW + 29, lease=60, limit=10) == []
    [retry] = ledger.claim_deliveries("w", now=NOW + 31, lease=60, limit=10)
    assert (retry.id, retry.attempts) == (a.id, 2)
    status = ledger.status()
    assert status["dead_letters"][0]["last_error"] == "gone"
    assert status["by_destination"] == {"store": {"claimed": 1, "dead": 1}}
    assert ledger.retry_dead(now=NOW + 40) == (0, 1)
    [revived] = ledger.claim_deliveries("w", now=NOW + 40, lease=60, limit=10)
    assert (revived.id, revived.attempts) == (b.id, 1)


def test_claims_of_a_dead_process_are_released_at_once(ledger: Ledger, tmp_path: Path) -> None:
    """A claim whose owner process is gone is given back without waiting for the lease."""
    fanned_out(ledger, 3, ["store"])
    child = subprocess.run(
        [sys.executable, "-c", "from msgrelay.ledger import new_owner; print(new_owner())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_owner = child.stdout.strip()
    assert owner_is_dead(dead_owner)
    assert owner_state(new_owner()) == "self"
    assert ledger.claim_deliveries(dead_owner, now=NOW, lease=3600, limit=2)
    assert ledger.release_orphans(now=NOW + 1) == 2
    assert len(ledger.claim_deliveries("w", now=NOW + 1, lease=60, limit=10)) == 3


def test_threads_never_claim_the_same_row(ledger: Ledger, ledger_url: str) -> None:
    """Eight threads with their own ledger objects claim 400 rows: each row exactly once."""
    fanned_out(ledger, 400, ["store"])
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        mine = open_ledger(ledger_url)
        try:
            while batch := mine.claim_deliveries(name, now=NOW, lease=60, limit=7):
                with lock:
                    claimed.extend(c.id for c in batch)
                mine.settle(name, delivered=[c.id for c in batch], failed=[], now=NOW)
        finally:
            mine.close()

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 400
    assert len(set(claimed)) == 400


WORKER = """
import sys
from msgrelay.ledger import open_ledger
ledger = open_ledger(sys.argv[1])
name = sys.argv[2]
while batch := ledger.claim_deliveries(name, now=1_000_000.0, lease=60, limit=5):
    with open(sys.argv[3], "a") as log:
        log.write("".join(f"{c.id}\\n" for c in batch))
    ledger.settle(name, delivered=[c.id for c in batch], failed=[], now=1_000_000.0)
"""


def test_processes_never_claim_the_same_row(ledger: Ledger, ledger_url: str, tmp_path: Path) -> None:
    """Four processes claim 300 rows from one ledger (BEGIN IMMEDIATE; SKIP LOCKED): each row exactly once."""
    fanned_out(ledger, 300, ["store"])
    log = tmp_path / "claims.log"
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, ledger_url, f"p{i}", str(log)]) for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    ids = log.read_text().split()
    assert len(ids) == 300
    assert len(set(ids)) == 300


def test_submissions_are_reserved_once(ledger: Ledger) -> None:
    """The first reservation creates the row; later ones return it, with the id once completed."""

    def reserve(owner: str) -> tuple[Submission, bool]:
        return ledger.reserve_submission(
            "s1",
            customer_id="c",
            campaign_id="k",
            lead_count=2,
            message_types="connection_request",
            owner=owner,
            now=NOW,
        )

    row, created = reserve("o")
    assert created
    assert row.secure_request_id is None
    again, created = reserve("o2")
    assert not created
    assert again.owner == "o"
    ledger.complete_submission("s1", "sid-1", now=NOW + 2)
    stored = ledger.get_submission("s1")
    assert stored is not None
    assert stored.secure_request_id == "sid-1"
    ledger.release_submission("s1")
    assert ledger.get_submission("s1") is None


def test_settle_records_only_rows_the_owner_still_holds(ledger: Ledger) -> None:
    """A worker whose lease ended and whose rows were taken over records nothing; it learns which."""
    fanned_out(ledger, 2, ["store"])
    a, b = ledger.claim_deliveries("w1", now=NOW, lease=60, limit=10)
    taken = ledger.claim_deliveries("w2", now=NOW + 61, lease=60, limit=10)
    assert {c.id for c in taken} == {a.id, b.id}
    lost = ledger.settle("w1", delivered=[a.id], failed=[Failure(b.id, "503", NOW + 90)], now=NOW + 62)
    assert sorted(lost) == sorted([a.id, b.id])
    assert ledger.batch_counts("upscale", "b1") == {"claimed": 2}
    assert ledger.settle("w2", delivered=[a.id], failed=[Failure(b.id, "503", NOW + 90)], now=NOW + 63) == []
    assert ledger.batch_counts("upscale", "b1") == {"delivered": 1, "pending": 1}


def test_a_renewed_claim_is_not_taken_over(ledger: Ledger) -> None:
    """Renewing extends the lease of rows still held; rows held by another worker are not renewed."""
    fanned_out(ledger, 3, ["store"])
    ids = [c.id for c in ledger.claim_deliveries("w1", now=NOW, lease=60, limit=2)]
    assert ledger.renew_claims("w1", ids, now=NOW + 50, lease=60) == set(ids)
    # The first lease would have ended at NOW + 60; the renewed one lasts until NOW + 110.
    [other] = ledger.claim_deliveries("w2", now=NOW + 61, lease=60, limit=10)
    assert other.id not in ids
    assert ledger.renew_claims("w2", ids, now=NOW + 62, lease=60) == set()
    # Once the renewed lease ends (w2's own lasts until NOW + 121), another worker may take them over.
    assert {c.id for c in ledger.claim_deliveries("w3", now=NOW + 111, lease=60, limit=10)} == set(ids)
    assert ledger.renew_claims("w1", ids, now=NOW + 112, lease=60) == set()


def test_claims_can_be_limited_to_one_destination(ledger: Ledger) -> None:
    """A per-destination worker claims only its destination's rows; the sweep sees which are due."""
    fanned_out(ledger, 3, ["store", "crm"])
    assert ledger.due_destinations(now=NOW) == ["crm", "store"]
    claims = ledger.claim_deliveries("w", now=NOW, lease=60, limit=100, destination="crm")
    assert sorted(c.destination for c in claims) == ["crm"] * 3
    ledger.settle("w", delivered=[c.id for c in claims], failed=[], now=NOW)
    assert ledger.due_destinations(now=NOW) == ["store"]
    assert ledger.due_destinations(now=NOW - 1) == []


def test_a_claimed_batch_carries_its_attempts_and_context_reaches_the_deliveries(ledger: Ledger) -> None:
    """Payload and batch context come back with each claimed delivery, in claim order."""
    ledger.record_event("upscale", "b1", event="{}", destinations=["store"], now=NOW)
    claim = ledger.claim_batch("o", now=NOW, lease=60)
    assert claim is not None
    assert (claim.attempts, claim.destinations) == (1, ("store",))
    assert ledger.fan_out(
        claim, "o", context='{"batch_id": "b1"}', items=[("x", '{"a": 1}'), ("y", "{}")],
        destinations=[], now=NOW,
    )  # fmt: skip
    assert ledger.batch_state("upscale", "b1") == "fanned_out"
    assert ledger.stored_items("upscale", "b1") == {"x", "y"}
    claims = ledger.claim_deliveries("w", now=NOW, lease=60, limit=10)
    assert [(c.item_id, c.payload, c.context, c.attempts) for c in claims] == [
        ("x", '{"a": 1}', '{"batch_id": "b1"}', 1),
        ("y", "{}", '{"batch_id": "b1"}', 1),
    ]
    assert ledger.next_due() == NOW + 60


def test_a_batch_given_back_uncounted_keeps_its_attempts(ledger: Ledger) -> None:
    """``fail_batch(counted=False)`` (an incomplete retrieve: a wait, not a failure) gives back the
    attempt the claim added, in the same write; a counted failure keeps it; a claim another owner
    holds is left alone."""
    ledger.record_event("upscale", "b1", event=None, destinations=None, now=NOW)
    for step in range(10):
        claim = ledger.claim_batch("o", now=NOW + step, lease=60)
        assert claim is not None
        assert claim.attempts == 1
        ledger.fail_batch(
            claim, "o", error="202", next_attempt_at=NOW + step + 1, now=NOW + step, counted=False
        )
    batch = ledger.get_batch("upscale", "b1")
    assert batch is not None
    assert (batch["state"], batch["attempts"], batch["last_error"]) == ("pending", 0, "202")
    claim = ledger.claim_batch("o", now=NOW + 10, lease=60)
    assert claim is not None
    ledger.fail_batch(claim, "o", error="503", next_attempt_at=NOW + 11, now=NOW + 10)
    again = ledger.claim_batch("o", now=NOW + 11, lease=60)
    assert again is not None
    assert again.attempts == 2
    ledger.fail_batch(
        again, "someone else", error="202", next_attempt_at=NOW + 12, now=NOW + 11, counted=False
    )
    assert (ledger.get_batch("upscale", "b1") or {})["attempts"] == 2
    assert ledger.batch_state("upscale", "b1") == "claimed"


def test_a_failed_batch_waits_then_dies_and_a_reopened_one_is_due_again(ledger: Ledger) -> None:
    """fail_batch retries or dead-letters; reopen_batch and retry_dead make a batch due again."""
    ledger.record_event("upscale", "b1", event=None, destinations=None, now=NOW)
    claim = ledger.claim_batch("o", now=NOW, lease=60)
    assert claim is not None
    ledger.fail_batch(claim, "o", error="503", next_attempt_at=NOW + 10, now=NOW)
    assert ledger.claim_batch("o", now=NOW + 9, lease=60) is None
    again = ledger.claim_batch("o", now=NOW + 10, lease=60)
    assert again is not None
    ledger.fail_batch(again, "o", error="gone", next_attempt_at=None, now=NOW + 10)
    assert ledger.status()["dead_batches"][0]["last_error"] == "gone"
    assert ledger.retry_dead(now=NOW + 20) == (1, 0)
    third = ledger.claim_batch("o", now=NOW + 20, lease=60)
    assert third is not None
    assert ledger.fan_out(third, "o", context="{}", items=[], destinations=[], now=NOW + 20)
    assert ledger.reopen_batch("upscale", "b1", now=NOW + 30)
    assert not ledger.reopen_batch("upscale", "b1", now=NOW + 30)
    assert ledger.batch_state("upscale", "b1") == "pending"


def test_hook_errors_are_counted_in_the_status(ledger: Ledger) -> None:
    """Stored hook errors show in the status, most recent first."""
    from msgrelay.ledger import HookErrorRow

    ledger.record_hook_errors(
        [HookErrorRow(plugin="p", hook="h", subject="s1", error="E1"),
         HookErrorRow(plugin="p", hook="h", subject="s2", error="E2", batch_id="b")],
        now=NOW,
    )  # fmt: skip
    errors = ledger.status()["hook_errors"]
    assert errors["count"] == 2
    assert [r["error"] for r in errors["recent"]] == ["E2", "E1"]


def _reserve(ledger: Ledger, key: str, leads: list[tuple[str, str]]) -> tuple[Submission, bool]:
    return ledger.reserve_submission(
        key,
        customer_id="c",
        campaign_id="k",
        lead_count=len(leads),
        message_types="connection_request",
        owner="o",
        now=NOW,
        account="acct",
        request='{"f": 1}',
        leads=iter(leads),
    )


def test_submitted_leads_are_kept_once_and_joined_by_id(ledger: Ledger) -> None:
    """Leads are stored with a new submission only; a repeated id keeps the first; lookups by id."""
    row, created = _reserve(ledger, "s1", [("a", '{"n": 1}'), ("b", '{"n": 2}'), ("a", '{"n": 3}')])
    assert created
    assert (row.account, row.request) == ("acct", '{"f": 1}')
    _, again = _reserve(ledger, "s1", [("a", '{"n": 9}')])
    assert not again
    assert ledger.submitted_leads("s1", ["a", "b", "zz"]) == {"a": '{"n": 1}', "b": '{"n": 2}'}
    ledger.complete_submission("s1", "sid-1", now=NOW)
    found = ledger.submission_for_batch("sid-1")
    assert found is not None
    assert found.key == "s1"
    ledger.retire_submission("s1")
    assert ledger.get_submission("s1") is None
    retired = ledger.submission_for_batch("sid-1")
    assert retired is not None
    assert ledger.submitted_leads(retired.key, ["a"]) == {"a": '{"n": 1}'}


def test_polls_are_claimed_once_until_their_lease_ends_and_stop_when_the_batch_arrives(
    ledger: Ledger,
) -> None:
    """A waiting submission is polled after poll_after, held for the lease, done once its batch is in."""
    _reserve(ledger, "s1", [])
    _reserve(ledger, "s2", [])
    ledger.complete_submission("s1", "sid-1", now=NOW)
    ledger.complete_submission("s2", "sid-2", now=NOW)
    assert ledger.claim_polls(now=NOW + 5, poll_after=10, lease=30, limit=10) == []
    first = ledger.claim_polls(now=NOW + 10, poll_after=10, lease=30, limit=10)
    assert sorted(s.key for s in first) == ["s1", "s2"]
    assert ledger.claim_polls(now=NOW + 11, poll_after=10, lease=30, limit=10) == []
    ledger.schedule_poll("s1", next_poll_at=NOW + 100, now=NOW + 12)
    assert [s.key for s in ledger.waiting_submissions(poll_after=10)] == ["s2", "s1"]
    ledger.record_event("upscale", "sid-2", event="{}", destinations=None, now=NOW + 20)
    assert ledger.claim_polls(now=NOW + 200, poll_after=10, lease=30, limit=10)[0].key == "s1"
    stored = ledger.get_submission("s2")
    assert stored is not None
    assert stored.poll_state == "done"
    ledger.finish_poll("s1", state="dead", now=NOW + 300)
    ledger.dead_letter_batch("upscale", "sid-1", error="gave up", now=NOW + 300)
    assert ledger.batch_state("upscale", "sid-1") == "dead"
    assert [w["batch_id"] for w in ledger.waiting()] == ["sid-2"]


def test_skipped_items_are_recorded_and_never_claimed(ledger: Ledger) -> None:
    """A route's skipped leads get outbox rows in the skipped state, which no claim returns."""
    ledger.record_event("upscale", "b1", event="{}", destinations=None, now=NOW)
    claim = ledger.claim_batch("o", now=NOW, lease=60)
    assert claim is not None
    items = [("a", "{}"), ("b", "{}")]
    assert ledger.fan_out(
        claim, "o", context="{}", items=items, destinations=["store"], now=NOW, skipped={"b"}
    )
    assert ledger.batch_counts("upscale", "b1") == {"pending": 1, "skipped": 1}
    assert [c.item_id for c in ledger.claim_deliveries("w", now=NOW, lease=60, limit=10)] == ["a"]


def test_released_claims_are_pending_again_with_their_attempt_given_back(ledger: Ledger) -> None:
    """A stopping worker hands back rows it claimed and never delivered: due now, attempt not counted;
    rows it no longer holds are left to their new owner."""
    fanned_out(ledger, 3, ["store"])
    a, b, c = ledger.claim_deliveries("w1", now=NOW, lease=60, limit=10)
    assert ledger.release_claims("w2", [a.id], now=NOW + 1) == 0  # not w2's to release
    assert ledger.release_claims("w1", [a.id, b.id], now=NOW + 1) == 2
    assert ledger.batch_counts("upscale", "b1") == {"claimed": 1, "pending": 2}
    again = ledger.claim_deliveries("w3", now=NOW + 1, lease=60, limit=10)
    assert {d.id for d in again} == {a.id, b.id}
    assert {d.attempts for d in again} == {c.attempts}  # the first attempt, as if never claimed


def test_a_note_on_claimed_rows_keeps_them_claimed(ledger: Ledger) -> None:
    """A worker whose call outlasts its timeout notes why on the rows it still holds, which stay claimed;
    rows it does not hold are left alone."""
    fanned_out(ledger, 2, ["store"])
    a, b = ledger.claim_deliveries("w1", now=NOW, lease=60, limit=10)
    assert ledger.note_claims("w2", [a.id], error="not w2's") == 0
    assert ledger.note_claims("w1", [a.id], error="timed out after 5 s; the call is still running") == 1
    assert ledger.batch_counts("upscale", "b1") == {"claimed": 2}
    assert ledger.settle("w1", delivered=[a.id, b.id], failed=[], now=NOW + 1) == []  # still w1's
    assert ledger.batch_counts("upscale", "b1") == {"delivered": 2}


def test_fan_out_reads_its_items_once_a_chunk_at_a_time(ledger: Ledger) -> None:
    """Items given as a generator (read once) past several write chunks all get their rows, skipped ones
    written skipped; the generator is read inside the fan-out, before it returns."""
    count = 2 * ITEMS_PER_WRITE + 7
    read: list[str] = []

    def items() -> Iterator[tuple[str, str]]:
        for i in range(count):
            read.append(f"lead-{i}")
            yield f"lead-{i}", orjson.dumps({"external_prospect_id": f"lead-{i}"}).decode()

    ledger.record_event("upscale", "big", event="{}", destinations=None, now=NOW)
    claim = ledger.claim_batch("owner", now=NOW, lease=60, batch_id="big")
    assert claim is not None
    skipped = {f"lead-{i}" for i in range(0, count, 100)}
    assert ledger.fan_out(
        claim, "owner", context="{}", items=items(), destinations=["a", "b"], now=NOW, skipped=skipped
    )
    assert len(read) == count
    assert ledger.stored_items("upscale", "big") == set(read)
    assert ledger.batch_counts("upscale", "big") == {
        "pending": 2 * (count - len(skipped)),
        "skipped": 2 * len(skipped),
    }
