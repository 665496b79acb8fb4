"""``msgrelay collect`` against a running sandbox: JSON on stdout, exit codes, one-line errors."""

from __future__ import annotations

import argparse
import io
from typing import Any

import orjson
import pytest

from msgrelay.cli import build_parser, main
from msgrelay.collect import parse_timestamp
from msgrelay.sandbox import SANDBOX_COLLECT_KEY, Sandbox
from msgrelay.sandbox.collect import SEED_CAMPAIGN_ID, SEED_REQUEST_ID
from tests.conftest import ROOT

R = SEED_REQUEST_ID
BODY = "Hello Ada, your lease is ready to sign on the portal."


class Cli:
    """Runs ``msgrelay`` in-process and keeps its output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.err = ""

    def __call__(self, *argv: str, code: int = 0) -> Any:
        status = main(["collect", *argv])
        out, self.err = self.capsys.readouterr()
        assert status == code, self.err
        if code != 0:
            return None
        lines = out.splitlines()
        return orjson.loads(out) if len(lines) == 1 else [orjson.loads(line) for line in lines]


@pytest.fixture
def cli(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("COLLECT_BASE_URL", sandbox.collect_url)
    monkeypatch.setenv("COLLECT_API_KEY", sandbox.collect_api_key)
    return Cli(capsys)


def test_the_must_show_session(cli: Cli) -> None:
    """Create on three channels, list, filter, get, clear text, delete, then a 404 exiting 1."""
    note = cli(
        "create", R, "--channel", "internal", "--title", "Call notes", "--text", "Tenant **confirmed**."
    )
    email = cli("create", R, "--channel", "email", "--title", "Your lease is ready", "--body", BODY)
    sms = cli("create", R, "--channel", "sms", "--body", "Reminder: please sign your lease today.")
    assert [note["channel"], email["channel"], sms["channel"]] == ["internal", "email", "sms"]
    assert list(note) == ["id", "requestId", "channel", "title", "text", "createdAt", "updatedAt"]

    listed = cli("list", R)
    assert [m["id"] for m in listed[:3]] == [sms["id"], email["id"], note["id"]]
    emails = cli("list", R, "--channel", "email")
    assert {m["channel"] for m in emails} == {"email"}
    assert emails[0]["id"] == email["id"]
    assert cli("get", R, note["id"]) == note

    cleared = cli("update", R, note["id"], "--clear-text")
    assert cleared["text"] is None
    assert parse_timestamp(cleared["updatedAt"]) > parse_timestamp(note["updatedAt"])

    assert cli("delete", R, sms["id"]) == {"deleted": True}
    cli("get", R, sms["id"], code=1)
    assert cli.err.startswith("msgrelay: error: 404 not found from GET ")
    assert cli.err.count("\n") == 1


def test_a_short_email_title_exits_2_naming_title(cli: Cli, sandbox: Sandbox) -> None:
    """Refused before any request: exit 2, one line naming ``title``."""
    cli("create", R, "--channel", "email", "--title", "Hello", "--body", BODY, code=2)
    assert "title: must be at least 10 characters, got 5" in cli.err
    assert sandbox.count("POST", "/messages") == 0


def test_every_problem_in_one_line(cli: Cli) -> None:
    """SMS with a title, a short body and a bad time: three problems, one line."""
    cli("create", R, "--channel", "sms", "--title", "Hi", "--body", "short", "--send-on", "tomorrow", code=2)
    assert cli.err.count("\n") == 1
    for field in ("title:", "body:", "sendOn:"):
        assert field in cli.err


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_send_on_outside_the_range_of_dates_is_a_usage_error(cli: Cli, sandbox: Sandbox, when: str) -> None:
    """An instant before year 1 or after 9999 in UTC: exit 2 naming sendOn, not an OverflowError."""
    cli("create", R, "--channel", "sms", "--body", "Reminder: please sign.", "--send-on", when, code=2)
    assert cli.err.count("\n") == 1
    assert "sendOn:" in cli.err
    assert sandbox.count("POST", "/messages") == 0


def test_update_with_nothing_to_change_is_a_usage_error(cli: Cli) -> None:
    """No option given: exit 2 listing the options."""
    cli("update", R, "msg_x", code=2)
    assert "--clear-text" in cli.err


def test_update_with_the_channel_hint_checks_locally(cli: Cli, sandbox: Sandbox) -> None:
    """``--channel email`` makes the 10-character subject rule a local check."""
    cli("update", R, "msg_x", "--title", "Short", "--channel", "email", code=2)
    assert "title" in cli.err
    assert sandbox.count("PATCH", "/msg_x") == 0


def test_text_from_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--text -`` reads markdown from stdin."""
    monkeypatch.setattr("sys.stdin", io.StringIO("# Heading\n\nFrom a pipe.\n"))
    created = cli("create", R, "--channel", "internal", "--title", "Piped", "--text", "-")
    assert created["text"] == "# Heading\n\nFrom a pipe.\n"


def test_requests_prints_json_lines(cli: Cli) -> None:
    """One request per line with wire names, across pages; ``--status`` filters."""
    lines = cli("requests", SEED_CAMPAIGN_ID, "--page-size", "2")
    assert len(lines) == 7
    assert lines[0]["_id"] == R
    assert lines[0]["contact"]["firstName"] == "Ada"
    archived = cli("requests", SEED_CAMPAIGN_ID, "--status", "archived")
    assert archived["status"] == "archived"


def test_key_options_before_or_after_the_command(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    """``--api-key`` works on the group and on the command; a wrong one exits 1 (401)."""
    monkeypatch.delenv("COLLECT_API_KEY")
    cli("list", R, code=2)
    assert "COLLECT_API_KEY" in cli.err
    assert len(cli("list", R, "--api-key", sandbox.collect_api_key)) == 5
    status = main(["collect", "--api-key", sandbox.collect_api_key, "list", R])
    assert status == 0
    cli("--api-key", "not-the-sandbox-key-000", "list", R, code=1)
    assert "401" in cli.err
    assert "not-the-sandbox-key-000" not in cli.err


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def test_every_command_and_option_has_help() -> None:
    """The collect group, each of its commands and each option explain themselves."""
    group = _subcommands(build_parser())["collect"]
    commands = _subcommands(group)
    assert set(commands) == {"list", "get", "create", "update", "delete", "requests"}
    assert group.description
    for name, command in commands.items():
        assert command.description, f"collect {name} has no description"
        for action in command._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"collect {name} {action.option_strings[0]} has no help"
            if not action.option_strings:
                assert action.help, f"collect {name} {action.dest} has no help"


def test_the_docs_name_the_seeded_ids() -> None:
    """The ids the README uses are the sandbox's seeded ones, so the commands work as written."""
    text = (ROOT / "README.md").read_text()
    assert f"R={SEED_REQUEST_ID}" in text
    assert f"requests {SEED_CAMPAIGN_ID}" in text
    assert SANDBOX_COLLECT_KEY in text


def test_a_delete_the_api_declines_exits_1_and_says_so(cli: Cli, sandbox: Sandbox) -> None:
    """``{"deleted": false}`` is printed, and stderr says what happened (exit 1)."""
    from msgrelay.sandbox import Fault

    sandbox.inject(Fault("DELETE", "/messages/msg_x", status=200, body={"deleted": False}))
    cli("delete", R, "msg_x", code=1)
    assert cli.err == f"msgrelay: error: the API answered deleted=false for message msg_x of request {R}\n"
