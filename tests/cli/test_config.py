"""``--config`` and ``MSGRELAY_CONFIG`` on ``relay`` and ``serve``: a bad line exits 2 before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from msgrelay.cli import main
from msgrelay.ledger import SQLiteLedger

BAD = """
[destinations.acme-crm]
type = "webhook"
url = "https://hooks.acme.example/msgrelay"
signing_secret_env = "ACME_SIGNING_SECRET"

[[routes]]
customer = "acme"
to = ["acme-crn"]
"""


def test_relay_with_a_bad_config_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route naming an unknown destination: exit 2, one line naming file, table and key; no batch."""
    monkeypatch.setenv("MSGRELAY_LOAD_PLUGINS", "webhook")
    monkeypatch.setenv("ACME_SIGNING_SECRET", "whsec_dXBzY2FsZS10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWI=")
    path = tmp_path / "routes.toml"
    path.write_text(BAD)
    assert main(["relay", "5c0f8a2e-0000-4000-8000-000000000001", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"msgrelay: error: {path}: [[routes]] #1 to: unknown destination 'acme-crn' "
        "(known: acme-crm, store, webhook)\n"
    )
    assert SQLiteLedger().status()["batches"] == {}


def test_serve_reads_msgrelay_config_and_refuses_a_missing_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` loads ``$MSGRELAY_CONFIG`` at start: an unset secret variable exits 2 before listening."""
    monkeypatch.setenv("MSGRELAY_LOAD_PLUGINS", "webhook")
    path = tmp_path / "routes.toml"
    path.write_text(BAD)
    monkeypatch.setenv("MSGRELAY_CONFIG", str(path))
    assert main(["serve", "--port", "0", "--insecure"]) == 2
    assert capsys.readouterr().err == (
        f"msgrelay: error: {path}: [destinations.acme-crm] signing_secret_env: "
        "the variable ACME_SIGNING_SECRET is not set\n"
    )


def test_config_does_not_apply_to_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--config`` with ``--status`` is refused rather than ignored."""
    assert main(["relay", "--status", "--config", str(tmp_path / "x.toml")]) == 2
    assert "--config does not apply to --status" in capsys.readouterr().err
