"""``GET /metrics``: the relay's counters and the ledger's gauges in Prometheus' text format."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from msgrelay.plugins import PluginManager
from msgrelay.sandbox import Sandbox
from tests.helpers import Recorder, wait_until
from tests.serving import serving
from tests.web.test_steps_api import generate_inputs, post


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_deliveries_polls_answers_and_read_the_ledger(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager
) -> None:
    """One lead delivered to the store and dead at a down CRM shows in counters, histogram and gauges."""
    crm = Recorder(name="crm", fail_times=-1)
    msgrelay_plugins.register(crm, name="crm")
    try:
        with serving(
            monkeypatch, sandbox, msgrelay_plugins, destinations=("store", "crm"), max_attempts=2
        ) as served:
            before = scrape(served.url)
            sid = post(served, "generate", generate_inputs(served)).json()["secure_request_id"]
            wait_until(
                lambda: served.ledger.batch_counts("upscale", sid) == {"delivered": 1, "dead": 1},
                what="delivered to the store, dead at the CRM",
            )
            after = scrape(served.url)
    finally:
        msgrelay_plugins.unregister(name="crm")

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("msgrelay_deliveries_total", destination="store", outcome="delivered") == 1
    assert grew("msgrelay_deliveries_total", destination="crm", outcome="retry") == 1
    assert grew("msgrelay_deliveries_total", destination="crm", outcome="dead") == 1
    assert grew("msgrelay_delivery_seconds_count", destination="crm") == 2
    assert grew("msgrelay_webhook_answers_total", status="200") == 1
    assert grew("msgrelay_polls_total", outcome="complete") >= 1
    assert after[("msgrelay_batches", (("state", "fanned_out"),))] == 1
    assert after[("msgrelay_ledger_deliveries", (("destination", "crm"), ("state", "dead")))] == 1
    assert after[("msgrelay_backlog", (("destination", "store"),))] == 0
