"""The Celery side's settings: a broker is required, rate limits read strictly, a queue per destination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from msgrelay.cli import main
from msgrelay.errors import ConfigurationError
from msgrelay.ledger import SQLiteLedger
from msgrelay.relay import Relay
from msgrelay.relay.tasks import QUEUE, RelayTasks, deliver_name, rate_limits
from tests import servers
from tests.helpers import seed_old_rows, wait_until


def _no_relay() -> Relay:
    raise AssertionError("no task runs in these tests")


def test_rate_limits_are_read_per_destination() -> None:
    """MSGRELAY_RATE_LIMITS names a Celery rate per destination."""
    assert rate_limits({"MSGRELAY_RATE_LIMITS": "hubspot=10/m, lemlist=1.5/s"}) == {
        "hubspot": "10/m",
        "lemlist": "1.5/s",
    }
    assert rate_limits({}) == {}


@pytest.mark.parametrize("bad", ["hubspot", "hubspot=fast", "=10/s", "hubspot=10/d"])
def test_a_bad_rate_limit_is_one_clear_line(bad: str) -> None:
    """A malformed entry names itself and the accepted form."""
    with pytest.raises(ConfigurationError, match=r"MSGRELAY_RATE_LIMITS: .* is not NAME=RATE"):
        rate_limits({"MSGRELAY_RATE_LIMITS": bad})


def test_each_destination_has_its_own_task_queue_and_rate_limit() -> None:
    """A slow destination's queue is its own; its task carries its rate limit."""
    tasks = RelayTasks(
        _no_relay,
        broker_url="redis://127.0.0.1:9/0",
        destinations=["store", "hubspot"],
        environ={"MSGRELAY_RATE_LIMITS": "hubspot=10/m"},
    )
    assert tasks.queues() == [QUEUE, "msgrelay.deliver.store", "msgrelay.deliver.hubspot"]
    assert tasks.app.tasks[deliver_name("hubspot")].rate_limit == "10/m"
    assert tasks.app.tasks[deliver_name("store")].rate_limit is None
    assert tasks.app.conf.task_acks_late


def test_no_broker_is_refused() -> None:
    """Without MSGRELAY_BROKER_URL there is nothing to enqueue to."""
    with pytest.raises(ConfigurationError, match="MSGRELAY_BROKER_URL"):
        RelayTasks(_no_relay, environ={})


def test_the_worker_command_without_a_broker_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """``msgrelay worker`` with no broker says which variable to set, in one line."""
    assert main(["worker"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "MSGRELAY_BROKER_URL" in err


def test_a_worker_with_beat_prunes_old_finished_rows_when_retention_is_set(
    tmp_path: Path, redis_server: servers.Redis
) -> None:
    """With a broker, retention runs in the beat sweep: ``msgrelay worker --beat`` and
    ``MSGRELAY_RETENTION_DAYS`` prune an old delivered row; a pending delivery of the same age stays."""
    redis_server.flush()
    home = tmp_path / "home"
    seed_old_rows(home / "ledger.sqlite3")
    env = {
        **os.environ,
        "MSGRELAY_HOME": str(home),
        "MSGRELAY_BROKER_URL": redis_server.url,
        "MSGRELAY_RETENTION_DAYS": "30",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "msgrelay", "worker", "--beat", "--concurrency", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with SQLiteLedger(home / "ledger.sqlite3") as ledger:

            def pruned() -> bool:
                assert proc.poll() is None, log.read_text()
                return ledger.batch_counts("upscale", "done") == {}

            wait_until(pruned, what="the beat sweep's prune")
            assert ledger.batch_counts("upscale", "waiting") == {"pending": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_bad_retention_setting_stops_the_worker_at_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MSGRELAY_RETENTION_DAYS`` is checked when the worker starts, one line naming it."""
    monkeypatch.setenv("MSGRELAY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("MSGRELAY_RETENTION_DAYS", "a month")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "MSGRELAY_RETENTION_DAYS must be a number of days, got 'a month'" in err
    assert len(err.strip().splitlines()) == 1
