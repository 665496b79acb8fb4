"""What the built-in store writes for a delivery, whichever database holds it (SQLite or PostgreSQL).

`msgrelay.destinations.store.Store` and `msgrelay.destinations.pgstore.PostgresStore` write the same
rows, built here once: a ``deliveries`` row per key, its (message type, text) pairs, and the vendor's
failure fields of each batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from msgrelay.destinations.delivery import Delivery
from msgrelay.destinations.export import EXPORT_COLUMNS
from msgrelay.upscale.models import LEAD_INPUT_FIELDS, Lead

__all__ = ["STORED_COLUMNS", "Texts", "batch_failures", "loads", "store_rows"]

#: The columns read from the deliveries and messages tables, before the lead's and batch's fields.
STORED_COLUMNS = EXPORT_COLUMNS[:10]

#: Each stored key's (message type, text) pairs.
Texts = list[tuple[str, list[tuple[str, str | None]]]]


def store_rows(deliveries: Sequence[Delivery], now: float) -> tuple[list[tuple[Any, ...]], Texts]:
    """The ``deliveries`` rows (distinct keys, in order) and each key's (message type, text) pairs."""
    rows: list[tuple[Any, ...]] = []
    texts: Texts = []
    seen: set[str] = set()
    for d in deliveries:
        if d.key in seen:
            continue  # a repeat within the batch: dropped, as the first one's row holds the key
        seen.add(d.key)
        ctx, lead = d.context, d.lead
        if lead is not None:
            linkedin, extra = lead.linkedin, _lead_extra(lead)
            kinds: list[tuple[str, str | None]] = list(lead.messages.items())
        else:
            body = d.message or {}
            text = body.get("body") or body.get("text") or body.get("message")
            linkedin, extra = None, orjson.dumps(body, default=str).decode()
            kinds = [(str(body.get("channel") or "message"), None if text is None else str(text))]
        rows.append(
            (d.key, d.destination, ctx.source, ctx.batch_id, d.item_id, ctx.customer_id,
             ctx.campaign_id, linkedin, extra, now)
        )  # fmt: skip
        texts.append((d.key, kinds))
    return rows, texts


def batch_failures(deliveries: Sequence[Delivery]) -> list[tuple[str, str, str]]:
    """``(source, batch_id, failures JSON)`` for each batch among ``deliveries``."""
    contexts = {(d.context.source, d.context.batch_id): d.context for d in deliveries}
    return [(s, b, orjson.dumps(c.failures()).decode()) for (s, b), c in contexts.items()]


def loads(text: str | None) -> dict[str, Any]:
    """A stored JSON object, or ``{}`` for none."""
    value = orjson.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def _lead_extra(lead: Lead) -> str | None:
    """The lead's keys beyond id, LinkedIn URL and messages (as JSON), or None when it has none.

    The submitted fields joined back (`LEAD_INPUT_FIELDS`), the notice and which messages are null
    sit beside the other columns under ``extra``.
    """
    data: dict[str, Any] = {name: getattr(lead, name) for name in LEAD_INPUT_FIELDS if getattr(lead, name)}
    if lead.no_job_posts is not None:
        data["no_job_posts"] = lead.no_job_posts
    if lead.null_messages:
        data["null_messages"] = list(lead.null_messages)
    if lead.extra:
        data["extra"] = lead.extra
    return orjson.dumps(data, default=str).decode() if data else None
