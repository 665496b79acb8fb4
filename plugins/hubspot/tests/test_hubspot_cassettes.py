"""Recorded from the emulator, replayed with record mode ``none``: the wire exchange of an upsert with a
207 and its retry, and proof that no cassette holds the token.

Re-record with ``pytest --record-mode=rewrite plugins/hubspot/tests/test_hubspot_cassettes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from msgrelay_hubspot import EMULATOR_TOKEN, HubSpotDestination, HubSpotEmulator, HubSpotSettings, RecordError
from msgrelay_hubspot.emulator import Fault, serve

from msgrelay import Delivery
from msgrelay.testing import cassettes

CASSETTES = Path(__file__).parent / "cassettes"
#: Where every recorded URL points, whichever port the emulator had.
CANONICAL = "http://hubspot.cassette"
#: What replays send to: nothing listens there, so a request missing from a cassette fails loudly.
REPLAY_BASE = "http://127.0.0.1:9/hubspot"


@pytest.fixture
def rewriter() -> cassettes.BaseRewriter:
    return cassettes.BaseRewriter()


@pytest.fixture
def vcr_config(rewriter: cassettes.BaseRewriter) -> dict[str, Any]:
    return cassettes.vcr_config(rewriter, (EMULATOR_TOKEN,))


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES / "test_hubspot_cassettes")


@pytest.fixture
def target(
    request: pytest.FixtureRequest, rewriter: cassettes.BaseRewriter
) -> Iterator[tuple[str, HubSpotEmulator | None]]:
    """The base URL to send to, and the emulator when recording (None when replaying)."""
    if (request.config.getoption("--record-mode") or "none") == "none":
        rewriter.actual_to_canonical[REPLAY_BASE] = CANONICAL
        yield REPLAY_BASE, None
        return
    emulator = HubSpotEmulator()
    with serve(emulator) as running:
        rewriter.actual_to_canonical[running.url] = CANONICAL
        yield running.url, emulator


@pytest.mark.vcr
def test_upsert_207_then_retry_replays(
    target: tuple[str, HubSpotEmulator | None], make_delivery: Callable[..., Delivery]
) -> None:
    """Three leads, the second failing in a 207, then its retry: the failures by key as recorded."""
    base, emulator = target
    if emulator is not None:
        emulator.script("upsert", Fault(207, failed=(1,)))
    settings = HubSpotSettings(token=EMULATOR_TOKEN, base_url=base, create_properties=True, notes=True)
    deliveries = [make_delivery(f"crm-{i}") for i in range(3)]
    with HubSpotDestination(settings, clock=lambda: 1768473000.0, trust_env=False) as destination:
        failures = destination.deliver_many(deliveries)
        assert list(failures) == [deliveries[1].key]
        assert isinstance(failures[deliveries[1].key], RecordError)
        assert destination.deliver_many([deliveries[1]]) == {}


def test_cassettes_exist_and_hold_no_token() -> None:
    """The recordings are there (an empty folder would make the scan vacuous) and free of the token
    and of any credential header."""
    assert list(CASSETTES.rglob("*.yaml"))
    leaks = cassettes.scan_for_secrets(CASSETTES, (EMULATOR_TOKEN,))
    assert not leaks, "credentials in cassettes:\n" + "\n".join(map(str, leaks))


def test_the_scan_finds_a_planted_token(tmp_path: Path) -> None:
    """A cassette of ours with the bearer token put back is flagged, so the scan above can fail."""
    [recorded] = list(CASSETTES.rglob("*.yaml"))[:1]
    text = recorded.read_text().replace("REDACTED", f"Bearer {EMULATOR_TOKEN}", 1)
    (tmp_path / "planted.yaml").write_text(text)
    assert cassettes.scan_for_secrets(tmp_path, (EMULATOR_TOKEN,))
