"""Exports of delivered messages: one row per message, as JSON Lines or CSV.

The built-in store (`msgrelay.destinations.store`) feeds these writers; ``msgrelay relay --export``
calls them. A row is a dict with the `EXPORT_COLUMNS` keys.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import orjson

__all__ = ["EXPORT_COLUMNS", "export_csv", "export_jsonl", "export_row"]

#: One exported row per message, in this column order.
EXPORT_COLUMNS = (
    "delivered_at",
    "source",
    "batch_id",
    "customer_id",
    "campaign_id",
    "external_prospect_id",
    "linkedin",
    "message_type",
    "text",
    "key",
    # The lead as submitted, joined back (empty for a batch msgrelay did not submit).
    "first_name",
    "lead_company",
    "lead_specified_url",
    "lead_company_website_url",
    "extra",
    # What the vendor said about failures: per lead, then for the batch.
    "no_job_posts",
    "null_messages",
    "status_message",
    "failed_messages_reason",
    "requested_message_count",
    "generated_message_count",
    "failed_messages_count",
)
_LEAD_COLUMNS = (
    "first_name",
    "lead_company",
    "lead_specified_url",
    "lead_company_website_url",
    "no_job_posts",
)
_BATCH_COLUMNS = EXPORT_COLUMNS[-5:]


def export_row(
    stored: Mapping[str, Any], *, lead: Mapping[str, Any], failures: Mapping[str, Any]
) -> dict[str, Any]:
    """One export row: the stored message's columns, the lead's joined fields and the batch's failures.

    Args:
        stored: the first ten `EXPORT_COLUMNS` (the delivery and the message).
        lead: the stored lead fields (named fields, ``no_job_posts``, ``null_messages``, ``extra``).
        failures: the batch's `RelayContext.failures`.
    """
    row = dict(stored)
    for name in _LEAD_COLUMNS:
        row[name] = lead.get(name)
    row["extra"] = lead.get("extra") or {}
    row["null_messages"] = lead.get("null_messages") or []
    for name in _BATCH_COLUMNS:
        row[name] = failures.get(name)
    return row


def export_jsonl(rows: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """Write one JSON object per row; returns how many."""
    count = 0
    for count, row in enumerate(rows, start=1):  # noqa: B007 - the count is the result
        out.write(orjson.dumps(row).decode() + "\n")
    return count


def export_csv(rows: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """Write a CSV file with a header row (`EXPORT_COLUMNS`); returns the data rows written."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for count, row in enumerate(rows, start=1):  # noqa: B007 - the count is the result
        # A cell holds text: the lead's other columns and the null types as JSON.
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return count


def _cell(value: Any) -> Any:
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else value
