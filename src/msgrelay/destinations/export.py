"""Exports of delivered messages: one row per message, as JSON Lines or CSV.

The built-in store (`msgrelay.destinations.store`) feeds these writers; ``msgrelay relay --export``
calls them. A row is a dict with the `EXPORT_COLUMNS` keys.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import orjson

__all__ = ["EXPORT_COLUMNS", "export_csv", "export_jsonl"]

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
)


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
        writer.writerow(row)
    return count
