"""Recorded exchanges with lemlist (from the emulator, or live with a key), replayed with record mode
``none``; no cassette holds a credential.

Re-record from the emulator: ``pytest --record-mode=rewrite plugins/lemlist/tests/test_lemlist_cassettes.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from msgrelay_lemlist import LemlistClient, LemlistDestination, LemlistSettings, RateLimiter, lead_body, serve
from msgrelay_lemlist.emulator import DEMO_CAMPAIGN_ID, EMULATOR_API_KEY

from msgrelay.testing.cassettes import REDACTED, scan_for_secrets
from msgrelay.upscale import Lead

CASSETTES = Path(__file__).parent / "cassettes"
#: Replays go here: nothing listens on port 9, so a request missing from a cassette fails loudly.
REPLAY_BASE = "http://127.0.0.1:9/api"
#: Every form of the emulator's key a cassette must never hold.
SECRETS = (EMULATOR_API_KEY, base64.b64encode(f":{EMULATOR_API_KEY}".encode()).decode())


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL: the emulator while recording, the replay address otherwise."""
    if (request.config.getoption("--record-mode") or "none") == "none":
        yield REPLAY_BASE
        return
    with serve() as running:
        request.node.stash[_ACTUAL] = running.base_url
        yield running.base_url


_ACTUAL = pytest.StashKey[str]()


@pytest.fixture
def vcr_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Rewrite the emulator's random port to the replay address; scrub the Authorization header."""

    def before_record_request(recorded: Any) -> Any:
        actual = request.node.stash.get(_ACTUAL, None)
        if actual and recorded.uri.startswith(actual):
            recorded.uri = REPLAY_BASE + recorded.uri[len(actual) :]
        return recorded

    return {
        "filter_headers": [("authorization", REDACTED)],
        "before_record_request": before_record_request,
        "match_on": ["method", "scheme", "host", "port", "path", "query"],
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """``plugins/lemlist/tests/cassettes/``."""
    return str(CASSETTES)


def _destination(base_url: str) -> LemlistDestination:
    settings = LemlistSettings(api_key=EMULATOR_API_KEY, campaign_id=DEMO_CAMPAIGN_ID, base_url=base_url)
    return LemlistDestination(settings, client=LemlistClient(settings, limiter=_no_wait()))


def _no_wait() -> RateLimiter:
    # Replays answer at once; the pacing is tested on its own (test_lemlist_pacing.py).
    return RateLimiter(clock=lambda: 0.0, sleep=lambda seconds: None, limit=1000)


@pytest.mark.vcr
def test_check_replays(target: str) -> None:
    """``check`` (``GET /team``, ``GET /campaigns/{id}``) as recorded."""
    with _destination(target) as destination:
        assert destination.check() == (
            f"lemlist: key accepted (team Emulated team), campaign {DEMO_CAMPAIGN_ID} (Emulated paused) "
            "is paused"
        )


@pytest.mark.vcr
def test_add_then_update_replays(target: str) -> None:
    """A lead added, then added again: "Lead already in the campaign" (text/plain), found, updated."""
    lead = Lead(
        external_prospect_id="crm-1",
        linkedin="https://www.linkedin.com/in/ada-example/",
        messages={"connection_request": "Hi Ada"},
        extra={"email": "ada@example.org"},
    )
    with _destination(target) as destination:
        created = destination.client.add_lead(DEMO_CAMPAIGN_ID, lead_body(lead))
        assert created is not None
        assert created["upscaleConnectionRequest"] == "Hi Ada"
        assert destination.client.add_lead(DEMO_CAMPAIGN_ID, lead_body(lead)) is None
        found = destination.client.find_lead("ada@example.org")
        assert found is not None
        destination.client.update_variables(str(found["_id"]), {"upscaleConnectionRequest": "Hello"})


def test_cassettes_exist() -> None:
    """The replayed tests have their recordings (an empty folder would make the scan vacuous)."""
    assert {p.name for p in CASSETTES.glob("*.yaml")} >= {
        "test_check_replays.yaml",
        "test_add_then_update_replays.yaml",
    }


def test_no_cassette_holds_a_secret() -> None:
    """No cassette holds the key, its Basic form, or any credential header value."""
    leaks = scan_for_secrets(CASSETTES, SECRETS)
    assert not leaks, "credentials in cassettes:\n" + "\n".join(map(str, leaks))
