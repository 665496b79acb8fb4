"""The webhook receiver, served by waitress on 127.0.0.1: verify, store, answer, relay in the background."""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from msgrelay.destinations.store import Store
from msgrelay.errors import ConfigurationError
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager, hookimpl
from msgrelay.relay import DeliveryPolicy, Relay, RelayWorker
from msgrelay.sandbox import Sandbox
from msgrelay.testing import make_request
from msgrelay.upscale.client import UpscaleClient
from msgrelay.web.receiver import Receiver, TokenVerifier, WebhookRequest, notification_url
from msgrelay.web.server import BackgroundServer
from tests.helpers import Recorder, wait_until

SECRET = "whsec-test-0123456789"
SID = "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef"
EVENT = {
    "secure_request_id": SID,
    "status": "complete",
    "completed_at": "2025-04-02T09:15:27Z",
    "requested_messages_count": 4,
    "generated_messages_count": 3,
}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SQLiteLedger]:
    with SQLiteLedger(tmp_path / "ledger.sqlite3") as opened:
        yield opened


@pytest.fixture
def served(ledger: SQLiteLedger) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """The receiver on a free port; returns its URL and the (source, id) events handed on."""
    events: list[tuple[str, str]] = []
    receiver = Receiver(ledger=ledger, secret=SECRET, on_event=lambda s, b: events.append((s, b)))
    with BackgroundServer(receiver) as server:
        yield server.url, events


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return requests.post(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, timeout=10
    )


def test_a_verified_webhook_is_stored_then_acknowledged(
    served: tuple[str, list[tuple[str, str]]], ledger: SQLiteLedger
) -> None:
    """200 only once the inbox row exists; the batch is then handed to the background worker."""
    url, events = served
    response = post(notification_url(url, secret=SECRET), EVENT)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "secure_request_id": SID, "duplicate": False}
    batch = ledger.get_batch("upscale", SID)
    assert batch is not None
    assert (batch["state"], batch["received"]) == ("pending", 1)
    assert events == [("upscale", SID)]


def test_the_same_webhook_three_times_is_one_batch(
    served: tuple[str, list[tuple[str, str]]], ledger: SQLiteLedger
) -> None:
    """Repeats are acknowledged (so the vendor stops) but stored and handed on once."""
    url, events = served
    answers = [post(notification_url(url, secret=SECRET), EVENT).json()["duplicate"] for _ in range(3)]
    assert answers == [False, True, True]
    batch = ledger.get_batch("upscale", SID)
    assert batch is not None
    assert batch["received"] == 3
    assert events == [("upscale", SID)]


def test_the_token_may_come_as_a_header(served: tuple[str, list[tuple[str, str]]]) -> None:
    """``X-Msgrelay-Token`` is accepted when the URL carries no token."""
    url, _ = served
    response = post(notification_url(url, secret=None), EVENT, headers={"X-Msgrelay-Token": SECRET})
    assert response.status_code == 200


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_an_unverified_webhook_is_refused_and_not_stored(
    served: tuple[str, list[tuple[str, str]]], ledger: SQLiteLedger, token: str | None
) -> None:
    """A missing or wrong token gets 401 and leaves no row."""
    url, events = served
    target = notification_url(url, secret=token) if token else notification_url(url, secret=None)
    response = post(target, EVENT)
    assert response.status_code == 401
    assert ledger.get_batch("upscale", SID) is None
    assert events == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        ({"status": "complete"}, "secure_request_id"),
        ({"secure_request_id": 42}, "secure_request_id"),
    ],
)
def test_a_malformed_webhook_is_a_400_naming_the_problem(
    served: tuple[str, list[tuple[str, str]]], body: Any, message: str
) -> None:
    """Bad JSON or a missing id: 400 with the reason; nothing stored."""
    url, _ = served
    response = post(notification_url(url, secret=SECRET), body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_both_count_spellings_are_accepted(served: tuple[str, list[tuple[str, str]]]) -> None:
    """``*_message_count`` (singular) decodes like the documented plural."""
    url, _ = served
    event = {
        "secure_request_id": SID,
        "status": "complete",
        "requested_message_count": 4,
        "generated_message_count": 4,
    }
    assert post(notification_url(url, secret=SECRET), event).status_code == 200


def test_other_methods_paths_and_sizes(served: tuple[str, list[tuple[str, str]]]) -> None:
    """GET on the webhook is 405, unknown paths 404, oversized bodies 413, health 200."""
    url, _ = served
    assert requests.get(url + "/webhooks/upscale", timeout=10).status_code == 405
    assert requests.get(url + "/nope", timeout=10).status_code == 404
    assert post(notification_url(url, secret=SECRET), b"x" * 70_000).status_code == 413
    health = requests.get(url + "/healthz", timeout=10)
    assert (health.status_code, health.json()) == (200, {"ok": True})


def test_no_secret_refuses_to_start_unless_insecure(ledger: SQLiteLedger) -> None:
    """Without MSGRELAY_WEBHOOK_SECRET the receiver will not run open by accident."""
    with pytest.raises(ConfigurationError, match="MSGRELAY_WEBHOOK_SECRET"):
        Receiver(ledger=ledger)
    assert Receiver(ledger=ledger, insecure=True).verify is None


def test_the_secret_comes_from_the_environment(ledger: SQLiteLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    """MSGRELAY_WEBHOOK_SECRET configures the default verifier."""
    monkeypatch.setenv("MSGRELAY_WEBHOOK_SECRET", SECRET)
    verify = Receiver(ledger=ledger).verify
    assert verify is not None
    assert verify(WebhookRequest(method="POST", path="/", query={"token": SECRET}, headers={}, body=b""))


def test_the_secret_never_shows(
    served: tuple[str, list[tuple[str, str]]], ledger: SQLiteLedger, caplog: pytest.LogCaptureFixture
) -> None:
    """Not in reprs, not in log lines about rejected or accepted webhooks."""
    url, _ = served
    with caplog.at_level(logging.DEBUG):
        post(notification_url(url, secret=SECRET), EVENT)
        post(notification_url(url, secret="wrong-" + SECRET), EVENT)
    # (urllib3 logs the test client's own URL, the vendor's side: only msgrelay's lines are ours.)
    ours = [r for r in caplog.records if r.name.startswith("msgrelay")]
    assert len(ours) == 2
    assert all(SECRET not in r.getMessage() for r in ours)
    assert SECRET not in repr(TokenVerifier(SECRET))
    assert SECRET not in repr(Receiver(ledger=ledger, secret=SECRET))


def test_a_custom_verifier_replaces_the_token(ledger: SQLiteLedger) -> None:
    """Verification is pluggable: a host can check the vendor's signature once it is documented."""
    seen: list[WebhookRequest] = []

    def verify(request: WebhookRequest) -> bool:
        seen.append(request)
        return request.headers.get("x-vendor-signature") == "good"

    with BackgroundServer(Receiver(ledger=ledger, verify=verify)) as server:
        target = server.url + "/webhooks/upscale"
        assert post(target, EVENT, headers={"X-Vendor-Signature": "bad"}).status_code == 401
        assert post(target, EVENT, headers={"X-Vendor-Signature": "good"}).status_code == 200
    assert orjson.loads(seen[1].body) == EVENT


def test_the_same_completion_webhook_three_times_yields_one_delivery_per_destination(
    tmp_path: Path, msgrelay_plugins: PluginManager, register_plugin: Any
) -> None:
    """End to end: the sandbox sends the webhook, then sends it twice more; each lead reaches each
    destination once."""
    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    store = Store()  # where the built-in "store" destination writes: $MSGRELAY_HOME/store.sqlite3
    with Sandbox(seconds_per_message=0.001) as sandbox:
        client = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)

        def relay() -> Relay:
            return Relay(
                ledger=ledger,
                plugins=msgrelay_plugins,
                upscale=client,
                destinations=["recorder", "store"],
                policy=DeliveryPolicy(backoff_base=0.01),
            )

        worker = RelayWorker(relay, sweep_interval=0.05)
        receiver = Receiver(ledger=ledger, secret=SECRET, on_event=worker.submit)
        with worker, BackgroundServer(receiver) as server:
            request = make_request(4, notify_url=notification_url(server.url, secret=SECRET))
            sid = client.request_generation(request).secure_request_id
            wait_until(lambda: ledger.batch_counts("upscale", sid).get("delivered") == 8, what="first relay")
            sandbox.upscale.redeliver_webhook(sid)
            sandbox.upscale.redeliver_webhook(sid)
            wait_until(lambda: len(sandbox.upscale.webhook_log) == 3, what="three webhook deliveries")
            wait_until(
                lambda: (ledger.get_batch("upscale", sid) or {}).get("received") == 3, what="three stored"
            )
            worker.stop()
        client.close()
    assert [a.status for a in sandbox.upscale.webhook_log] == [200, 200, 200]
    assert len(recorder.calls) == 4
    assert len(set(recorder.keys())) == 4
    assert store.summary()["leads"] == 4
    assert ledger.batch_counts("upscale", sid) == {"delivered": 8}
    ledger.close()


def test_a_webhook_the_ledger_cannot_store_in_time_is_answered_503_then_stored_on_the_retry(
    ledger: SQLiteLedger,
) -> None:
    """Another process holds the write lock: the receiver gives up after its store timeout (well under
    the vendor's 10 s), answers 503 and acknowledges nothing; the vendor's retry is stored."""
    assert Receiver(ledger=ledger, secret=SECRET).store_timeout <= 5.0
    events: list[tuple[str, str]] = []
    receiver = Receiver(
        ledger=ledger, secret=SECRET, on_event=lambda s, b: events.append((s, b)), store_timeout=0.2
    )
    with BackgroundServer(receiver) as server:
        url = notification_url(server.url, secret=SECRET)
        blocker = sqlite3.connect(ledger.path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            refused = post(url, EVENT)
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert refused.status_code == 503
        assert ledger.get_batch("upscale", SID) is None
        assert events == []
        retried = post(url, EVENT)
    assert retried.status_code == 200
    assert retried.json()["duplicate"] is False
    batch = ledger.get_batch("upscale", SID)
    assert batch is not None
    assert batch["received"] == 1
    assert events == [("upscale", SID)]


def test_the_hosts_destinations_are_stored_with_the_event(ledger: SQLiteLedger) -> None:
    """``serve --to X`` stores X with each event, so a relay resuming it after a crash delivers to X."""
    receiver = Receiver(ledger=ledger, secret=SECRET, destinations=["store", "crm"])
    with BackgroundServer(receiver) as server:
        assert post(notification_url(server.url, secret=SECRET), EVENT).status_code == 200
    batch = ledger.get_batch("upscale", SID)
    assert batch is not None
    assert list(batch["destinations"]) == ["store", "crm"]


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", SID + "0" * 40, "x" * 65, "5c0f8a2e7d414b6a9e3f12ab34cd56ef"], ids=str.__len__
)
def test_an_id_that_can_never_be_valid_is_a_400_and_nothing_is_stored(
    served: tuple[str, list[tuple[str, str]]], ledger: SQLiteLedger, bad_id: str
) -> None:
    """A secure_request_id that is not UUID-shaped (or is over 64 characters) is refused, not stored."""
    url, events = served
    response = post(notification_url(url, secret=SECRET), {**EVENT, "secure_request_id": bad_id})
    assert response.status_code == 400
    assert "secure_request_id" in response.json()["error"]
    assert ledger.status()["batches"] == {}
    assert events == []


def test_the_id_in_any_case_or_with_blanks_is_one_batch(
    served: tuple[str, list[tuple[str, str]]], ledger: SQLiteLedger
) -> None:
    """Lower case, then upper case, then padded: one batch, stored under the id retrieval uses."""
    url, events = served
    answers = [
        post(notification_url(url, secret=SECRET), {**EVENT, "secure_request_id": sid}).json()
        for sid in (SID, SID.upper(), f"  {SID.upper()} ")
    ]
    assert [a["duplicate"] for a in answers] == [False, True, True]
    assert {a["secure_request_id"] for a in answers} == {SID}
    assert events == [("upscale", SID)]
    assert ledger.get_batch("upscale", SID.upper()) is None
    assert (ledger.get_batch("upscale", SID) or {})["received"] == 3


def test_an_upper_case_webhook_after_a_lower_case_one_delivers_each_lead_once(
    tmp_path: Path, msgrelay_plugins: PluginManager, register_plugin: Any
) -> None:
    """End to end: the webhook, then the same id in upper case, then ``relay ID`` padded and in upper case:
    one batch, each lead delivered once to each destination."""
    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    store = Store()
    with Sandbox(seconds_per_message=0.001) as sandbox:
        client = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)

        def relay() -> Relay:
            return Relay(
                ledger=ledger,
                plugins=msgrelay_plugins,
                upscale=client,
                destinations=["recorder", "store"],
                policy=DeliveryPolicy(backoff_base=0.01),
            )

        worker = RelayWorker(relay, sweep_interval=0.05)
        receiver = Receiver(ledger=ledger, secret=SECRET, on_event=worker.submit)
        with worker, BackgroundServer(receiver) as server:
            hook = notification_url(server.url, secret=SECRET)
            sid = client.request_generation(make_request(3, notify_url=hook)).secure_request_id
            wait_until(lambda: ledger.batch_counts("upscale", sid).get("delivered") == 6, what="first relay")
            upper = post(hook, {**EVENT, "secure_request_id": sid.upper()})
            assert upper.json() == {"ok": True, "secure_request_id": sid, "duplicate": True}
            relay().relay(f" {sid.upper()} ", max_wait=5.0)
            worker.stop()
        client.close()
    assert len(recorder.calls) == 3
    assert len(set(recorder.keys())) == 3
    assert store.summary()["leads"] == 3
    assert sum(ledger.status()["batches"].values()) == 1
    assert ledger.batch_counts("upscale", sid) == {"delivered": 6}
    ledger.close()


def test_a_destination_that_calls_sys_exit_does_not_stop_the_background_relay(
    tmp_path: Path, msgrelay_plugins: PluginManager, register_plugin: Any
) -> None:
    """SystemExit from a destination is a failed delivery: the worker lives on, the other destination
    gets every lead, and ``/healthz`` stays 200; with the worker stopped, ``/healthz`` answers 503 with
    the reason."""

    class Exiting:
        @hookimpl
        def register_destinations(self, register: Any) -> None:
            register("exiting", lambda delivery: sys.exit(3))

    register_plugin(Exiting(), name="exiting")
    recorder = Recorder()
    register_plugin(recorder, name="recorder")
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    with Sandbox(seconds_per_message=0.001) as sandbox:
        client = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)

        def relay() -> Relay:
            return Relay(
                ledger=ledger,
                plugins=msgrelay_plugins,
                upscale=client,
                destinations=["exiting", "recorder"],
                policy=DeliveryPolicy(backoff_base=30.0),
            )

        worker = RelayWorker(relay, sweep_interval=0.05)
        receiver = Receiver(ledger=ledger, secret=SECRET, on_event=worker.submit, health=worker.problem)
        with BackgroundServer(receiver) as server:
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 503
            with worker:
                hook = notification_url(server.url, secret=SECRET)
                first = client.request_generation(make_request(2, notify_url=hook)).secure_request_id
                wait_until(lambda: len(recorder.calls) == 2, what="first batch to the recorder")
                assert worker.problem() is None
                health = requests.get(f"{server.url}/healthz", timeout=10)
                assert (health.status_code, health.json()) == (200, {"ok": True})
            stopped = requests.get(f"{server.url}/healthz", timeout=10)
        client.close()
    assert stopped.status_code == 503
    assert "relay" in stopped.json()["error"]
    for sid in (first,):
        assert ledger.batch_counts("upscale", sid).get("delivered") == 2
        assert (
            ledger.batch_counts("upscale", sid).get("pending", 0)
            + ledger.batch_counts("upscale", sid).get("dead", 0)
            == 2
        )
    ledger.close()
