"""Per-key order: which deliveries of one batch must reach the receiver one after the other.

A batch is sent several requests at a time (`msgrelay_webhook.sending`), so two requests of one batch
may arrive in either order. That is harmless between different people, but not for one person: a
receiver that upserts a contact from each event would keep whichever text arrived last. So the
deliveries of a batch are split into *lanes*: deliveries that share an **order key** go in one lane,
in the order the relay handed them over, and a lane is sent one request at a time. Different lanes go
in parallel.

A delivery's order keys:

- its delivery key (``webhook-id``): the same delivery twice is never in flight twice;
- for an Upscale lead, each way a receiver may key the person (``destinations.md`` §0.2): the
  ``external_prospect_id`` (a caller's CRM id, often), the e-mail address (case-folded) and the
  canonical LinkedIn URL. Two generations for the same person, say, go in one lane, oldest first;
- a Collect message has no key besides its delivery key: each message is its own record, and carries
  its own creation time.

Sharing any one key joins two lanes, so a lane holds everything transitively connected (a lead with
the same e-mail as one and the same LinkedIn URL as another joins both).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from msgrelay import Delivery
from msgrelay_webhook.linkedin import canonical_linkedin

__all__ = ["lanes", "order_keys"]


def order_keys(delivery: Delivery) -> Iterator[str]:
    """The keys that put ``delivery`` in one lane with every other delivery sharing any of them."""
    yield "key:" + delivery.key
    lead = delivery.lead
    if lead is None:
        return
    yield "lead:" + lead.external_prospect_id
    email = lead.extra.get("email")
    if isinstance(email, str) and email.strip():
        yield "email:" + email.strip().casefold()
    try:
        linkedin = canonical_linkedin(lead.linkedin)
    except ValueError:  # a malformed URL: its own delivery fails on it, it does not order anything
        linkedin = None
    if linkedin:
        yield "linkedin:" + linkedin


def lanes(deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
    """``deliveries`` split into lanes: each in the order given, the lanes in the order of their first.

    Deliveries that share an order key (`order_keys`), directly or through others, are in one lane.
    """
    parent = list(range(len(deliveries)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, delivery in enumerate(deliveries):
        for key in order_keys(delivery):
            j = first.setdefault(key, i)
            if j != i:
                a, b = root(i), root(j)
                # The older root wins, so each lane's root is its first delivery.
                parent[max(a, b)] = min(a, b)
    grouped: dict[int, list[Delivery]] = {}
    for i, delivery in enumerate(deliveries):
        grouped.setdefault(root(i), []).append(delivery)
    return list(grouped.values())
