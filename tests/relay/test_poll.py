"""No reliance on the webhook: submissions are polled at growing intervals, relayed, or given up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay, RelayWorker
from msgrelay.relay.submit import submit_once
from msgrelay.sandbox import Fault, Sandbox
from msgrelay.testing import make_request
from msgrelay.upscale.client import UpscaleClient
from tests.helpers import FakeClock, wait_until

RETRIEVE = "/messages/retrieve_messages"


@pytest.fixture
def silent() -> Iterator[Sandbox]:
    """A sandbox that never sends the completion webhook, generating for about half a second."""
    with Sandbox(seconds_per_message=0.1, webhook_delivery=False) as running:
        yield running


def _client(sandbox: Sandbox) -> UpscaleClient:
    return UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)


def test_serve_relays_a_generation_whose_webhook_never_comes(silent: Sandbox, tmp_path: Path) -> None:
    """The background worker polls the submission, one retrieve per interval, and delivers its leads."""
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    with _client(silent) as client:
        ticket = submit_once(client, make_request(3), ledger=ledger)
    sid = ticket.secure_request_id
    relay = Relay(
        ledger=ledger,
        plugins=PluginManager(environ={}).load(),
        upscale=_client(silent),
        poll_after=0.1,
    )
    with RelayWorker(lambda: relay, sweep_interval=0.05):
        wait_until(lambda: Store().summary()["leads"] == 3, what="three leads delivered")
    submission = ledger.submission_for_batch(sid)
    assert submission is not None
    assert submission.poll_state == "done"
    # One retrieve per poll, and one more when the batch was fanned out.
    assert silent.count("GET", RETRIEVE) == submission.polls + 1
    ledger.close()


def test_polls_grow_apart_and_a_webhook_wins(silent: Sandbox, tmp_path: Path) -> None:
    """Nothing before poll_after; intervals grow; a batch in the inbox (a webhook) stops the polling."""
    clock = FakeClock(now=2_000_000_000.0)
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    with _client(silent) as client:
        ticket = submit_once(client, make_request(2), ledger=ledger, clock=clock)
    relay = Relay(
        ledger=ledger, plugins=PluginManager(environ={}).load(), upscale=_client(silent),
        poll_after=10.0, poll_give_up=1000.0, clock=clock,
    )  # fmt: skip
    silent.upscale.seconds_per_message = 1e6  # never completes while this test runs
    assert relay.poll_due() == 0
    assert silent.count("GET", RETRIEVE) == 0  # not due yet
    clock.advance(10)
    relay.poll_due()
    assert silent.count("GET", RETRIEVE) == 1
    waiting = ledger.waiting_submissions(poll_after=10.0)
    assert waiting[0].next_poll_at == clock.now + 15.0  # 10 x 1.5
    clock.advance(14)
    relay.poll_due()
    assert silent.count("GET", RETRIEVE) == 1  # not due again yet: one retrieve per interval
    clock.advance(1)
    relay.poll_due()
    assert silent.count("GET", RETRIEVE) == 2
    ledger.record_event("upscale", ticket.secure_request_id, event="{}", destinations=None, now=clock.now)
    clock.advance(10_000)
    relay.poll_due()
    assert silent.count("GET", RETRIEVE) == 2  # the webhook won
    assert ledger.waiting_submissions(poll_after=10.0) == []
    ledger.close()


def test_a_generation_never_complete_is_dead_lettered_with_the_reason(
    silent: Sandbox, tmp_path: Path
) -> None:
    """Past poll_give_up the batch is dead, its error naming why, and polling stops."""
    clock = FakeClock(now=2_000_000_000.0)
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    silent.upscale.seconds_per_message = 1e6
    with _client(silent) as client:
        ticket = submit_once(client, make_request(1), ledger=ledger, clock=clock)
    relay = Relay(
        ledger=ledger, plugins=PluginManager(environ={}).load(), upscale=_client(silent),
        poll_after=10.0, poll_give_up=100.0, clock=clock,
    )  # fmt: skip
    clock.advance(101)
    relay.poll_due()
    batch = ledger.get_batch("upscale", ticket.secure_request_id)
    assert batch is not None
    assert batch["state"] == "dead"
    assert "no completion webhook" in batch["last_error"]
    assert "still in progress" in batch["last_error"]
    assert ledger.waiting_submissions(poll_after=10.0) == []
    ledger.close()


def test_bad_poll_settings_fail_naming_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MSGRELAY_POLL_AFTER must be a positive number of seconds."""
    from msgrelay.errors import ConfigurationError

    monkeypatch.setenv("MSGRELAY_POLL_AFTER", "soon")
    with pytest.raises(ConfigurationError, match="MSGRELAY_POLL_AFTER"):
        Relay(ledger=SQLiteLedger(tmp_path / "l.sqlite3"), plugins=PluginManager(environ={}))


def test_a_submission_of_another_account_is_left_to_that_account(silent: Sandbox, tmp_path: Path) -> None:
    """A batch sent with another key (or to another server) is not polled with this relay's key, so it
    is neither retrieved nor dead-lettered here."""
    clock = FakeClock(now=2_000_000_000.0)
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    with _client(silent) as client:
        ticket = submit_once(client, make_request(2), ledger=ledger, clock=clock)
    other = UpscaleClient("another-key-0000000000000000", silent.upscale_url, trust_env=False)
    relay = Relay(
        ledger=ledger, plugins=PluginManager(environ={}).load(), upscale=other,
        poll_after=10.0, poll_give_up=1000.0, clock=clock,
    )  # fmt: skip
    clock.advance(10)
    assert relay.poll_due() == 0
    assert silent.count("GET", RETRIEVE) == 0
    assert ledger.batch_state("upscale", ticket.secure_request_id) is None  # not dead-lettered
    ledger.close()


def test_a_refused_key_is_polled_again_not_given_up_at_once(silent: Sandbox, tmp_path: Path) -> None:
    """A 401 while polling (a key being rotated) is retried at the next interval; only the give-up
    time dead-letters the batch."""
    clock = FakeClock(now=2_000_000_000.0)
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    with _client(silent) as client:
        ticket = submit_once(client, make_request(2), ledger=ledger, clock=clock)
    relay = Relay(
        ledger=ledger, plugins=PluginManager(environ={}).load(), upscale=_client(silent),
        poll_after=10.0, poll_give_up=1000.0, clock=clock,
    )  # fmt: skip
    silent.inject(Fault("GET", RETRIEVE, status=401, body={"error": "Unauthorized: Invalid API key"}))
    clock.advance(10)
    relay.poll_due()
    assert silent.count("GET", RETRIEVE) == 1
    assert ledger.batch_state("upscale", ticket.secure_request_id) is None
    waiting = ledger.waiting_submissions(poll_after=10.0)
    assert waiting
    assert waiting[0].next_poll_at == clock.now + 15.0
    ledger.close()
