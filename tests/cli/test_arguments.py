"""Command-line arguments that are out of range, or that a mode would ignore, are refused with exit 2."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from msgrelay.cli import build_parser, main
from msgrelay.cli._common import UsageError, non_negative_float, port, resolve_destinations
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command in this process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def parse_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The argparse error for ``argv``, which must exit 2."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err


# --- ports and threads ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("1", 1), ("8080", 8080), ("65535", 65535)])
def test_a_port_from_0_to_65535_is_accepted(text: str, number: int) -> None:
    assert port(text) == number


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("65536", "expected a port from 0 to 65535 (0 = any free port), got '65536'"),
        ("99999", "expected a port from 0 to 65535 (0 = any free port), got '99999'"),
        ("-1", "expected a port from 0 to 65535 (0 = any free port), got '-1'"),
        ("http", "expected a port number, got 'http'"),
    ],
)
def test_a_port_out_of_range_is_refused(text: str, problem: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(problem)):
        port(text)


@pytest.mark.parametrize(
    "command", [["serve", "--insecure", "--port", "99999"], ["sandbox", "--port", "70000"]]
)
def test_serve_and_sandbox_refuse_a_port_that_would_wrap(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A port above 65535 used to be bound modulo 65536, silently, on another port."""
    err = parse_error(capsys, *command)
    assert f"argument --port: expected a port from 0 to 65535 (0 = any free port), got '{command[-1]}'" in err


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_serve_refuses_fewer_than_one_thread(threads: str, capsys: pytest.CaptureFixture[str]) -> None:
    """With no thread to answer, the receiver would accept connections and never respond."""
    err = parse_error(capsys, "serve", "--insecure", "--threads", threads)
    assert f"argument --threads: expected a positive whole number, got '{threads}'" in err


def test_serve_and_sandbox_still_take_port_0_and_threads() -> None:
    args = build_parser().parse_args(["serve", "--port", "0", "--threads", "2"])
    assert (args.port, args.threads) == (0, 2)
    assert build_parser().parse_args(["sandbox", "--port", "0"]).port == 0


def test_serve_takes_an_http_public_url_for_its_openapi_document(capsys: pytest.CaptureFixture[str]) -> None:
    """--public-url is what /v1/openapi.json advertises; anything but http(s) is one line, exit 2."""
    args = build_parser().parse_args(["serve", "--public-url", "https://relay.example.com/"])
    assert args.public_url == "https://relay.example.com"
    err = parse_error(capsys, "serve", "--public-url", "ftp://me:pw@relay.example.com")
    assert "argument --public-url: expected an http:// or https:// URL" in err
    assert "pw" not in err


# --- destinations resolved at startup --------------------------------------------------------------


def _serve(env_destinations: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MSGRELAY_DESTINATIONS"}
    if env_destinations is not None:
        env["MSGRELAY_DESTINATIONS"] = env_destinations
    # The timeout bounds a regression (a serve that starts would run for ever); it is not asserted on.
    return subprocess.run(
        [sys.executable, "-m", "msgrelay", "serve", "--insecure", "--port", "0", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_refuses_an_unknown_destination_from_the_environment_at_start() -> None:
    """``MSGRELAY_DESTINATIONS=nope msgrelay serve`` used to start and fail at every webhook."""
    done = _serve("store,nope")
    assert done.returncode == 2
    # Every installed destination plugin (first-party ones included) is listed, so ask the manager.
    registered = ", ".join(PluginManager(environ={}).load().destinations.names())
    assert "store" in registered
    assert done.stderr.splitlines() == [
        "msgrelay: error: unknown destination 'nope' from $MSGRELAY_DESTINATIONS "
        f"(registered: {registered}); install or enable the plugin that provides it"
    ]
    assert done.stdout == ""


def test_serve_refuses_an_unknown_destination_from_to_at_start() -> None:
    done = _serve(None, "--to", "nope")
    assert done.returncode == 2
    assert "unknown destination 'nope' from --to" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_to_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad environment default does not matter when ``--to`` names the destinations."""
    monkeypatch.setenv("MSGRELAY_DESTINATIONS", "nope")
    plugins = PluginManager().load()
    assert resolve_destinations(plugins, ["store"]) == ["store"]
    with pytest.raises(UsageError, match=re.escape("unknown destination 'nope' from $MSGRELAY_DESTINATIONS")):
        resolve_destinations(plugins, None)
    monkeypatch.delenv("MSGRELAY_DESTINATIONS")
    assert resolve_destinations(plugins, None) == ["store"]


def test_relay_an_id_refuses_an_unknown_destination_from_the_environment_before_recording_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSGRELAY_DESTINATIONS", "nope")
    code, out, err = run(capsys, "relay", "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef")
    assert code == 2
    assert out == ""
    assert "unknown destination 'nope' from $MSGRELAY_DESTINATIONS" in err
    with SQLiteLedger() as ledger:
        assert ledger.status()["batches"] == {}


# --- relay: --max-wait, --export -o, and options a mode would ignore --------------------------------


@pytest.mark.parametrize(("text", "number"), [("0", 0.0), ("0.5", 0.5), ("60", 60.0)])
def test_non_negative_float_accepts_zero(text: str, number: float) -> None:
    assert non_negative_float(text) == number


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("-1", "expected a number of seconds, 0 or more, got '-1'"),
        ("nan", "expected a number of seconds, 0 or more, got 'nan'"),
        ("soon", "expected a number of seconds, got 'soon'"),
    ],
)
def test_non_negative_float_refuses_negatives_and_words(text: str, problem: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(problem)):
        non_negative_float(text)


def test_relay_takes_max_wait_0_the_documented_default(capsys: pytest.CaptureFixture[str]) -> None:
    """The help says ``--max-wait`` defaults to 0 for --pending; giving 0 used to be refused."""
    code, out, err = run(capsys, "relay", "--pending", "--max-wait", "0")
    assert code == 0, err
    assert orjson.loads(out)["delivered"] == 0


def test_relay_refuses_a_negative_max_wait(capsys: pytest.CaptureFixture[str]) -> None:
    err = parse_error(capsys, "relay", "--pending", "--max-wait", "-1")
    assert "argument --max-wait: expected a number of seconds, 0 or more, got '-1'" in err


def test_export_to_a_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line naming the path and the OS's reason, exit 2; it used to be a traceback."""
    target = tmp_path / "nonexistent" / "dir" / "f.csv"
    code, out, err = run(capsys, "relay", "--export", "csv", "-o", str(target))
    assert code == 2
    assert out == ""
    assert err.splitlines() == [f"msgrelay: error: cannot write {target}: {os.strerror(errno.ENOENT)}"]


def test_export_to_a_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "relay", "--export", "jsonl", "-o", str(tmp_path))
    assert code == 2
    assert err.startswith(f"msgrelay: error: cannot write {tmp_path}: ")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (
            ["--status", "--to", "store"],
            "--to does not apply to --status; it goes with an ID or --retry-dead",
        ),
        (["--status", "-o", "out.txt"], "-o/--output does not apply to --status; it goes with --export"),
        (["--pending", "--collect"], "--collect does not apply to --pending; it goes with an ID"),
        (
            ["--export", "csv", "--to", "store"],
            "--to does not apply to --export; it goes with an ID or --retry-dead",
        ),
        (
            ["--status", "--batch-size", "3"],
            "--batch-size does not apply to --status; it goes with an ID, --pending or --retry-dead",
        ),
        (
            ["--status", "--max-wait", "0"],
            "--max-wait does not apply to --status; it goes with an ID, --pending or --retry-dead",
        ),
        (
            ["--pending", "--to", "store"],
            "--to does not apply to --pending; it goes with an ID or --retry-dead",
        ),
        (["--retry-dead", "--collect"], "--collect does not apply to --retry-dead; it goes with an ID"),
        (
            ["--export", "jsonl", "--max-wait", "5"],
            "--max-wait does not apply to --export; it goes with an ID, --pending or --retry-dead",
        ),
        (
            ["5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef", "-o", "out.txt"],
            "-o/--output does not apply to an ID; it goes with --export",
        ),
    ],
)
def test_relay_refuses_an_option_its_mode_would_ignore(
    argv: list[str], problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """These used to exit 0 having silently ignored the option."""
    output = str(tmp_path / "out.txt")
    code, out, err = run(capsys, "relay", *(output if arg == "out.txt" else arg for arg in argv))
    assert code == 2
    assert out == ""
    assert err.splitlines() == [f"msgrelay: error: {problem}"]
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--retry-dead", "--to", "store"],
        ["--retry-dead", "--to", "store", "--max-wait", "0", "--batch-size", "3"],
        ["--pending", "--max-wait", "0", "--batch-size", "3"],
        ["--status"],
    ],
)
def test_relay_keeps_the_combinations_that_apply(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "relay", *argv)
    assert code == 0, err
    assert orjson.loads(out)


def test_relay_export_to_a_file_still_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "messages.csv"
    code, out, err = run(capsys, "relay", "--export", "csv", "--output", str(target))
    assert code == 0, err
    assert out == ""
    assert target.exists()
    assert "exported 0 messages" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["sandbox", "--seconds-per-message", "-1"],
        ["sandbox", "--credits", "-5"],
        ["demo", "--seconds-per-message", "nan"],
        ["collect", "requests", "Kq7vTz2mWb9xLc4Rn", "--page-size", "500"],
    ],
)
def test_other_numbers_out_of_range_are_refused_by_the_parser(argv: list[str]) -> None:
    """Every numeric option is range-checked where it is parsed (exit 2), not deep in the work."""
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2


@pytest.mark.parametrize("command", ["sandbox", "serve"])
def test_a_port_in_use_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """``sandbox``/``serve`` on a port another socket holds: one line naming it, exit 2, no traceback."""
    monkeypatch.setenv("MSGRELAY_WEBHOOK_SECRET", "whsec-port-test")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code, _, err = run(capsys, command, "--port", str(port))
    assert code == 2
    assert err.startswith(f"msgrelay: error: cannot listen on 127.0.0.1:{port}")
    assert "--port" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_refuses_a_bad_poll_setting_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MSGRELAY_POLL_AFTER=abc msgrelay serve`` used to start, answer webhooks and relay nothing."""
    monkeypatch.setenv("MSGRELAY_POLL_AFTER", "abc")
    done = _serve(None)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "msgrelay: error: MSGRELAY_POLL_AFTER must be a number of seconds, got 'abc'"
    ]


def test_a_ledger_from_a_newer_msgrelay_is_one_line(
    msgrelay_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger written by a newer msgrelay: exit 2 and one line naming the file, not a traceback."""
    import sqlite3

    msgrelay_home.mkdir(parents=True, exist_ok=True)
    path = msgrelay_home / "ledger.sqlite3"
    with SQLiteLedger(path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version=99")
    assert main(["relay", "--status"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "newer msgrelay" in err[0]
    assert str(path) in err[0]


def test_the_worker_reads_its_own_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``msgrelay worker --config`` routes like ``serve --config``: a bad file is one line, exit 2."""
    monkeypatch.setenv("MSGRELAY_BROKER_URL", "redis://127.0.0.1:1/0")  # never reached: the file fails first
    path = tmp_path / "routes.toml"
    path.write_text('[destinations.crm]\ntype = "no-such-type"\n')
    assert main(["worker", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "[destinations.crm] type" in err
