"""``msgrelay upscale``, ``sandbox`` and ``demo`` as a user runs them."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgrelay.cli import build_parser, main
from msgrelay.sandbox import Fault, Sandbox

LEADS_CSV = (
    "external_prospect_id,linkedin,first_name,lead_company,job_title\n"
    "c-1,https://www.linkedin.com/in/c1,Cleo,Acme,CTO\n"
    "c-2,https://www.linkedin.com/in/c2,Dev,Quiet Labs,CEO\n"
    "c-3,https://www.linkedin.com/in/c3,Eve,Globex,VP\n"
)


def generate_args(leads: Path, *extra: str) -> list[str]:
    return [
        "upscale",
        "generate",
        "--leads",
        str(leads),
        "--customer-id",
        "cust",
        "--campaign-id",
        "camp",
        "--campaign-name",
        "CLI campaign",
        "--company-name",
        "Ledgerly",
        "--company-url",
        "https://ledgerly.example.com",
        "--sequence",
        "connection_request,first_follow_up,hiring_activity",
        "--hiring-location",
        "United Kingdom",
        "--notify-url",
        "http://127.0.0.1:9/hook",
        *extra,
    ]


@pytest.fixture
def leads_file(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV)
    return path


@pytest.fixture
def env_sandbox(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox, with UPSCALE_API_KEY / UPSCALE_BASE_URL pointing at it."""
    monkeypatch.setenv("UPSCALE_API_KEY", sandbox.upscale_api_key)
    monkeypatch.setenv("UPSCALE_BASE_URL", sandbox.upscale_url)
    return sandbox


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``msgrelay sandbox --port 0`` in its own process; yields the URLs and keys it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "msgrelay", "sandbox", "--port", "0", "--seconds-per-message", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        yield info
    finally:
        process.terminate()
        process.wait(10)


def test_generate_wait_against_a_sandbox_process(sandbox_process: dict[str, str], leads_file: Path) -> None:
    """One JSON line per lead with every requested type; a failed hiring message is null, no_job_posts."""
    env = {
        **os.environ,
        "UPSCALE_BASE_URL": sandbox_process["upscale_base_url"],
        "UPSCALE_API_KEY": sandbox_process["upscale_api_key"],
    }
    done = subprocess.run(
        [sys.executable, "-m", "msgrelay", *generate_args(leads_file, "--wait", "--poll-interval", "0.05")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["external_prospect_id"] for line in lines] == ["c-1", "c-2", "c-3"]
    for line in lines:
        assert set(line) == {"external_prospect_id", "linkedin", "messages", "null_messages", "no_job_posts"}
        assert list(line["messages"]) == ["connection_request", "first_follow_up", "hiring_activity"]
    quiet = lines[1]
    assert quiet["messages"]["hiring_activity"] is None
    assert quiet["no_job_posts"] is True
    assert all(text for line in (lines[0], lines[2]) for text in line["messages"].values())


def test_generate_prints_the_ticket(
    env_sandbox: Sandbox, leads_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --wait, the secure_request_id is printed as JSON."""
    assert main(generate_args(leads_file)) == 0
    ticket = json.loads(capsys.readouterr().out)
    assert set(ticket) == {"secure_request_id"}
    assert ticket["secure_request_id"] in env_sandbox.upscale.batches


def test_bad_input_exits_2_with_one_line_and_sends_nothing(
    env_sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Problems in the file and options are reported together, on one stderr line, before any request."""
    leads = tmp_path / "leads.csv"
    leads.write_text("external_prospect_id,linkedin,first_name,lead_company\nx,ftp://nope,,Acme\n")
    args = generate_args(leads)
    args[args.index("--company-url") + 1] = "ledgerly.example.com"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for path in ("proposition_company_url", "lead_data[0].linkedin", "lead_data[0].first_name"):
        assert path in err
    assert env_sandbox.app.requests == []


def test_a_missing_leads_file_exits_2(
    env_sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable file is bad input, named."""
    assert main(generate_args(tmp_path / "absent.csv")) == 2
    assert "absent.csv" in capsys.readouterr().err


def test_api_failures_exit_1_naming_status_and_message(
    env_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 401 exits 1 with the status and the vendor's words."""
    monkeypatch.setenv("UPSCALE_API_KEY", "wrong-key")
    assert main(["upscale", "credits"]) == 1
    assert "401" in (err := capsys.readouterr().err)
    assert "Invalid API key" in err


def test_a_missing_key_says_how_to_fix_it(capsys: pytest.CaptureFixture[str]) -> None:
    """No key at all is a configuration error (exit 2) that names the variable."""
    assert main(["upscale", "credits"]) == 2
    assert "UPSCALE_API_KEY" in capsys.readouterr().err


def test_retrieve_exits_0_on_a_partial_result(
    env_sandbox: Sandbox, leads_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """202 is a result: printed with wire names, exit 0."""
    env_sandbox.upscale.seconds_per_message = 60.0
    main(generate_args(leads_file))
    request_id = json.loads(capsys.readouterr().out)["secure_request_id"]
    assert main(["upscale", "retrieve", request_id]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["metadata"]["generation_status"] == "in_progress"
    assert body["campaign"]["message_sequence"][0] == {"step": 1, "messageType": "connection_request"}
    assert body["campaign"]["leads_data"][0]["outreach_message"] is None


def test_wait_times_out_with_exit_1(
    env_sandbox: Sandbox, leads_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wait that runs out of time says how far generation got."""
    env_sandbox.upscale.seconds_per_message = 60.0
    main(generate_args(leads_file))
    request_id = json.loads(capsys.readouterr().out)["secure_request_id"]
    assert main(["upscale", "wait", request_id, "--timeout", "0.2", "--poll-interval", "0.05"]) == 1
    assert "not complete after 0.2 s" in capsys.readouterr().err


def test_wait_prints_lead_lines(
    env_sandbox: Sandbox, leads_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``upscale wait ID`` prints one line per lead once complete."""
    main(generate_args(leads_file))
    request_id = json.loads(capsys.readouterr().out)["secure_request_id"]
    assert main(["upscale", "wait", request_id, "--poll-interval", "0.01"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_credits_and_sequences(env_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """Both print JSON with wire names."""
    assert main(["upscale", "credits"]) == 0
    assert json.loads(capsys.readouterr().out)["remaining_credits"] == 10_000
    assert main(["upscale", "sequences", "--sequence-length", "long", "--saturated-markets", "true"]) == 0
    [template] = json.loads(capsys.readouterr().out)
    assert template["steps"][0]["messageType"] == "connection_request"


def test_a_retried_rate_limit_is_invisible_to_the_user(
    env_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 with a short Retry-After is waited out by the CLI too."""
    env_sandbox.inject(Fault("GET", "/account/check_credits", status=429, headers={"Retry-After": "0.05"}))
    assert main(["upscale", "credits"]) == 0
    assert env_sandbox.count("GET", "/account/check_credits") == 2


def test_demo_prints_messages_for_the_sample_leads(capsys: pytest.CaptureFixture[str]) -> None:
    """``msgrelay demo`` runs with nothing configured: every message, then the summary."""
    assert main(["demo", "--seconds-per-message", "0.001"]) == 0
    *messages, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(messages) == 20  # 5 sample leads x 4 message types
    assert [m["external_prospect_id"] for m in messages if m["text"] is None] == ["demo-0003"]
    assert (summary["leads"], summary["delivered"], summary["failed"]) == (5, 5, 0)
    assert summary["messages_generated"] == 19
    assert Path(summary["store"]).is_file()


def _all_parsers(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, (*prefix, name))


def test_every_command_and_option_has_help() -> None:
    """No command or option is undocumented in --help."""
    missing = []
    for path, parser in _all_parsers(build_parser()):
        if path and not parser.description:
            missing.append(" ".join(path))
        missing.extend(
            f"{' '.join(path)} {action.option_strings[0]}"
            for action in parser._actions
            if action.option_strings and not action.help and action.dest != "help"
        )
    assert not missing


def test_demo_renders_for_a_person_on_a_terminal() -> None:
    """On a terminal the demo groups messages by lead, marks the null ones, and ends with the summary."""
    import io

    from msgrelay.cli.demo import render

    rows: list[dict[str, Any]] = [
        {
            "external_prospect_id": "a",
            "linkedin": "https://l/a",
            "message_type": "connection_request",
            "text": "Hi",
        },
        {
            "external_prospect_id": "a",
            "linkedin": "https://l/a",
            "message_type": "hiring_activity",
            "text": None,
        },
        {
            "external_prospect_id": "b",
            "linkedin": "https://l/b",
            "message_type": "connection_request",
            "text": "Yo",
        },
    ]
    summary = {
        "leads": 2,
        "messages_generated": 2,
        "messages_requested": 3,
        "delivered": 2,
        "failed": 0,
        "store": "/tmp/s.sqlite3",
        "next": "msgrelay relay --export csv",
    }
    out = io.StringIO()
    render(rows, summary, out, width=80)
    text = out.getvalue()
    assert text.count("https://l/a") == 1
    assert "  hiring_activity       (not generated: null from the vendor)" in text
    assert text.rstrip().endswith("Export: msgrelay relay --export csv")
    assert "2 leads, 2 of 3 messages generated, 2 delivered, 0 failed." in text


def test_verbose_logging_keeps_urllib3_from_printing_raw_urls() -> None:
    """-vv turns msgrelay's (redacted) DEBUG lines on, but not urllib3's raw paths and queries."""
    import logging

    from msgrelay.cli import _configure_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        _configure_logging(2)
        assert logging.getLogger("msgrelay.transport").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("urllib3").setLevel(logging.NOTSET)
        logging.getLogger("msgrelay").setLevel(logging.NOTSET)
