"""No cassette holds a credential; the scanner that proves it can itself fail."""

from __future__ import annotations

from pathlib import Path

from msgrelay.testing.cassettes import scan_for_secrets
from tests.conftest import CASSETTES, KNOWN_SECRETS


def test_cassettes_exist_for_both_apis() -> None:
    """The replayed suites have their recordings (an empty folder would make the scan vacuous)."""
    assert list((CASSETTES / "upscale").rglob("*.yaml"))
    assert list((CASSETTES / "collect").rglob("*.yaml"))


def test_no_cassette_holds_a_secret() -> None:
    """Every cassette is free of API keys, auth headers and notify-URL tokens."""
    leaks = scan_for_secrets(CASSETTES, KNOWN_SECRETS)
    assert not leaks, "credentials in cassettes:\n" + "\n".join(map(str, leaks))


def test_the_scanner_finds_a_planted_key(tmp_path: Path) -> None:
    """A known key, an Api-Key header value, a Basic auth header and a token are each flagged."""
    (tmp_path / "a.yaml").write_text(f"body: {KNOWN_SECRETS[0]}\n")
    (tmp_path / "b.yaml").write_text("headers:\n  Api-Key:\n  - live-key-abcdef0123456789\n")
    (tmp_path / "c.yaml").write_text("    Authorization:\n    - Basic OnNrLWxpdmUtMTIzNDU2Nzg5\n")
    (tmp_path / "d.yaml").write_text("uri: https://h/hook?token=abcdef0123456789\n")
    (tmp_path / "e.yaml").write_text("    Api-Key:\n    - REDACTED\nuri: https://h/hook?token=REDACTED\n")
    flagged = {leak.path.name for leak in scan_for_secrets(tmp_path, KNOWN_SECRETS)}
    assert flagged == {"a.yaml", "b.yaml", "c.yaml", "d.yaml"}
