"""Sending a batch several requests at a time: in flight together, bounded, in order per person, the
same failure rules, no thread left behind. Against a real receiver on loopback that holds requests."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from msgrelay_webhook import (
    EndpointGoneError,
    NotSentError,
    SigningSecret,
    WebhookDestination,
    WebhookReceiver,
    is_retryable,
)
from msgrelay_webhook.lanes import lanes

from msgrelay import COLLECT, Delivery, RelayContext
from msgrelay.destinations import LazyDestination
from msgrelay.errors import BadRequestError, ServerError
from msgrelay.relay import DeliveryPolicy
from msgrelay.web import BackgroundServer

#: How long a held request waits for the others before it gives up (a deadline, not a measurement).
DEADLINE = 10.0
THREAD_PREFIX = "msgrelay-webhook"


class HoldingReceiver:
    """WSGI: each request waits (up to ``deadline``) until ``hold`` requests are in flight together,
    then is answered by the wrapped `WebhookReceiver`, or with ``statuses[webhook-id]`` when given.

    Attributes:
        most: the most requests in flight at once.
        overlapped: pairs of ``webhook-id`` of the same person (``order``) in flight at once.
        arrivals: ``webhook-id`` of each request as it arrived.
    """

    def __init__(
        self,
        receiver: WebhookReceiver,
        *,
        hold: int,
        deadline: float = DEADLINE,
        statuses: dict[str, int] | None = None,
        person: Callable[[str], str] | None = None,
    ) -> None:
        self.receiver = receiver
        self.barrier = threading.Barrier(hold, timeout=deadline) if hold > 1 else None
        self.statuses = statuses or {}
        self.person = person or (lambda key: key)
        self.most = 0
        self.overlapped: list[tuple[str, str]] = []
        self.arrivals: list[str] = []
        self._flying: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        key = environ.get("HTTP_WEBHOOK_ID", "")
        with self._lock:
            self.arrivals.append(key)
            self.overlapped += [(k, key) for k in self._flying if self.person(k) == self.person(key)]
            self._flying.append(key)
            self.most = max(self.most, len(self._flying))
        try:
            if self.barrier is not None:
                # Past the deadline the request is answered anyway: the assertions on `most` tell.
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.barrier.wait()
            status = self.statuses.get(key)
            if status is not None:
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                start_response(f"{status} Status", [("Content-Type", "text/plain")])
                return [b"scripted"]
            return self.receiver(environ, start_response)
        finally:
            with self._lock:
                self._flying.remove(key)


@pytest.fixture
def people(make_delivery: Callable[..., Delivery]) -> Callable[[int], list[Delivery]]:
    """``n`` deliveries of ``n`` different people (own lead id, LinkedIn URL, batch)."""

    def make(n: int) -> list[Delivery]:
        return [
            make_delivery(f"crm-{i}", linkedin=f"https://www.linkedin.com/in/person-{i}/", batch=f"b-{i}")
            for i in range(n)
        ]

    return make


@pytest.fixture
def serve(
    secret: SigningSecret, now: float, hook_path: str
) -> Iterator[Callable[..., tuple[HoldingReceiver, str]]]:
    """Serves a `HoldingReceiver` (verifying signatures at the fixed time) on loopback; its URL."""
    servers: list[BackgroundServer] = []

    def start(
        *,
        hold: int,
        deadline: float = DEADLINE,
        statuses: dict[str, int] | None = None,
        person: Callable[[str], str] | None = None,
    ) -> tuple[HoldingReceiver, str]:
        receiver = WebhookReceiver(secrets=[secret], clock=lambda: now)
        app = HoldingReceiver(receiver, hold=hold, deadline=deadline, statuses=statuses, person=person)
        # More serving threads than requests ever in flight, so none waits in waitress's queue.
        server = BackgroundServer(app, threads=16).start()
        servers.append(server)
        return app, server.url + hook_path

    yield start
    for server in servers:
        server.stop()


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_a_batch_has_as_many_requests_in_flight_as_the_concurrency(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
) -> None:
    """With concurrency 8, eight leads of eight people are in flight at once, and each is delivered once,
    signed (the receiver verifies every request)."""
    app, url = serve(hold=8)
    deliveries = people(8)
    failures = make_destination(url=url).deliver_many(deliveries)
    assert failures == {}
    assert app.most == 8
    assert sorted(e["data"]["delivery_key"] for e in app.receiver.events) == sorted(d.key for d in deliveries)


def test_the_concurrency_bounds_the_requests_in_flight(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
) -> None:
    """With concurrency 3, twelve leads go three at a time: never a fourth in flight."""
    app, url = serve(hold=3)
    assert make_destination(url=url, concurrency=3).deliver_many(people(12)) == {}
    assert app.most == 3
    assert len(app.receiver.events) == 12


def test_concurrency_1_sends_one_at_a_time_on_the_callers_thread(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
) -> None:
    """With concurrency 1, never two requests in flight (the first waits a second for another one to
    arrive), in the order given, and no sending thread is started."""
    app, url = serve(hold=2, deadline=1.0)
    deliveries = people(6)
    assert make_destination(url=url, concurrency=1).deliver_many(deliveries) == {}
    assert app.most == 1
    assert app.arrivals == [d.key for d in deliveries]
    assert _threads() == []


def test_deliveries_of_one_person_are_sent_in_order_never_together(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    make_delivery: Callable[..., Delivery],
) -> None:
    """Four people with three deliveries each, interleaved: one person by lead id, one by e-mail (in
    any case), one by LinkedIn URL (any regional form), one by all three. Each person's deliveries
    arrive in the order given and never overlap, while the four people are in flight together."""
    person: dict[str, str] = {}
    deliveries: list[Delivery] = []
    for wave in range(3):
        forms: dict[str, dict[str, Any]] = {
            "by-id": {"prospect": "crm-same", "linkedin": f"https://www.linkedin.com/in/id-{wave}/"},
            "by-email": {
                "prospect": f"crm-mail-{wave}",
                "linkedin": f"https://www.linkedin.com/in/mail-{wave}/",
                "extra": {"email": ["Ada@Example.org", "ada@example.org", " ADA@example.ORG "][wave]},
            },
            "by-linkedin": {
                "prospect": f"crm-in-{wave}",
                "linkedin": [
                    "https://www.linkedin.com/in/grace/",
                    "https://uk.linkedin.com/in/grace?trk=x",
                    "http://LinkedIn.com/in/grace",
                ][wave],
            },
            "chained": {
                # wave 0 and 1 share an e-mail, wave 1 and 2 a LinkedIn URL: one person, transitively.
                "prospect": f"crm-chain-{wave}",
                "linkedin": f"https://www.linkedin.com/in/{'chain' if wave else 'c0'}/",
                "extra": {"email": "chain@example.org"} if wave < 2 else {},
            },
        }
        for name, form in forms.items():
            delivery = make_delivery(form.pop("prospect"), batch=f"batch-{wave}", **form)
            person[delivery.key] = name
            deliveries.append(delivery)
    assert len(lanes(deliveries)) == 4
    app, url = serve(hold=4, person=lambda key: person[key])
    assert make_destination(url=url).deliver_many(deliveries) == {}
    assert app.most == 4
    assert app.overlapped == []
    for name in set(person.values()):
        assert [k for k in app.arrivals if person[k] == name] == [
            d.key for d in deliveries if person[d.key] == name
        ]


def test_lanes_keep_order_and_join_transitively(make_delivery: Callable[..., Delivery]) -> None:
    """`lanes`: one lane per person, each in the order given, lanes in the order of their first
    delivery; a Collect message is alone in its lane; a repeated delivery joins its first."""
    a1 = make_delivery("a", linkedin="https://www.linkedin.com/in/a/", batch="1")
    b1 = make_delivery("b", linkedin="https://www.linkedin.com/in/b/", batch="1")
    a2 = make_delivery("a2", linkedin="https://de.linkedin.com/in/a", batch="2")
    c1 = make_delivery("c", linkedin="https://www.linkedin.com/in/c/", batch="1", extra={"email": "b@x.org"})
    b2 = make_delivery("b2", linkedin="https://www.linkedin.com/in/c/", batch="2")
    b3 = make_delivery(
        "b", linkedin="https://www.linkedin.com/in/other/", batch="3", extra={"email": "B@X.org"}
    )
    context = RelayContext(source=COLLECT, batch_id="req-1")
    m1, m2 = (
        Delivery(destination="webhook", key=f"d_m{i}", context=context, message={"id": "m"}) for i in (1, 2)
    )
    # b1 → b3 (lead id b) → c1 (e-mail) → b2 (LinkedIn c): one lane.
    assert lanes([a1, b1, m1, a2, c1, m2, b2, b3, a1]) == [[a1, a2, a1], [b1, c1, b2, b3], [m1], [m2]]


def test_failures_keep_their_rules_by_key(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
) -> None:
    """Eight in flight together, answered 500, 410, 400 or 200 by ``webhook-id``: each failure is
    returned under its own key, in the batch's order, and the relay's policy retries the 500 and
    dead-letters the 410 and the 400; the others are delivered."""
    deliveries = people(8)
    keys = [d.key for d in deliveries]
    statuses = {keys[2]: 500, keys[5]: 410, keys[6]: 400}
    app, url = serve(hold=8, statuses=statuses)
    failures = make_destination(url=url).deliver_many(deliveries)
    assert list(failures) == [keys[2], keys[5], keys[6]]
    assert isinstance(failures[keys[2]], ServerError)
    assert isinstance(failures[keys[5]], EndpointGoneError)
    assert isinstance(failures[keys[6]], BadRequestError)
    policy = DeliveryPolicy(max_attempts=5, rng=lambda: 0.0)
    assert policy.next_attempt_at(1, failures[keys[2]], now=0.0) is not None
    assert policy.next_attempt_at(1, failures[keys[5]], now=0.0) is None
    assert policy.next_attempt_at(1, failures[keys[6]], now=0.0) is None
    delivered = {e["data"]["delivery_key"] for e in app.receiver.events}
    assert delivered == set(keys) - set(statuses)


def test_an_endpoint_failure_starts_no_further_request(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
) -> None:
    """Concurrency 2 and a receiver that answers 503 to everything: at most the two requests already
    in flight reach it; every other lead fails with a retryable `NotSentError` carrying the 503."""
    deliveries = people(10)
    app, url = serve(hold=1, statuses={d.key: 503 for d in deliveries})
    failures = make_destination(url=url, concurrency=2).deliver_many(deliveries)
    assert list(failures) == [d.key for d in deliveries]
    sent = [k for k, e in failures.items() if isinstance(e, ServerError)]
    assert 1 <= len(sent) <= 2
    assert sorted(app.arrivals) == sorted(sent)
    not_sent = [e for e in failures.values() if isinstance(e, NotSentError)]
    assert len(not_sent) == 10 - len(sent)
    assert all(isinstance(e.cause, ServerError) and is_retryable(e) for e in not_sent)


def test_the_pool_holds_a_connection_per_sending_thread(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Concurrency 12 (above requests' default pool of 10): twelve in flight, and every connection is
    kept for the next batch rather than discarded (urllib3 warns when it discards one)."""
    caplog.set_level(logging.WARNING, logger="urllib3")
    app, url = serve(hold=12)
    destination = make_destination(url=url, concurrency=12)
    assert destination.deliver_many(people(12)) == {}
    assert app.most == 12
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []


def _ended() -> bool:
    """Whether every sending thread ended (joined with a deadline: `close` does not wait for them)."""
    for thread in _threads():
        thread.join(60.0)
    return _threads() == []


def test_close_ends_the_sending_threads(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
) -> None:
    """The sending threads start with the first batch and end after `close` (which does not wait for
    them: a hung request must not hold it); a batch after `close` starts them again, and a lazily built
    destination (the environment's) closes them too."""
    _, url = serve(hold=1)
    destination = make_destination(url=url, concurrency=4)
    assert _threads() == []
    assert destination.deliver_many(people(8)) == {}
    assert 1 <= len(_threads()) <= 4
    destination.close()
    assert _ended()
    assert destination.deliver_many(people(8)) == {}
    destination.close()
    assert _ended()
    lazy = LazyDestination(lambda: make_destination(url=url, concurrency=3))
    assert lazy.deliver_many(people(6)) == {}
    assert 1 <= len(_threads()) <= 3
    lazy.close()
    assert _ended()


def test_a_repeated_delivery_is_never_in_flight_twice(
    serve: Callable[..., tuple[HoldingReceiver, str]],
    make_destination: Callable[..., WebhookDestination],
    people: Callable[[int], list[Delivery]],
) -> None:
    """The same delivery twice in a batch is sent twice, one after the other; the receiver keeps one."""
    one, other = people(2)
    app, url = serve(hold=2, deadline=1.0)
    assert make_destination(url=url).deliver_many([one, other, one]) == {}
    assert app.overlapped == []
    assert app.receiver.ids.count(one.key) == 2
    assert len(app.receiver.events) == 2
