"""The PostgreSQL ledger's submissions: generation requests recorded before they are sent, and their leads.

As in SQLite (`msgrelay.ledger.sqlite.submissions`): keyed by (account, customer, campaign, lead ids,
message types) and committed *before* the POST, so a re-run on any machine finds the stored id instead
of paying twice; every submitted lead is kept in ``submitted_leads`` for the join at fan-out; once its
id is known a submission waits (``poll_state = 'waiting'``) until its batch reaches the inbox. Polls
are claimed with ``FOR UPDATE SKIP LOCKED``, so two workers never poll the same submission at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import psycopg

from msgrelay.ledger.base import POLL_DONE, POLL_WAITING, Submission
from msgrelay.ledger.postgres.base import PostgresBase, q

__all__ = ["PostgresSubmissions"]

_COLUMNS = (
    "key",
    "customer_id",
    "campaign_id",
    "lead_count",
    "message_types",
    "secure_request_id",
    "owner",
    "created_at",
    "updated_at",
    "account",
    "request",
    "poll_state",
    "next_poll_at",
    "polls",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM submissions"
#: Leads stored per ``executemany`` call, so a generator of 100,000 leads is never listed whole.
_LEAD_CHUNK = 1000
_NO_BATCH = (
    "NOT EXISTS (SELECT 1 FROM batches b WHERE b.source = 'upscale' AND b.batch_id = s.secure_request_id)"
)


def _row(row: Sequence[Any] | None) -> Submission | None:
    return None if row is None else Submission(**dict(zip(_COLUMNS, row, strict=True)))


class PostgresSubmissions(PostgresBase):
    """The ``submissions`` and ``submitted_leads`` tables: the submission methods of the ledger."""

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
        """Insert the submission and its leads unless its key exists; the row, and whether it is new."""
        with self._tx() as c:
            created = c.execute(
                "INSERT INTO submissions (key, customer_id, campaign_id, lead_count, message_types,"
                " secure_request_id, owner, created_at, updated_at, account, request)"
                " VALUES (%s, %s, %s, %s, %s, NULL, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (key, customer_id, campaign_id, lead_count, message_types, owner, now, now, account, request),
            ).rowcount
            if created > 0:
                _store_leads(c, key, leads)
        found = self.get_submission(key)
        assert found is not None
        return found, created > 0

    def complete_submission(self, key: str, secure_request_id: str, *, now: float) -> None:
        """Store the id the vendor answered with; polling starts unless its batch is in the inbox."""
        with self._tx() as c:
            c.execute(
                "UPDATE submissions SET secure_request_id = %s, updated_at = %s, poll_state = %s, polls = 0,"
                " next_poll_at = NULL WHERE key = %s",
                (secure_request_id, now, POLL_WAITING, key),
            )

    def release_submission(self, key: str) -> None:
        """Forget a submission that has no id (the POST certainly did not go through, or forced)."""
        with self._tx() as c:
            c.execute("DELETE FROM submissions WHERE key = %s", (key,))
            c.execute("DELETE FROM submitted_leads WHERE submission = %s", (key,))

    def retire_submission(self, key: str) -> None:
        """Move a sent submission and its leads to a new key, so a forced resend can take the key."""
        with self._tx() as c:
            row = c.execute(
                "SELECT secure_request_id, created_at FROM submissions WHERE key = %s FOR UPDATE", (key,)
            ).fetchone()
            if row is None:
                return
            # The float as SQLite prints it, so a retired key reads the same on both backends.
            retired = f"{key}~{row[0] or row[1]}"
            c.execute("UPDATE submissions SET key = %s WHERE key = %s", (retired, key))
            c.execute("UPDATE submitted_leads SET submission = %s WHERE submission = %s", (retired, key))

    def get_submission(self, key: str) -> Submission | None:
        """The submission with this key, if any."""
        with self._tx() as c:
            return _row(c.execute(q(f"{_SELECT} WHERE key = %s"), (key,)).fetchone())

    def submission_for_batch(self, secure_request_id: str) -> Submission | None:
        """The latest submission the vendor answered with this id, if msgrelay sent it."""
        with self._tx() as c:
            return _row(
                c.execute(
                    q(f"{_SELECT} WHERE secure_request_id = %s ORDER BY updated_at DESC LIMIT 1"),
                    (secure_request_id,),
                ).fetchone()
            )

    def submitted_leads(self, key: str, external_prospect_ids: Sequence[str]) -> dict[str, str]:
        """The stored payloads of these leads of a submission, by id."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT external_prospect_id, payload FROM submitted_leads"
                " WHERE submission = %s AND external_prospect_id = ANY(%s)",
                (key, list(dict.fromkeys(external_prospect_ids))),
            ).fetchall()
        return {str(i): str(p) for i, p in rows}

    # --- polling ---------------------------------------------------------------------------------
    def claim_polls(self, *, now: float, poll_after: float, lease: float, limit: int) -> list[Submission]:
        """Due submissions still waiting for their batch, each held for ``lease`` seconds."""
        with self._tx() as c:
            # A webhook won: its batch is in the inbox, so polling stops.
            c.execute(
                q(
                    "UPDATE submissions s SET poll_state = %s, updated_at = %s"
                    f" WHERE poll_state = %s AND NOT {_NO_BATCH}"
                ),
                (POLL_DONE, now, POLL_WAITING),
            )
            rows = c.execute(
                q(
                    f"{_SELECT} s WHERE poll_state = %s AND coalesce(next_poll_at, updated_at + %s) <= %s"
                    " ORDER BY coalesce(next_poll_at, updated_at + %s) LIMIT %s FOR UPDATE SKIP LOCKED"
                ),
                (POLL_WAITING, poll_after, now, poll_after, limit),
            ).fetchall()
            if rows:
                c.execute(
                    "UPDATE submissions SET next_poll_at = %s WHERE key = ANY(%s)",
                    (now + lease, [r[0] for r in rows]),
                )
        return [s for s in map(_row, rows) if s is not None]

    def schedule_poll(self, key: str, *, next_poll_at: float, now: float) -> None:
        """Count one more poll and set the next one."""
        with self._tx() as c:
            c.execute(
                "UPDATE submissions SET polls = polls + 1, next_poll_at = %s"
                " WHERE key = %s AND poll_state = %s",
                (next_poll_at, key, POLL_WAITING),
            )

    def finish_poll(self, key: str, *, state: str, now: float) -> None:
        """Stop polling a submission (done or dead)."""
        with self._tx() as c:
            c.execute(
                "UPDATE submissions SET poll_state = %s, polls = polls + 1, next_poll_at = NULL,"
                " updated_at = %s WHERE key = %s",
                (state, now, key),
            )

    def waiting_submissions(self, *, poll_after: float, limit: int = 20) -> list[Submission]:
        """Submissions waiting for their batch, soonest poll first; ``next_poll_at`` filled in."""
        with self._tx() as c:
            rows = c.execute(
                q(
                    f"{_SELECT} s WHERE poll_state = %s AND {_NO_BATCH}"
                    " ORDER BY coalesce(next_poll_at, updated_at + %s) LIMIT %s"
                ),
                (POLL_WAITING, poll_after, limit),
            ).fetchall()
        out = []
        for row in rows:
            found = _row(row)
            assert found is not None
            if found.next_poll_at is None:
                found = attrs.evolve(found, next_poll_at=found.updated_at + poll_after)
            out.append(found)
        return out


def _store_leads(c: psycopg.Connection[Any], key: str, leads: Iterable[tuple[str, str]]) -> None:
    iterator = iter(leads)
    with c.cursor() as cur:
        while chunk := list(itertools.islice(iterator, _LEAD_CHUNK)):
            cur.executemany(
                "INSERT INTO submitted_leads (submission, external_prospect_id, payload)"
                " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(key, lead_id, payload) for lead_id, payload in chunk],
            )
