"""What the relay, the receiver and `submit_once` need from a ledger: the `Ledger` interface and its rows.

Nothing here knows about SQL. `msgrelay.ledger.sqlite.SQLiteLedger` is one implementation,
`msgrelay.ledger.postgres.PostgresLedger` the second (``SELECT ... FOR UPDATE SKIP LOCKED`` for the
claims); `msgrelay.ledger.open_ledger` picks one from ``MSGRELAY_LEDGER_URL``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

import attrs

__all__ = [
    "CLAIMED",
    "DEAD",
    "DELIVERED",
    "FANNED_OUT",
    "ITEMS_PER_WRITE",
    "PENDING",
    "POLL_DEAD",
    "POLL_DONE",
    "POLL_WAITING",
    "SKIPPED",
    "BatchClaim",
    "DeliveryClaim",
    "Failure",
    "HookErrorRow",
    "LeaseClock",
    "Ledger",
    "Pruned",
    "Submission",
    "delivery_key",
    "in_chunks",
]

#: Whose time a ledger writes and compares claims' leases in: ``"database"`` (the default: the database's
#: clock, one for every worker, so a worker whose own clock runs ahead cannot take over a live claim) or
#: ``"caller"`` (each method's ``now``: tests that move time by hand). Due times (a retry's next
#: attempt) are always the caller's ``now``: a skewed clock makes its own retries early or late, but
#: never lets two workers hold one row.
LeaseClock: TypeAlias = Literal["database", "caller"]

# Row states.
PENDING = "pending"
CLAIMED = "claimed"
FANNED_OUT = "fanned_out"
DELIVERED = "delivered"
DEAD = "dead"
#: An outbox row a route chose not to deliver (``skip_empty``: the lead has no generated message).
SKIPPED = "skipped"

# Polling states of a submission (`Submission.poll_state`): waiting for its batch (polled until a
# webhook or a poll finds it complete), done (its batch is in the inbox), dead (given up).
POLL_WAITING = "waiting"
POLL_DONE = "done"
POLL_DEAD = "dead"
#: An outbox row a route chose not to deliver (``skip_empty``: the lead has no generated message).
SKIPPED = "skipped"


@attrs.frozen(kw_only=True)
class Submission:
    """A generation request as recorded before it was sent.

    ``secure_request_id`` is None while the POST is in flight, or when its outcome is unknown.
    ``account`` names the vendor account (base URL and a digest of the API key, never the key);
    ``request`` is the request's fields other than its leads, as JSON, to compare a re-run with.
    ``poll_state`` is None until the id is known, then `POLL_WAITING`, `POLL_DONE` or `POLL_DEAD`;
    ``next_poll_at`` is None before the first poll (the poller counts from ``updated_at``).
    """

    key: str
    customer_id: str
    campaign_id: str
    lead_count: int
    message_types: str
    secure_request_id: str | None
    owner: str
    created_at: float
    updated_at: float
    account: str = ""
    request: str | None = None
    poll_state: str | None = None
    next_poll_at: float | None = None
    polls: int = 0


@attrs.frozen(kw_only=True)
class BatchClaim:
    """A batch (inbox row) claimed for retrieval and fan-out."""

    source: str
    batch_id: str
    event: str | None
    destinations: tuple[str, ...] | None
    attempts: int


@attrs.frozen(kw_only=True)
class DeliveryClaim:
    """An outbox row claimed for delivery, with its item's stored payload and batch context."""

    id: int
    destination: str
    source: str
    batch_id: str
    item_id: str
    key: str
    attempts: int
    payload: str
    context: str | None


@attrs.frozen
class Failure:
    """A failed delivery: retry at ``next_attempt_at``, or dead-letter when it is None."""

    id: int
    error: str
    next_attempt_at: float | None


@attrs.frozen(kw_only=True)
class HookErrorRow:
    """A hook implementation that raised, as stored."""

    plugin: str
    hook: str
    subject: str
    error: str
    source: str = ""
    batch_id: str = ""


@attrs.frozen(kw_only=True)
class Pruned:
    """What `Ledger.prune_delivered` deleted: rows of each kind."""

    #: Deliveries (outbox rows) in state delivered.
    outbox: int
    #: Stored leads of batches with no delivery left to make.
    items: int
    #: Hook errors recorded.
    hook_errors: int

    def to_json(self) -> dict[str, int]:
        """``{"outbox": ..., "items": ..., "hook_errors": ...}``."""
        return {"outbox": self.outbox, "items": self.items, "hook_errors": self.hook_errors}


class Ledger(Protocol):
    """What the relay, the receiver and `submit_once` need from a ledger."""

    def reserve_submission(
        self,
        key: str,
        *,
        customer_id: str,
        campaign_id: str,
        lead_count: int,
        message_types: str,
        owner: str,
        now: float,
        account: str = "",
        request: str | None = None,
        leads: Iterable[tuple[str, str]] = (),
    ) -> tuple[Submission, bool]:
        """Record a submission before it is sent, unless its key exists; the row, and whether it is new.

        ``leads`` are ``(external_prospect_id, payload JSON)``, every submitted lead in full, stored
        in the same transaction as the row (only when the row is new; the first of a repeated id is
        kept). It may be a generator: a backend stores it as it goes, never holding a second copy.
        """
        ...

    def complete_submission(self, key: str, secure_request_id: str, *, now: float) -> None:
        """Store the id the vendor answered with; the submission is then polled until its batch arrives."""
        ...

    def release_submission(self, key: str) -> None:
        """Forget a submission and its leads (the POST certainly did not go through)."""
        ...

    def retire_submission(self, key: str) -> None:
        """Keep a sent submission (and its leads, for the join) under a new key: ``--force`` resends."""
        ...

    def get_submission(self, key: str) -> Submission | None:
        """The submission with this key, if any."""
        ...

    def submission_for_batch(self, secure_request_id: str) -> Submission | None:
        """The submission the vendor answered with this id, if msgrelay sent it (the latest, if several)."""
        ...

    def submitted_leads(self, key: str, external_prospect_ids: Sequence[str]) -> dict[str, str]:
        """The stored payload (JSON) of each of these leads of a submission, by id; unknown ids are absent.

        Callers ask in chunks (the relay joins a 100,000-lead batch a few hundred at a time).
        """
        ...

    def claim_polls(self, *, now: float, poll_after: float, lease: float, limit: int) -> list[Submission]:
        """Submissions waiting for their batch whose next poll is due, each held for ``lease`` seconds.

        A submission is due ``poll_after`` seconds after its id was stored, then at its
        ``next_poll_at``. One whose batch is in the inbox already (a webhook won) is marked done and
        not returned.
        """
        ...

    def schedule_poll(self, key: str, *, next_poll_at: float, now: float) -> None:
        """Record one more poll of a submission, and when to poll it next."""
        ...

    def finish_poll(self, key: str, *, state: str, now: float) -> None:
        """Stop polling a submission: `POLL_DONE` (its batch is in the inbox) or `POLL_DEAD` (given up)."""
        ...

    def waiting_submissions(self, *, poll_after: float, limit: int = 20) -> list[Submission]:
        """Submissions still waiting for their batch, soonest poll first (for ``relay --status``)."""
        ...

    def dead_letter_batch(self, source: str, batch_id: str, *, error: str, now: float) -> None:
        """Record a batch as dead with ``error`` (a poll gave up); ``--retry-dead`` re-drives it."""
        ...

    def record_event(
        self,
        source: str,
        batch_id: str,
        *,
        event: str | None,
        destinations: Sequence[str] | None,
        now: float,
        lock_timeout: float | None = None,
    ) -> bool: ...
    def add_destinations(
        self, source: str, batch_id: str, destinations: Sequence[str], *, now: float
    ) -> int: ...
    def reopen_batch(self, source: str, batch_id: str, *, now: float) -> bool: ...
    def claim_batch(
        self, owner: str, *, now: float, lease: float, source: str | None = None, batch_id: str | None = None
    ) -> BatchClaim | None: ...
    def fan_out(
        self,
        claim: BatchClaim,
        owner: str,
        *,
        context: str,
        items: Iterable[tuple[str, str]],
        destinations: Sequence[str],
        now: float,
        skipped: Collection[str] = (),
    ) -> bool:
        """Store the items and one outbox row per (destination, item), and mark the batch fanned out
        (with its destinations and context), if ``owner`` still holds the claim; True if it did.

        ``items`` is read once, `ITEMS_PER_WRITE` at a time, inside the one transaction: a caller may
        pass a generator, so a large batch is never in memory whole (`msgrelay.relay.stream`).

        The rows of items in ``skipped`` (a route's ``skip_empty``: no generated message) are written
        `SKIPPED`, never delivered, so the lead is recorded, not lost.
        """
        ...

    def fail_batch(
        self,
        claim: BatchClaim,
        owner: str,
        *,
        error: str,
        next_attempt_at: float | None,
        now: float,
        counted: bool = True,
    ) -> None:
        """Give the batch back for a retry at ``next_attempt_at``, or dead-letter it (None), if
        ``owner`` still holds the claim.

        ``counted=False`` gives back the attempt the claim added, in the same write: a retrieve that
        found the generation incomplete (202) is a wait, not a failure, and must not use up the
        batch's retries.
        """
        ...

    def stored_items(self, source: str, batch_id: str) -> set[str]: ...
    def batch_state(self, source: str, batch_id: str) -> str | None: ...
    def get_batch(self, source: str, batch_id: str) -> dict[str, Any] | None: ...

    def claim_deliveries(
        self,
        owner: str,
        *,
        now: float,
        lease: float,
        limit: int,
        source: str | None = None,
        batch_id: str | None = None,
        destination: str | None = None,
    ) -> list[DeliveryClaim]: ...
    def renew_claims(self, owner: str, ids: Sequence[int], *, now: float, lease: float) -> set[int]: ...
    def release_claims(self, owner: str, ids: Sequence[int], *, now: float) -> int:
        """Hand back claimed rows ``owner`` never delivered (it is stopping): pending, due at ``now``,
        their claim's attempt not counted. Rows it no longer holds are left alone; returns how many."""
        ...

    def note_claims(self, owner: str, ids: Sequence[int], *, error: str) -> int:
        """Set ``last_error`` on claimed rows ``owner`` still holds, leaving them claimed (a ``deliver``
        call still running past its timeout: ``relay --status`` shows why); returns how many."""
        ...

    def settle(
        self, owner: str, *, delivered: Sequence[int], failed: Sequence[Failure], now: float
    ) -> list[int]: ...
    def next_due(
        self, source: str | None = None, batch_id: str | None = None, *, now: float | None = None
    ) -> float | None:
        """When the earliest pending or claimed batch or delivery is next due, or None when none is.

        A claim's lease end is kept in the ledger's lease clock; given the caller's ``now``, it is told
        in the caller's clock, so a caller whose clock runs apart waits as long as the lease really has.
        """
        ...

    def due_destinations(self, *, now: float) -> list[str]: ...
    def release_orphans(self, *, now: float) -> int: ...
    def retry_dead(
        self, *, now: float, destination: str | None = None, key: str | None = None
    ) -> tuple[int, int]: ...

    def prune_delivered(self, *, before: float) -> Pruned:
        """Retention: delete finished rows older than ``before`` (epoch seconds); what was deleted.

        Every backend implements the same rule (``msgrelay relay --prune`` and ``serve`` with
        ``MSGRELAY_RETENTION_DAYS`` call it):

        - deliveries in state delivered whose ``delivered_at`` is before ``before``;
        - the stored leads (items) of a batch fanned out before ``before`` once none of its
          deliveries is left (a pending, claimed or dead one keeps them: it is delivered from them);
        - hook errors recorded before ``before``.

        Never a pending, claimed or dead row of any table, and never a batch's inbox row (it is
        what recognises a repeated webhook as already relayed). A backend does it atomically.
        """
        ...

    def record_hook_errors(self, rows: Sequence[HookErrorRow], *, now: float) -> None: ...
    def batch_counts(self, source: str, batch_id: str) -> dict[str, int]: ...
    def waiting(self, *, limit: int = 20) -> list[dict[str, Any]]: ...
    def status(self, *, dead_sample: int = 20) -> dict[str, Any]: ...
    def close(self) -> None: ...


def delivery_key(destination: str, source: str, batch_id: str, item_id: str) -> str:
    """The idempotency key of one delivery: the same for the same destination and item, always.

    ``d_`` and 32 hex digits of SHA-256, safe as a header value, a file name or a CRM marker.
    """
    digest = hashlib.sha256(f"{destination}\x1f{source}\x1f{batch_id}\x1f{item_id}".encode()).hexdigest()
    return "d_" + digest[:32]


T = TypeVar("T")

#: Items a ledger writes per statement group while fanning out a batch.
ITEMS_PER_WRITE = 1000


def in_chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` read once, as lists of at most ``size``, in order."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
