"""A relay run's delivery rounds grow while they feed only fast batch destinations (issue 14)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from msgrelay.relay import RelayReport
from msgrelay.testing import RelayHarness
from tests.helpers import Recorder


def _claim_limits(harness: RelayHarness, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``limit`` of every claim the relay's ledger is asked for."""
    limits: list[int] = []
    ledger = harness.relay.ledger
    real = ledger.claim_deliveries

    def claim(*args: Any, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, "claim_deliveries", claim)
    return limits


def test_rounds_into_the_store_grow_up_to_their_cap(
    msgrelay_harness: RelayHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 leads at batch_size 2: rounds of 2, 8, 30 (capped at 32), then the empty claim; the relay's
    next pass (nothing left) starts again at 2."""
    msgrelay_harness.relay.batch_size = 2
    limits = _claim_limits(msgrelay_harness, monkeypatch)
    report = msgrelay_harness.generate(leads=40)
    assert report.delivered == 40
    assert limits == [2, 8, 32, 32, 2]  # ROUND_GROWTH 4, ROUND_GROWTH_MAX 16
    assert msgrelay_harness.store.summary()["leads"] == 40


def test_a_one_at_a_time_destination_keeps_batch_size_rounds(
    msgrelay_harness: RelayHarness, register_plugin: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round that feeds a destination one delivery at a time claims batch_size rows, every round."""
    register_plugin(Recorder(), name="recorder")
    msgrelay_harness.relay.batch_size = 3
    limits = _claim_limits(msgrelay_harness, monkeypatch)
    report = msgrelay_harness.generate(leads=9, destinations=["recorder"])
    assert report.delivered == 9
    assert limits == [3] * 5  # three full rounds, the empty claim, the next pass's empty claim


def test_a_single_round_as_a_task_runs_it_claims_batch_size(
    msgrelay_harness: RelayHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run_due` without ``grow`` (a Celery task's round) claims batch_size rows, however fast."""
    relay = msgrelay_harness.relay
    relay.batch_size = 2
    sid = msgrelay_harness.submit(leads=6)
    relay.ledger.record_event("upscale", sid, event=None, destinations=["store"], now=relay.clock())
    relay.fan_out_due()
    limits = _claim_limits(msgrelay_harness, monkeypatch)
    for _ in range(3):
        assert relay.deliverer.run_due(RelayReport(), destination="store", rounds=1) == 2
    assert limits == [2, 2, 2]
