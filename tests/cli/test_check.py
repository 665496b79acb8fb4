"""``msgrelay check`` against the sandbox: one line per check, a fix naming the variable, exit 1 on any
failure."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from msgrelay.cli import main
from msgrelay.cli.check import _print_readable
from msgrelay.destinations import CheckResult
from msgrelay.sandbox import Sandbox
from tests.cli.test_ledger_failures import damage


@pytest.fixture
def configured(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Both vendors pointed at the sandbox, and a webhook secret."""
    monkeypatch.setenv("UPSCALE_BASE_URL", sandbox.upscale_url)
    monkeypatch.setenv("UPSCALE_API_KEY", sandbox.upscale_api_key)
    monkeypatch.setenv("COLLECT_BASE_URL", sandbox.collect_url)
    monkeypatch.setenv("COLLECT_API_KEY", sandbox.collect_api_key)
    monkeypatch.setenv("MSGRELAY_WEBHOOK_SECRET", "a-long-random-secret")
    return sandbox


def run_check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, dict[str, Any]]]:
    code = main(["check", *argv])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, {line["check"]: line for line in lines}


def test_a_working_setup_passes_every_check(configured: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """Keys accepted, secret set, ledger and store writable: every line ok, exit 0, nothing sent."""
    code, lines = run_check(capsys)
    assert code == 0
    assert list(lines) == [
        "Upscale: API key",
        "Collect: API key",
        "serve: webhook secret",
        "ledger: writable",
        "store: writable",
    ]
    assert all(line["ok"] and line["fix"] == "" for line in lines.values())
    assert "10000 credits remaining" in lines["Upscale: API key"]["detail"]
    methods = {request.method for request in configured.app.requests}
    assert methods == {"GET"}


def test_bad_keys_fail_their_lines_with_a_fix_naming_the_variable(
    configured: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused key is a line that is not ok, its fix names the variable; the key is never printed."""
    monkeypatch.setenv("UPSCALE_API_KEY", "wrong-upscale-key-123")
    monkeypatch.setenv("COLLECT_API_KEY", "wrong-collect-key-456")
    code, lines = run_check(capsys)
    assert code == 1
    assert lines["Upscale: API key"]["ok"] is False
    assert "UPSCALE_API_KEY" in lines["Upscale: API key"]["fix"]
    assert lines["Collect: API key"]["ok"] is False
    assert "COLLECT_API_KEY" in lines["Collect: API key"]["fix"]
    assert lines["ledger: writable"]["ok"] is True
    text = json.dumps(lines)
    assert "wrong-upscale-key-123" not in text
    assert "wrong-collect-key-456" not in text


def test_an_unreachable_base_url_names_the_variable(
    configured: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening at UPSCALE_BASE_URL: the base URL line fails, naming UPSCALE_BASE_URL."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("UPSCALE_BASE_URL", f"http://127.0.0.1:{port}/api/v2")
    code, lines = run_check(capsys)
    assert code == 1
    assert lines["Upscale: base URL"]["ok"] is False
    assert "UPSCALE_BASE_URL" in lines["Upscale: base URL"]["fix"]


def test_a_missing_key_and_secret_say_what_to_set(
    configured: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Upscale key and no webhook secret: two failed lines; no Collect key means Collect is unused."""
    for name in ("UPSCALE_API_KEY", "COLLECT_API_KEY", "MSGRELAY_WEBHOOK_SECRET"):
        monkeypatch.delenv(name)
    code, lines = run_check(capsys)
    assert code == 1
    assert "UPSCALE_API_KEY" in lines["Upscale: settings"]["fix"]
    assert lines["Collect: API key"]["ok"] is True
    assert "not configured" in lines["Collect: API key"]["detail"]
    assert lines["serve: webhook secret"]["ok"] is False
    assert "MSGRELAY_WEBHOOK_SECRET" in lines["serve: webhook secret"]["fix"]


def test_a_ledger_home_that_is_not_a_directory_fails_ledger_and_store(
    configured: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """MSGRELAY_HOME pointing at a file: the ledger and the store lines fail, naming MSGRELAY_HOME."""
    home = tmp_path / "a-file"
    home.write_text("not a directory")
    monkeypatch.setenv("MSGRELAY_HOME", str(home))
    code, lines = run_check(capsys)
    assert code == 1
    for name in ("ledger: writable", "store: writable"):
        assert lines[name]["ok"] is False
        assert "MSGRELAY_HOME" in lines[name]["fix"]


def test_an_unknown_destination_is_a_usage_error(
    configured: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--to`` naming no registered destination exits 2 before any check runs."""
    assert main(["check", "--to", "nowhere"]) == 2
    assert "unknown destination 'nowhere'" in capsys.readouterr().err
    assert configured.app.requests == []


def test_the_readable_form_shows_each_fix(capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal: one line per check, the fix under a failed one, and a count."""
    _print_readable([CheckResult("a", True, "fine"), CheckResult("b", False, "refused", "set B_KEY")])
    assert capsys.readouterr().out.splitlines() == [
        "ok   a: fine",
        "FAIL b: refused",
        "     fix: set B_KEY",
        "1 ok, 1 failed",
    ]


def test_the_ledger_line_checks_the_configured_postgresql(
    configured: Sandbox,
    postgres_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With MSGRELAY_LEDGER_URL set, the ledger checked is that database (named without its password),
    not a local SQLite file."""
    monkeypatch.setenv("MSGRELAY_LEDGER_URL", postgres_url)
    _, lines = run_check(capsys)
    ledger = lines["ledger: writable"]
    assert ledger["ok"]
    assert "sqlite3" not in ledger["detail"]
    assert "127.0.0.1" in ledger["detail"]


def test_a_damaged_ledger_fails_the_ledger_line_with_its_own_fix(
    configured: Sandbox, msgrelay_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Damaged pages, which every relay command exits 1 on, fail the check too: the fix is the
    `LedgerCorruptError`'s own (restore, or .recover), not 'make MSGRELAY_HOME writable'."""
    path = msgrelay_home / "ledger.sqlite3"
    damage(path)
    code, lines = run_check(capsys)
    assert code == 1
    ledger = lines["ledger: writable"]
    assert ledger["ok"] is False
    assert f"ledger {path} is damaged" in ledger["fix"]
    assert ".recover" in ledger["fix"]


def test_a_file_that_is_not_a_database_fails_with_move_it_aside(
    configured: Sandbox, msgrelay_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    msgrelay_home.mkdir(parents=True)
    path = msgrelay_home / "ledger.sqlite3"
    path.write_bytes(b"not a ledger at all\n" * 500)
    code, lines = run_check(capsys)
    assert code == 1
    assert lines["ledger: writable"]["ok"] is False
    assert f"ledger {path} is not a SQLite database" in lines["ledger: writable"]["fix"]
    assert "move it aside" in lines["ledger: writable"]["fix"]
