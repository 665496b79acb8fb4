"""What the built-in store writes for a delivery, whichever database holds it (SQLite or PostgreSQL).

`msgrelay.destinations.store.Store` and `msgrelay.destinations.pgstore.PostgresStore` write the same
rows, built here once: a ``deliveries`` row per key, its (message type, text) pairs, and the vendor's
failure fields of each batch. A delivery the relay made from the ledger's stored lead
(`Delivery.lead_wire`) is written from that object itself, no `Lead` built (`_wire_parts`); the rows
are the same as from the built lead, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from msgrelay.destinations.delivery import Delivery
from msgrelay.destinations.export import EXPORT_COLUMNS
from msgrelay.upscale.convert import LEAD_FIELD, LEAD_KEY_KINDS, NOT_A_MESSAGE, lead_key_kind
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
        ctx, wire = d.context, d.lead_wire
        kinds: list[tuple[str, str | None]]
        if wire is not None and not d.lead_built:
            linkedin, extra, kinds = _wire_parts(wire)
        elif (lead := d.lead) is not None:
            linkedin, extra = lead.linkedin, _lead_extra(lead)
            kinds = list(lead.messages.items())
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


def _wire_parts(wire: dict[str, Any]) -> tuple[Any, str | None, list[tuple[str, str | None]]]:
    """``(linkedin, extra JSON, (message type, text) pairs)`` of a stored lead: what `_lead_extra` and
    ``lead.messages`` give for the `Lead` that ``structure_lead`` builds from it, keys in the same order."""
    messages: dict[str, str | None] = {}
    other: dict[str, Any] = {}
    for key, value in wire.items():
        kind = LEAD_KEY_KINDS.get(key) or lead_key_kind(key)
        if kind is LEAD_FIELD:
            continue
        if kind is NOT_A_MESSAGE:
            other[key] = value
        else:
            messages[kind] = value
    data: dict[str, Any] = {}
    for name in LEAD_INPUT_FIELDS:
        if value := wire.get(name):
            data[name] = value
    no_job_posts = wire.get("no_job_posts")
    if no_job_posts is not None:
        data["no_job_posts"] = no_job_posts
    nulls = [kind for kind, text in messages.items() if text is None]
    if nulls:
        data["null_messages"] = nulls
    if other:
        data["extra"] = other
    extra = orjson.dumps(data, default=str).decode() if data else None
    return wire.get("linkedin"), extra, list(messages.items())
