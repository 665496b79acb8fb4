"""The shapes a step's output takes for a platform: as is, one record per lead, or n8n items.

Zapier fans out the later steps of a Zap over a list of objects, and n8n runs its next node once per
item (``[{"json": {...}}]``); a generation's output holds its leads in one list, so both want that list
spread into records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FAN_OUT_KEYS", "SHAPES", "n8n_items", "records", "shape"]

#: The list in a step's output that the fan-out shape spreads into one record each.
FAN_OUT_KEYS = ("leads", "messages")
#: The names ``--format`` and ``?format=`` accept.
SHAPES = ("json", "records", "n8n")


def records(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A step's output as one record per lead (or per Collect message).

    Each record carries the output's scalar fields too (``secure_request_id``, ``request_id``), so a
    later step knows where it came from. An output with no such list is one record.
    """
    for key in FAN_OUT_KEYS:
        items = result.get(key)
        if isinstance(items, list):
            shared = {k: v for k, v in result.items() if not isinstance(v, list | dict)}
            return [{**shared, **item} for item in items]
    return [dict(result)]


def n8n_items(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """n8n's item list: one ``{"json": record}`` per record."""
    return [{"json": record} for record in records(result)]


def shape(result: Mapping[str, Any], name: str) -> Any:
    """``result`` in the shape called ``name`` (one of `SHAPES`).

    Raises:
        ValueError: for an unknown shape name.
    """
    if name == "json":
        return dict(result)
    if name == "records":
        return records(result)
    if name == "n8n":
        return n8n_items(result)
    raise ValueError(f"unknown format {name!r}; known: {', '.join(SHAPES)}")
