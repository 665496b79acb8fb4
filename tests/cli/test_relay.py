"""The ``plugins``, ``relay`` and ``serve`` commands, in process and as real processes."""

from __future__ import annotations

import csv
import functools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from msgrelay.cli import build_parser, main
from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger, delivery_key
from msgrelay.relay import DeliveryPolicy, Relay
from msgrelay.sandbox import Sandbox
from msgrelay.testing import make_request
from msgrelay.upscale.client import UpscaleClient
from msgrelay.web.receiver import notification_url
from tests.helpers import make_distribution, seed_old_rows, wait_until

SECRET = "whsec-cli-test-secret"

#: A destination plugin driven by the environment: it can always fail, or hang after N deliveries.
CONTROLLED = """
import os, time
from msgrelay.plugins import hookspecs
from msgrelay.destinations.store import Store

_calls = 0
_store = None

def _log(line):
    with open(os.environ["PLUGIN_LOG"], "a") as log:
        log.write(f"{os.getpid()} {line}\\n")

def deliver(delivery):
    global _calls, _store
    _calls += 1
    if os.environ.get("DOWN") == "1":
        raise ConnectionError("the CRM is down")
    if _store is None:
        _store = Store(os.environ["PLUGIN_STORE"])
    _store.deliver(delivery)
    _log(delivery.key)
    hang = os.environ.get("HANG_AFTER")
    if hang and _calls >= int(hang):
        _log("hang")
        time.sleep(3600)
    pause = os.environ.get("PAUSE_AT")
    if pause and _calls == int(pause):
        _log("paused")
        deadline = time.monotonic() + 60
        while not os.path.exists(os.environ["RESUME_FILE"]) and time.monotonic() < deadline:
            time.sleep(0.02)

@hookspecs.hookimpl
def register_destinations(register):
    register("controlled", deliver)
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed-looking distribution with a working plugin and one whose import raises."""
    root = make_distribution(
        tmp_path / "site",
        "acme-msgrelay",
        {"acme_controlled": CONTROLLED, "acme_broken": "import vendor_sdk_that_is_not_installed\n"},
        {"controlled": "acme_controlled", "broken": "acme_broken"},
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PLUGIN_LOG", str(tmp_path / "plugin.log"))
    monkeypatch.setenv("PLUGIN_STORE", str(tmp_path / "plugin-store.sqlite3"))
    yield root
    for module in ("acme_controlled", "acme_broken"):
        sys.modules.pop(module, None)


@pytest.fixture
def upscale_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("UPSCALE_API_KEY", sandbox.upscale_api_key)
    monkeypatch.setenv("UPSCALE_BASE_URL", sandbox.upscale_url)
    return sandbox


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay command with millisecond backoff (the default waits seconds between attempts)."""
    import msgrelay.cli.relay as cli_relay

    monkeypatch.setattr(
        cli_relay,
        "Relay",
        functools.partial(Relay, policy=DeliveryPolicy(backoff_base=0.001, backoff_max=0.01)),
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Run the command in this process: exit code, stdout (parsed when it is one JSON document), stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, orjson.loads(out), err
    except orjson.JSONDecodeError:
        return code, out, err


def generated(sandbox: Sandbox, leads: int) -> str:
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as client:
        sid = client.request_generation(make_request(leads)).secure_request_id
        client.wait_for_completion(sid, initial_interval=0.01)
    return sid


def test_plugins_lists_a_broken_plugin_with_its_error_and_the_others_run(
    site: Path, capsys: pytest.CaptureFixture[str], sandbox: Sandbox, upscale_env: Sandbox
) -> None:
    """``msgrelay plugins`` shows the import error; relaying through the working plugin still works."""
    code, rows, _ = run(capsys, "plugins")
    assert code == 0
    by_name = {r["name"]: r for r in rows}
    assert by_name["broken"]["errors"] == [
        "ModuleNotFoundError: No module named 'vendor_sdk_that_is_not_installed'"
    ]
    assert by_name["controlled"] == {
        "name": "controlled",
        "version": "1.0",
        "hooks": ["register_destinations"],
        "destinations": ["controlled"],
        "types": [],
        "errors": [],
    }
    sid = generated(sandbox, 2)
    code, report, _ = run(capsys, "relay", sid, "--to", "controlled,store")
    assert code == 0
    assert report["deliveries"] == {"delivered": 4}
    assert Store(os.environ["PLUGIN_STORE"]).summary()["leads"] == 2


def test_plugins_all_includes_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    """``--all`` adds the built-in store with its state."""
    code, rows, _ = run(capsys, "plugins", "--all")
    assert code == 0
    store = next(r for r in rows if r["name"] == "msgrelay.store")
    assert (store["builtin"], store["state"], store["destinations"]) == (True, "loaded", ["store"])


def test_strict_plugins_fail_the_command(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MSGRELAY_STRICT_PLUGINS=1 a broken plugin is a configuration error (exit 2)."""
    monkeypatch.setenv("MSGRELAY_STRICT_PLUGINS", "1")
    code, _, err = run(capsys, "plugins")
    assert code == 2
    assert "plugin 'broken' failed to load" in err


def test_relay_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """No mode, two modes, or an unknown destination: one line on stderr, exit 2."""
    assert run(capsys, "relay")[0] == 2
    code, _, err = run(capsys, "relay", "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef", "--to", "nowhere")
    assert code == 2
    assert "unknown destination 'nowhere'" in err
    with pytest.raises(SystemExit):
        main(["relay", "--pending", "--status"])


def test_relay_refuses_an_id_that_is_not_a_uuid_before_recording_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``relay not-an-id``: exit 2 naming the field, and no batch recorded in the ledger."""
    code, _, err = run(capsys, "relay", "not-an-id")
    assert code == 2
    assert "request_message_generation_secure_request_id" in err
    assert len(err.strip().splitlines()) == 1
    with SQLiteLedger() as ledger:
        assert ledger.status()["batches"] == {}


@pytest.mark.parametrize("command", [["relay", "--pending"], ["serve", "--insecure"]])
@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("0", "expected a positive whole number, got '0'"),
        ("-5", "expected a positive whole number, got '-5'"),
        ("ten", "expected a whole number, got 'ten'"),
    ],
)
def test_a_batch_size_that_is_not_a_positive_whole_number_is_refused(
    command: list[str], size: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--batch-size 0`` would claim nothing and deliver nothing while reporting success: exit 2."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--batch-size", size])
    assert exited.value.code == 2
    assert f"argument --batch-size: {problem}" in capsys.readouterr().err


def test_a_relay_refuses_a_batch_size_below_one(tmp_path: Path) -> None:
    """The library refuses it too, before anything runs."""
    with SQLiteLedger(tmp_path / "ledger.sqlite3") as ledger, pytest.raises(ValueError, match="batch_size"):
        Relay(ledger=ledger, batch_size=0)


def test_relay_an_id_then_status_and_export(
    upscale_env: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``relay ID`` fills the store; ``--status`` counts; ``--export`` prints one row per message."""
    sid = generated(upscale_env, 3)
    code, report, _ = run(capsys, "relay", sid)
    assert code == 0
    assert (report["secure_request_id"], report["batch_state"], report["delivered"]) == (sid, "fanned_out", 3)
    code, status, _ = run(capsys, "relay", "--status")
    assert status["deliveries"] == {"delivered": 3}
    assert status["store"]["messages"] == 6
    code, out, err = run(capsys, "relay", "--export", "jsonl")
    assert len(out.splitlines()) == 6
    assert "exported 6 messages" in err
    target = tmp_path / "out.csv"
    assert run(capsys, "relay", "--export", "csv", "-o", str(target))[0] == 0
    with target.open(newline="") as f:
        assert len(list(csv.DictReader(f))) == 6


def test_a_dead_destination_shows_in_status_and_retry_dead_redrives_it(
    site: Path,
    upscale_env: Sandbox,
    fast_retries: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Always failing: dead-lettered, exit 1, listed by --status; fixed: --retry-dead delivers each once."""
    sid = generated(upscale_env, 2)
    monkeypatch.setenv("DOWN", "1")
    code, report, err = run(capsys, "relay", sid, "--to", "controlled")
    assert code == 1
    assert (report["delivered"], report["dead"]) == (0, 2)
    assert "2 deliveries not made yet" in err
    code, status, _ = run(capsys, "relay", "--status")
    assert status["by_destination"] == {"controlled": {"dead": 2}}
    assert status["dead_letters"][0]["last_error"] == "ConnectionError: the CRM is down"
    assert status["dead_letters"][0]["attempts"] == 8
    monkeypatch.setenv("DOWN", "0")
    code, report, _ = run(capsys, "relay", "--retry-dead")
    assert code == 0
    assert report["delivered"] == 2
    keys = [line.split()[1] for line in Path(os.environ["PLUGIN_LOG"]).read_text().splitlines()]
    assert sorted(keys) == sorted(delivery_key("controlled", "upscale", sid, f"lead-{i}") for i in range(2))


def _serve(env: dict[str, str], log: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``msgrelay serve`` as a real process; its base URL once it listens."""
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "msgrelay", "serve", "--port", "0", *args], stderr=err, env=env
        )
    found: list[str] = []

    def listening() -> bool:
        match = re.search(r"receiving on (http://127\.0\.0\.1:\d+)/webhooks/upscale", log.read_text())
        if match:
            found.append(match.group(1))
        assert proc.poll() is None, log.read_text()
        return bool(match)

    wait_until(listening, what="msgrelay serve listening")
    return proc, found[0]


def test_a_killed_relay_resumes_with_relay_pending_and_delivers_nothing_twice(
    site: Path, tmp_path: Path
) -> None:
    """SIGKILL after the webhook was acknowledged and mid-delivery: ``relay --pending`` delivers every
    lead; the destination sees a repeat only of the delivery in flight at the kill, and drops it by key."""
    plugin_log, plugin_store = Path(os.environ["PLUGIN_LOG"]), Path(os.environ["PLUGIN_STORE"])
    home = tmp_path / "home"
    with Sandbox(seconds_per_message=0.001) as sandbox:
        env = {
            **os.environ,
            "MSGRELAY_HOME": str(home),
            "MSGRELAY_WEBHOOK_SECRET": SECRET,
            "UPSCALE_API_KEY": sandbox.upscale_api_key,
            "UPSCALE_BASE_URL": sandbox.upscale_url,
            "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
            "HANG_AFTER": "5",
        }
        proc, url = _serve(env, tmp_path / "serve.log", "--to", "controlled", "--batch-size", "2")
        try:
            with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as client:
                request = make_request(10, notify_url=notification_url(url, secret=SECRET))
                sid = client.request_generation(request).secure_request_id
            wait_until(lambda: plugin_log.exists() and "hang" in plugin_log.read_text(), what="the hang")
            assert [a.status for a in sandbox.upscale.webhook_log] == [200]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with SQLiteLedger(home / "ledger.sqlite3") as ledger:
        assert ledger.batch_state("upscale", sid) == "fanned_out"
        assert ledger.batch_counts("upscale", sid) == {"delivered": 4, "claimed": 2, "pending": 4}

    resumed = subprocess.run(
        [sys.executable, "-m", "msgrelay", "relay", "--pending"],
        env={k: v for k, v in env.items() if k != "HANG_AFTER"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert orjson.loads(resumed.stdout)["deliveries"] == {"delivered": 10}

    calls = [line.split() for line in plugin_log.read_text().splitlines() if not line.endswith("hang")]
    killed_pid = str(proc.pid)
    first = [key for pid, key in calls if pid == killed_pid]
    second = [key for pid, key in calls if pid != killed_pid]
    keys = [delivery_key("controlled", "upscale", sid, f"lead-{i}") for i in range(10)]
    assert first == keys[:5]
    assert second == keys[4:]
    assert Store(plugin_store).summary()["leads"] == 10
    assert Store(plugin_store).summary()["messages"] == 20


def test_relay_prune_deletes_what_is_delivered_and_old_and_nothing_else(
    upscale_env: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``relay --prune --older-than 30``: nothing while the deliveries are recent; 31 days on, the
    delivered rows, the batch's items and the store's rows go, and a repeated relay of the batch is
    still recognised (its inbox row stays)."""
    import msgrelay.cli.relay as cli_relay

    sid = generated(upscale_env, 3)
    assert run(capsys, "relay", sid)[0] == 0
    code, report, _ = run(capsys, "relay", "--prune", "--older-than", "30")
    assert code == 0
    assert report == {
        "older_than_days": 30.0,
        "ledger": {"outbox": 0, "items": 0, "hook_errors": 0},
        "store": {"deliveries": 0},
    }
    later = cli_relay._clock() + 31 * 86_400
    monkeypatch.setattr(cli_relay, "_clock", lambda: later)
    code, report, _ = run(capsys, "relay", "--prune", "--older-than", "30")
    assert code == 0
    assert report["ledger"] == {"outbox": 3, "items": 3, "hook_errors": 0}
    assert report["store"] == {"deliveries": 3}
    code, status, _ = run(capsys, "relay", "--status")
    assert status["deliveries"] == {}
    assert status["store"]["leads"] == 0
    assert status["batches"] == {"fanned_out": 1}


def test_relay_prune_takes_the_days_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --older-than, ``MSGRELAY_RETENTION_DAYS``; neither is a usage error naming both."""
    code, _, err = run(capsys, "relay", "--prune")
    assert code == 2
    assert "--prune needs --older-than DAYS (or MSGRELAY_RETENTION_DAYS set)" in err
    monkeypatch.setenv("MSGRELAY_RETENTION_DAYS", "7")
    code, report, _ = run(capsys, "relay", "--prune")
    assert (code, report["older_than_days"]) == (0, 7.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prune", "--older-than", "abc"], "expected a number of days, got 'abc'"),
        (["--prune", "--older-than", "0"], "expected a number of days more than 0, got '0'"),
        (["--prune", "--older-than", "nan"], "expected a number of days more than 0, got 'nan'"),
        (
            ["--pending", "--older-than", "3"],
            "--older-than does not apply to --pending; it goes with --prune",
        ),
        (["--prune", "--status"], "not allowed with argument"),
    ],
)
def test_relay_prune_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main(["relay", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_a_bad_retention_setting_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSGRELAY_RETENTION_DAYS", "a month")
    code, _, err = run(capsys, "relay", "--prune")
    assert code == 2
    assert "MSGRELAY_RETENTION_DAYS must be a number of days, got 'a month'" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_prunes_old_delivered_rows_when_retention_is_set(tmp_path: Path) -> None:
    """``serve`` with ``MSGRELAY_RETENTION_DAYS``: its background worker prunes at start; a pending
    delivery of the same age stays."""
    home = tmp_path / "home"
    seed_old_rows(home / "ledger.sqlite3")
    env = {**os.environ, "MSGRELAY_HOME": str(home), "MSGRELAY_RETENTION_DAYS": "30"}
    proc, _ = _serve(env, tmp_path / "serve.log", "--insecure")
    try:
        with SQLiteLedger(home / "ledger.sqlite3") as ledger:
            wait_until(lambda: ledger.batch_counts("upscale", "done") == {}, what="the prune")
            assert ledger.batch_counts("upscale", "waiting") == {"pending": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def test_sigterm_mid_chunk_finishes_the_delivery_releases_the_rest_and_exits_1(
    site: Path, tmp_path: Path, upscale_env: Sandbox
) -> None:
    """SIGTERM during the third of ten deliveries: that one finishes and is recorded, the other seven are
    released (due at once), exit 1; ``relay --pending`` then delivers those seven, so no key goes twice."""
    sid = generated(upscale_env, 10)
    plugin_log, resume = Path(os.environ["PLUGIN_LOG"]), tmp_path / "resume"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
        "PAUSE_AT": "3",
        "RESUME_FILE": str(resume),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "msgrelay", "relay", sid, "--to", "controlled", "--max-wait", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: plugin_log.exists() and "paused" in plugin_log.read_text(), what="the pause")
        proc.send_signal(signal.SIGTERM)
        resume.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    report = orjson.loads(out)
    assert (report["delivered"], report["released"]) == (3, 7)
    assert report["deliveries"] == {"delivered": 3, "pending": 7}
    assert "7 claimed deliveries released" in err
    env.pop("PAUSE_AT")
    resumed = subprocess.run(
        [sys.executable, "-m", "msgrelay", "relay", "--pending"], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    keys = [line.split()[1] for line in plugin_log.read_text().splitlines() if not line.endswith("paused")]
    assert sorted(keys) == sorted(delivery_key("controlled", "upscale", sid, f"lead-{i}") for i in range(10))
