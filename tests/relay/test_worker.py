"""The background worker: batches as they come, and the sweep on schedule however busy it is."""

from __future__ import annotations

from typing import Any

from msgrelay.destinations.delivery import UPSCALE
from msgrelay.relay import DeliveryPolicy, Relay, RelayReport, RelayWorker
from msgrelay.testing import RelayHarness, make_request
from tests.helpers import FakeClock, Recorder, wait_until

#: A retry 5 s after the first failure (the jitter is pinned to zero).
POLICY = DeliveryPolicy(backoff_base=10.0, rng=lambda: 0.0)


def generated(harness: RelayHarness, prefix: str) -> str:
    """A complete generation of one lead of its own (the sandbox answers a repeated request with the
    same id)."""
    sid = harness.client.request_generation(make_request(1, prefix=prefix)).secure_request_id
    harness.client.wait_for_completion(sid, timeout=60.0, initial_interval=0.01)
    return sid


def test_the_sweep_runs_on_schedule_under_steady_webhook_traffic(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """A webhook every 400 s and a sweep every 1,000 s: the queue is never idle for a whole interval,
    yet the sweep runs, and a failed delivery due for its retry goes out."""
    harness = msgrelay_harness
    clock = FakeClock()
    flaky = Recorder(name="flaky", fail_times=1)
    register_plugin(flaky, name="flaky")
    log: list[str] = []

    class Observed(Relay):
        def process(self, source: str, batch_id: str) -> RelayReport:
            report = super().process(source, batch_id)
            log.append(f"process {batch_id}")
            return report

        def run_pending(self, *, max_wait: float = 0.0) -> RelayReport:
            report = super().run_pending(max_wait=max_wait)
            log.append(f"sweep delivered {report.delivered}")
            return report

    def relay() -> Relay:
        return Observed(
            ledger=harness.ledger,
            plugins=harness.plugins,
            upscale=harness.client,
            destinations=["store"],
            policy=POLICY,
            clock=clock,
        )

    # A delivery that failed once and is retried 5 s later: only a sweep will pick it up.
    setup = relay()
    assert setup.relay(generated(harness, "failed"), destinations=["flaky"], max_wait=0.0).retried == 1

    def webhook(sid: str) -> None:
        # What the receiver does: store the event, then hand it to the worker.
        harness.ledger.record_event(UPSCALE, sid, event="{}", destinations=None, now=clock())
        worker.submit(UPSCALE, sid)
        wait_until(lambda: f"process {sid}" in log, what=f"processing {sid}")

    with RelayWorker(relay, sweep_interval=1000.0, clock=clock) as worker:
        wait_until(lambda: bool(log), what="the first sweep")
        for i in range(3):
            clock.advance(400.0)
            webhook(generated(harness, f"webhook-{i}"))
        # One more, with no time passing: once it is processed, any sweep due before it has run.
        webhook(marker := generated(harness, "marker"))
    sweeps = [line for line in log if line.startswith("sweep")]
    assert sweeps == ["sweep delivered 0", "sweep delivered 1"]
    assert log.index("sweep delivered 1") < log.index(f"process {marker}")
    assert [d.attempt for d in flaky.calls] == [1, 2]


def test_a_sweep_with_nothing_to_poll_logs_no_failure(msgrelay_harness: RelayHarness, caplog: Any) -> None:
    """The sweep polls submissions first: finding none due is not a failed step in the log."""
    harness = msgrelay_harness
    swept: list[int] = []

    class Observed(Relay):
        def run_pending(self, *, max_wait: float = 0.0) -> RelayReport:
            report = super().run_pending(max_wait=max_wait)
            swept.append(report.delivered)
            return report

    def relay() -> Relay:
        return Observed(ledger=harness.ledger, plugins=harness.plugins, upscale=harness.client)

    with caplog.at_level("ERROR", logger="msgrelay.relay.worker"), RelayWorker(relay, sweep_interval=3600.0):
        wait_until(lambda: bool(swept), what="the first sweep")
    assert [r.getMessage() for r in caplog.records if r.name == "msgrelay.relay.worker"] == []
