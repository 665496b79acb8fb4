"""A ledger ``serve`` cannot use is one log line per problem, never a traceback at every try (issue 10
item 14): the receiver on a ledger another connection holds answers 503 and logs one line saying its
own fixed wait; the background relay on a damaged ledger logs one line however many sweeps fail, and
``/healthz`` answers 503 with that line until a sweep succeeds."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path

import pytest
import requests

from msgrelay.ledger import SQLiteLedger
from msgrelay.relay import RelayWorker
from msgrelay.web.receiver import Receiver
from msgrelay.web.server import BackgroundServer
from tests.cli.test_ledger_failures import damage
from tests.helpers import wait_until
from tests.web.test_receiver import EVENT, SECRET, post


def ledger_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "ledger" in r.getMessage() and r.levelno >= logging.WARNING]


def test_a_busy_ledger_is_one_line_at_the_receiver_and_every_webhook_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    with SQLiteLedger(path) as ledger:
        receiver = Receiver(ledger=ledger, secret=SECRET, store_timeout=0.1)
        url_of = f"?token={SECRET}"
        with BackgroundServer(receiver) as server:
            url = server.url + "/webhooks/upscale" + url_of
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                for _ in range(4):
                    body = {**EVENT, "secure_request_id": str(uuid.uuid4())}
                    assert post(url, body).status_code == 503
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert post(url, EVENT).status_code == 200
    lines = ledger_lines(caplog)
    assert [r.exc_info for r in lines] == [None, None], [r.getMessage() for r in lines]
    busy, again = (r.getMessage() for r in lines)
    assert f"ledger {path} is busy" in busy
    assert "for more than 0.1 s" in busy
    assert "MSGRELAY_LEDGER_BUSY_TIMEOUT" not in busy  # the receiver's wait is fixed: no setting to name
    assert again == "the webhook receiver can use the ledger again"


class _Sweeps:
    """A relay whose sweep reads every batch of a (damaged) ledger, counting its sweeps."""

    def __init__(self, ledger: SQLiteLedger) -> None:
        self.ledger = ledger
        self.sweeps = 0

    def run_pending(self) -> None:
        self.sweeps += 1
        self.ledger.waiting(limit=1000)

    def process(self, source: str, batch_id: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_damaged_ledger_is_one_line_from_the_background_relay_and_healthz_says_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    damage(path)
    with SQLiteLedger(path) as ledger:
        relay = _Sweeps(ledger)
        worker = RelayWorker(lambda: relay, sweep_interval=0.01)
        receiver = Receiver(ledger=ledger, secret=SECRET, health=worker.problem)
        with worker, BackgroundServer(receiver) as server:
            wait_until(lambda: relay.sweeps >= 10, what="ten sweeps on the damaged ledger")
            health = requests.get(server.url + "/healthz", timeout=10)
    assert health.status_code == 503
    assert f"ledger {path} is damaged" in health.json()["error"]
    lines = ledger_lines(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None
    assert f"the background relay cannot use the ledger: ledger {path} is damaged" in lines[0].getMessage()
