"""The SQLite ledger's submissions: generation requests recorded before they are sent, and their leads.

A submission is keyed by (account, customer, campaign, lead ids, message types) and written *before*
the POST, so a re-run returns the stored ``secure_request_id`` instead of paying twice
(`msgrelay.relay.submit.submit_once`). Every submitted lead is kept in ``submitted_leads`` so the relay
can join it back, by ``external_prospect_id``, with what the vendor generated. Once its id is known a
submission waits (``poll_state = 'waiting'``) until its batch reaches the inbox, by webhook or by poll.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Sequence

import attrs

from msgrelay.ledger.base import POLL_DONE, POLL_WAITING, Submission
from msgrelay.ledger.sqlite.base import SQLiteBase

__all__ = ["SQLiteSubmissions"]

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
#: No batch for this submission's id in the inbox yet (a webhook, or a poll, puts one there).
_NO_BATCH = (
    "NOT EXISTS (SELECT 1 FROM batches b WHERE b.source = 'upscale' AND b.batch_id = s.secure_request_id)"
)


def _row(row: Sequence[object] | None) -> Submission | None:
    return None if row is None else Submission(**dict(zip(_COLUMNS, row, strict=True)))  # type: ignore[arg-type]


class SQLiteSubmissions(SQLiteBase):
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
        with self._write() as c:
            created = c.execute(
                "INSERT OR IGNORE INTO submissions (key, customer_id, campaign_id, lead_count, message_types,"
                " secure_request_id, owner, created_at, updated_at, account, request)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                (key, customer_id, campaign_id, lead_count, message_types, owner, now, now, account, request),
            ).rowcount
            if created:
                _store_leads(c, key, leads)
        found = self.get_submission(key)
        assert found is not None
        return found, bool(created)

    def complete_submission(self, key: str, secure_request_id: str, *, now: float) -> None:
        """Store the id the vendor answered with; polling starts unless its batch is in the inbox."""
        with self._write() as c:
            c.execute(
                "UPDATE submissions SET secure_request_id = ?, updated_at = ?, poll_state = ?, polls = 0,"
                " next_poll_at = NULL WHERE key = ?",
                (secure_request_id, now, POLL_WAITING, key),
            )

    def release_submission(self, key: str) -> None:
        """Forget a submission that has no id (the POST certainly did not go through, or forced)."""
        with self._write() as c:
            c.execute("DELETE FROM submissions WHERE key = ?", (key,))
            c.execute("DELETE FROM submitted_leads WHERE submission = ?", (key,))

    def retire_submission(self, key: str) -> None:
        """Move a sent submission and its leads to a new key, so a forced resend can take the key."""
        with self._write() as c:
            row = c.execute(
                "SELECT secure_request_id, created_at FROM submissions WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return
            retired = f"{key}~{row[0] or row[1]}"
            c.execute("UPDATE submissions SET key = ? WHERE key = ?", (retired, key))
            c.execute("UPDATE submitted_leads SET submission = ? WHERE submission = ?", (retired, key))

    def get_submission(self, key: str) -> Submission | None:
        """The submission with this key, if any."""
        return _row(self._conn().execute(f"{_SELECT} WHERE key = ?", (key,)).fetchone())

    def submission_for_batch(self, secure_request_id: str) -> Submission | None:
        """The latest submission the vendor answered with this id, if msgrelay sent it."""
        return _row(
            self._conn()
            .execute(
                f"{_SELECT} WHERE secure_request_id = ? ORDER BY updated_at DESC LIMIT 1",
                (secure_request_id,),
            )
            .fetchone()
        )

    def submitted_leads(self, key: str, external_prospect_ids: Sequence[str]) -> dict[str, str]:
        """The stored payloads of these leads of a submission, by id (at most ~900 ids per query)."""
        found: dict[str, str] = {}
        conn = self._conn()
        ids = list(dict.fromkeys(external_prospect_ids))
        for start in range(0, len(ids), 900):  # under SQLite's 999-parameter floor
            part = ids[start : start + 900]
            marks = ", ".join("?" * len(part))
            found.update(
                conn.execute(
                    "SELECT external_prospect_id, payload FROM submitted_leads"
                    f" WHERE submission = ? AND external_prospect_id IN ({marks})",
                    (key, *part),
                ).fetchall()
            )
        return found

    # --- polling ---------------------------------------------------------------------------------
    def claim_polls(self, *, now: float, poll_after: float, lease: float, limit: int) -> list[Submission]:
        """Due submissions still waiting for their batch, each held for ``lease`` seconds."""
        with self._write() as c:
            # A webhook won: its batch is in the inbox, so polling stops.
            c.execute(
                "UPDATE submissions AS s SET poll_state = ?, updated_at = ?"
                f" WHERE poll_state = ? AND NOT {_NO_BATCH}",
                (POLL_DONE, now, POLL_WAITING),
            )
            rows = c.execute(
                f"{_SELECT} AS s WHERE poll_state = ? AND coalesce(next_poll_at, updated_at + ?) <= ?"
                " ORDER BY coalesce(next_poll_at, updated_at + ?) LIMIT ?",
                (POLL_WAITING, poll_after, now, poll_after, limit),
            ).fetchall()
            c.executemany(
                "UPDATE submissions SET next_poll_at = ? WHERE key = ?", [(now + lease, r[0]) for r in rows]
            )
        return [s for s in map(_row, rows) if s is not None]

    def schedule_poll(self, key: str, *, next_poll_at: float, now: float) -> None:
        """Count one more poll and set the next one."""
        with self._write() as c:
            c.execute(
                "UPDATE submissions SET polls = polls + 1, next_poll_at = ? WHERE key = ? AND poll_state = ?",
                (next_poll_at, key, POLL_WAITING),
            )

    def finish_poll(self, key: str, *, state: str, now: float) -> None:
        """Stop polling a submission (done or dead)."""
        with self._write() as c:
            c.execute(
                "UPDATE submissions SET poll_state = ?, polls = polls + 1, next_poll_at = NULL,"
                " updated_at = ? WHERE key = ?",
                (state, now, key),
            )

    def waiting_submissions(self, *, poll_after: float, limit: int = 20) -> list[Submission]:
        """Submissions waiting for their batch, soonest poll first; ``next_poll_at`` filled in."""
        rows = self._conn().execute(
            f"{_SELECT} AS s WHERE poll_state = ? AND {_NO_BATCH}"
            " ORDER BY coalesce(next_poll_at, updated_at + ?) LIMIT ?",
            (POLL_WAITING, poll_after, limit),
        )
        out = []
        for row in rows:
            found = _row(row)
            assert found is not None
            if found.next_poll_at is None:
                found = _with_next_poll(found, found.updated_at + poll_after)
            out.append(found)
        return out


def _with_next_poll(submission: Submission, when: float) -> Submission:
    return attrs.evolve(submission, next_poll_at=when)


def _store_leads(c: sqlite3.Connection, key: str, leads: Iterable[tuple[str, str]]) -> None:
    iterator = iter(leads)
    while chunk := list(itertools.islice(iterator, _LEAD_CHUNK)):
        c.executemany(
            "INSERT OR IGNORE INTO submitted_leads (submission, external_prospect_id, payload)"
            " VALUES (?, ?, ?)",
            [(key, lead_id, payload) for lead_id, payload in chunk],
        )
