"""The relay end to end on loopback: ``python -m bench.relay_run LEADS RUNS [--profile FILE]``.

Each run submits a batch of LEADS leads (four message types) to the sandbox, which completes it at
once and POSTs the completion webhook to a `Receiver` served on loopback. The receiver stores the
event and hands it to a `RelayWorker`, whose `Relay` retrieves the batch from the sandbox, runs the
hooks, writes the outbox and delivers to the built-in SQLite ``store``. The clock runs from the
webhook reaching the receiver to the worker finishing the batch; the store is then checked to hold
every lead. Each run has its own ledger and store, as a new install would; the sandbox serves in
this process, so its work (building the retrieve body) counts against the relay.

With ``--profile FILE``, one more batch is relayed in the main thread under cProfile, and the stats
are written there. ``--int-poll-timeout`` is a diagnostic: it serves with waitress's poll timeout
rounded up to a whole second, for when `msgrelay.web.server` passes one that waitress truncates to 0
(see `server_busy_loops`). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from msgrelay.destinations.delivery import UPSCALE
from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay, RelayReport, RelayWorker
from msgrelay.sandbox import Sandbox
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep
from msgrelay.web.receiver import Receiver, notification_url
from msgrelay.web.server import BackgroundServer

MESSAGE_TYPES = ("connection_request", "first_follow_up", "share_material", "hiring_activity")
SECRET = "bench-webhook-secret-not-a-real-one"


class WebhookClock:
    """WSGI middleware: notes when each webhook POST arrives, and counts them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.arrivals: list[float] = []
        self.stored = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            self.arrivals.append(time.perf_counter())
        answer: Iterable[bytes] = self.app(environ, start_response)
        self.stored.set()
        return answer


def generation_request(leads: int, run: str, notify_url: str) -> GenerationRequest:
    """A batch of ``leads`` leads with four message types; ids unique to ``run``."""
    return GenerationRequest(
        completion_notification_url=notify_url,
        automation_tool_customer_id="bench-customer",
        automation_tool_campaign_id=f"bench-campaign-{run}",
        automation_tool_campaign_name="msgrelay bench",
        proposition_company_name="Ledgerly",
        proposition_company_url="https://ledgerly.example.com",
        material_link="https://ledgerly.example.com/case-study",
        hiring_location="United Kingdom",
        signoff_name="Priya",
        message_sequence=[MessageStep(step=i, message_type=t) for i, t in enumerate(MESSAGE_TYPES, start=1)],
        lead_data=[
            LeadInput(
                external_prospect_id=f"{run}-{i:06d}",
                linkedin=f"https://www.linkedin.com/in/bench-{run}-{i}",
                first_name="Ada",
                lead_company=f"Company {i % 97}",
            )
            for i in range(leads)
        ],
    )


def counting_client(sandbox: Sandbox, log: list[str]) -> UpscaleClient:
    """An Upscale client for the sandbox that logs every request it makes."""
    session = requests.Session()

    def note(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        log.append(f"{response.request.method} {response.status_code}")

    session.hooks["response"].append(note)
    return UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, session=session, trust_env=False)


def one_run(sandbox: Sandbox, home: Path, leads: int, run: str) -> dict[str, Any]:
    """Relay one batch through receiver, worker and store; the timings and request counts."""
    os.environ["MSGRELAY_HOME"] = str(home)
    ledger = SQLiteLedger(home / "ledger.sqlite3")
    plugins = PluginManager(environ={}, entry_points=False).load()
    requests_made: list[str] = []
    finished: queue.Queue[tuple[float, RelayReport]] = queue.Queue()
    relay_client = counting_client(sandbox, requests_made)

    class TimedRelay(Relay):
        def process(self, source: str, batch_id: str) -> RelayReport:
            report = super().process(source, batch_id)
            finished.put((time.perf_counter(), report))
            return report

    worker = RelayWorker(
        lambda: TimedRelay(ledger=ledger, plugins=plugins, upscale=relay_client, destinations=["store"])
    )
    receiver = WebhookClock(Receiver(ledger=ledger, secret=SECRET, on_event=worker.submit))
    with (
        worker,
        BackgroundServer(receiver, threads=4) as server,
        UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as submitter,
    ):
        submitter.request_generation(
            generation_request(leads, run, notification_url(server.url, secret=SECRET))
        )
        done_at, report = finished.get(timeout=600)
    relay_client.close()
    ledger.close()
    stored = Store(home / "store.sqlite3").summary()
    if stored["leads"] != leads or report.delivered != leads or report.dead or report.batch_failures:
        raise RuntimeError(f"run {run}: stored {stored}, report {report.to_json()}")
    seconds = done_at - receiver.arrivals[0]
    return {
        "seconds": seconds,
        "leads": leads,
        "messages": stored["generated"],
        "webhook_posts": len(receiver.arrivals),
        "relay_requests": requests_made,
    }


def profile_run(sandbox: Sandbox, home: Path, leads: int, path: str) -> None:
    """Relay one more batch in this thread under cProfile; write the stats to ``path``."""
    os.environ["MSGRELAY_HOME"] = str(home)
    ledger = SQLiteLedger(home / "ledger.sqlite3")
    plugins = PluginManager(environ={}, entry_points=False).load()
    receiver = WebhookClock(Receiver(ledger=ledger, secret=SECRET))
    with (
        BackgroundServer(receiver, threads=4) as server,
        UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as client,
    ):
        ticket = client.request_generation(
            generation_request(leads, "profile", notification_url(server.url, secret=SECRET))
        )
        if not receiver.stored.wait(60):
            raise RuntimeError("no webhook")
        time.sleep(0.1)  # the receiver commits before it answers; the answer is on its way
        relay = Relay(ledger=ledger, plugins=plugins, upscale=client, destinations=["store"])
        profiler = cProfile.Profile()
        report = profiler.runcall(relay.process, UPSCALE, ticket.secure_request_id)
        profiler.dump_stats(path)
    ledger.close()
    if report.delivered != leads:
        raise RuntimeError(f"profile run: {report.to_json()}")


def main(leads: int, runs: int, profile: str | None) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="msgrelay-bench-") as tmp,
        Sandbox(seconds_per_message=0.0, webhook_delivery=True, credits=leads * 4 * (runs + 2)) as sandbox,
    ):
        results = [one_run(sandbox, Path(tmp) / f"run-{run}", leads, f"r{run}") for run in range(runs)]
        if profile:
            profile_run(sandbox, Path(tmp) / "profile", leads, profile)
    return {"runs": results}


def server_busy_loops() -> bool:
    """Whether `BackgroundServer` polls with a zero timeout: waitress reads ``asyncore_loop_timeout``
    as an int, so a fraction becomes 0 and the serving thread spins on a whole core."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("204 No Content", [])
        return []

    with BackgroundServer(app, threads=1) as server:
        timeout = getattr(getattr(getattr(server, "_server", None), "adj", None), "asyncore_loop_timeout", 1)
    return timeout == 0


def _whole_second_poll_timeout() -> None:
    import waitress

    create_server = waitress.create_server  # type: ignore[attr-defined]

    def create(app: Any, **kwargs: Any) -> Any:
        kwargs["asyncore_loop_timeout"] = max(1, math.ceil(kwargs.get("asyncore_loop_timeout", 1)))
        return create_server(app, **kwargs)

    waitress.create_server = create  # type: ignore[attr-defined]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("leads", type=int)
    parser.add_argument("runs", type=int)
    parser.add_argument("--profile")
    parser.add_argument("--int-poll-timeout", action="store_true")
    args = parser.parse_args()
    if args.int_poll_timeout:
        _whole_second_poll_timeout()
    print(json.dumps(main(args.leads, args.runs, args.profile)))
