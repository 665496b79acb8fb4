"""``GET /metrics``: the relay's counters and the ledger's gauges, in Prometheus' exposition format.

The counters and histograms (deliveries by destination and outcome, delivery latency, polls, webhook
answers) are counted as the work happens (`msgrelay.relay.metrics`). The gauges (batches by state,
deliveries by destination and state, the backlog, hook errors) are read from the ledger at each
scrape by `LedgerCollector`, so they hold for every worker sharing that ledger, not only this process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from msgrelay.ledger.base import CLAIMED, PENDING, Ledger

__all__ = ["METRICS_PATH", "LedgerCollector", "metrics_app"]

METRICS_PATH = "/metrics"


class LedgerCollector(Collector):
    """Gauges read from the ledger's status at scrape time.

    Args:
        ledger: the ledger to read.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges (called by prometheus-client on each scrape)."""
        status = self.ledger.status(dead_sample=0)
        batches = GaugeMetricFamily("msgrelay_batches", "Batches in the ledger, by state", labels=["state"])
        for state, count in sorted(status["batches"].items()):
            batches.add_metric([state], count)
        yield batches
        deliveries = GaugeMetricFamily(
            "msgrelay_ledger_deliveries",
            "Deliveries in the ledger, by destination and state",
            labels=["destination", "state"],
        )
        backlog = GaugeMetricFamily(
            "msgrelay_backlog",
            "Deliveries not yet delivered nor dead (pending or claimed), by destination",
            labels=["destination"],
        )
        for destination, states in sorted(status["by_destination"].items()):
            for state, count in sorted(states.items()):
                deliveries.add_metric([destination, state], count)
            backlog.add_metric([destination], states.get(PENDING, 0) + states.get(CLAIMED, 0))
        yield deliveries
        yield backlog
        yield GaugeMetricFamily(
            "msgrelay_hook_errors", "Hook errors recorded in the ledger", value=status["hook_errors"]["count"]
        )


class _Process(Collector):
    """The default registry's collectors (the relay's counters, the process), under our registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def metrics_app(ledger: Ledger) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The WSGI app answering ``GET /metrics`` for ``ledger``.

    A registry of its own holds the ledger's gauges, so two servers in one process (tests) each read
    their own ledger; the default registry's metrics are included through it.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process())
    registry.register(LedgerCollector(ledger))
    app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]] = make_wsgi_app(registry)
    return app
