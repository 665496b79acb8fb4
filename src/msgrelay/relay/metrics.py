"""The relay's Prometheus counters and histograms, counted where the work happens.

They live on prometheus-client's default registry, so a host that already exposes its own metrics
shows these too; ``msgrelay serve`` exposes them at ``GET /metrics`` (`msgrelay.web.metrics`), which
adds the gauges read from the ledger at scrape time. The relay imports this module, never `web/`.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["DELIVERIES", "DELIVERY_SECONDS", "POLLS", "WEBHOOK_ANSWERS"]

#: Deliveries settled, by destination and outcome: ``delivered``, ``retry`` (failed, retried later) or
#: ``dead`` (failed for good: a dead letter).
DELIVERIES = Counter(
    "msgrelay_deliveries", "Deliveries settled, by destination and outcome", ["destination", "outcome"]
)
#: How long a destination took to take one chunk of deliveries (one ``deliver_batch`` call).
DELIVERY_SECONDS = Histogram(
    "msgrelay_delivery_seconds",
    "Seconds a destination took per delivery call (a chunk of deliveries)",
    ["destination"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
#: Retrievals of a generation by the relay, by what they found: ``complete`` or ``partial`` (a 202,
#: polled again until complete).
POLLS = Counter("msgrelay_polls", "Generations retrieved by the relay, by what was found", ["outcome"])
#: Answers the webhook receiver gave, by HTTP status.
WEBHOOK_ANSWERS = Counter("msgrelay_webhook_answers", "Webhook answers, by HTTP status", ["status"])
