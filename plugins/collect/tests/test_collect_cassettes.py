"""Replayed from cassettes recorded from the sandbox: the requests the destination makes, in order,
and no cassette holding a key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from msgrelay_collect import CollectDestination, CollectSettings

from msgrelay import Delivery
from msgrelay.sandbox import SEED_REQUEST_ID
from msgrelay.testing.cassettes import scan_for_secrets


def _destination(target: tuple[str, str], now: float, **values: object) -> CollectDestination:
    base_url, api_key = target
    settings = CollectSettings(
        api_key=api_key,
        base_url=base_url,
        request_id=SEED_REQUEST_ID,
        **values,  # type: ignore[arg-type]
    )
    return CollectDestination(settings, clock=lambda: now, trust_env=False)


@pytest.mark.vcr
def test_two_leads_then_a_redelivery(
    collect_target: tuple[str, str], make_delivery: Callable[..., Delivery], now: float
) -> None:
    """One list, two notes; delivering both again lists once more and creates nothing."""
    deliveries = [make_delivery("crm-1"), make_delivery("crm-2")]
    with _destination(collect_target, now) as destination:
        assert destination.deliver_many(deliveries) == {}
        assert (
            destination.deliver_many([make_delivery("crm-1", attempt=2), make_delivery("crm-2", attempt=2)])
            == {}
        )


@pytest.mark.vcr
def test_sms_schedules_one_message_per_text(
    collect_target: tuple[str, str], make_delivery: Callable[..., Delivery], now: float
) -> None:
    """SMS: one list, then one POST per non-null text."""
    with _destination(collect_target, now, channel="sms", send_after=600) as destination:
        destination.deliver(make_delivery())


def test_cassettes_exist(cassettes_dir: Path) -> None:
    """The replayed tests have their recordings (an empty folder would make the scan vacuous)."""
    assert len(list(cassettes_dir.rglob("*.yaml"))) >= 2


def test_no_cassette_holds_a_secret(cassettes_dir: Path, known_secrets: tuple[str, ...]) -> None:
    """No cassette holds the sandbox key or a credential header value."""
    leaks = scan_for_secrets(cassettes_dir, known_secrets)
    assert not leaks, "credentials in cassettes:\n" + "\n".join(map(str, leaks))


def test_the_scan_finds_a_planted_key(tmp_path: Path, known_secrets: tuple[str, ...]) -> None:
    """The scan itself fails on a planted key and a Basic auth header (so it can fail)."""
    (tmp_path / "a.yaml").write_text(f"body: {known_secrets[0]}\n")
    (tmp_path / "b.yaml").write_text("    Authorization:\n    - Basic OnNrLWxpdmUtMTIzNDU2Nzg5\n")
    assert {leak.path.name for leak in scan_for_secrets(tmp_path, known_secrets)} == {"a.yaml", "b.yaml"}
