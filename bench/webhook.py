"""The webhook destination through the relay, to a receiver in another process: ``python -m bench.webhook``.

Each run relays one batch of LEADS leads (the payloads of `bench.payloads`, a fresh batch id each
time) with msgrelay's `Relay` (fan-out into a fresh SQLite ledger, then delivery) into a
`WebhookDestination` registered by a plugin, exactly as a host registers one. The receiver is the
plugin's `WebhookReceiver` served by waitress in a subprocess (``python -m bench.webhook --serve``):
it verifies every signature against the real clock and drops repeated ids, as a real receiver does.

Compared, in interleaved rounds of one run:

- **before**: the code path this destination had before issue 14 (item 4), reproduced here:
  ``Session.post`` for each lead, one after the other. That is the "today" of the issue's target;
- **concurrency 1**: the destination now, one request at a time (its request prepared once and sent
  with ``Session.send``, `msgrelay_webhook.session`);
- **concurrency 8** (the default) and **16**: a batch sent that many requests at a time.

Prints one JSON object: per variant, the seconds of each run, the relay process's CPU seconds and the
receiver's CPU seconds per run; with ``--table``, the table ``bench/run.py`` writes into RESULTS.md
(``python -m bench.webhook 2000 5 --table``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import attrs
import orjson
import requests
from msgrelay_webhook import SigningSecret, WebhookConfig, WebhookDestination, WebhookReceiver
from msgrelay_webhook.payload import build_payload, encode_body

from bench import payloads
from bench.report import Table, X
from msgrelay import Delivery, hookimpl
from msgrelay.destinations import RegisterDestination
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay
from msgrelay.upscale.convert import decode_retrieve
from msgrelay.upscale.models import RetrieveResult

#: A signing secret made for the benchmark (33 bytes, base64): never a real one.
SECRET = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OWFi"
#: waitress's serving threads in the receiver process.
RECEIVER_THREADS = 8
BEFORE = "before"
SEQUENTIAL = "concurrency 1"
DEFAULT = "concurrency 8"
#: Each variant: the destination name and its concurrency (None: the previous code path).
VARIANTS: dict[str, int | None] = {BEFORE: None, SEQUENTIAL: 1, DEFAULT: 8, "concurrency 16": 16}


class SessionPostWebhook(WebhookDestination):
    """The previous code path, for comparison: ``Session.post`` per lead, each after the last."""

    def deliver(self, delivery: Delivery) -> None:
        now = self.clock()
        body = encode_body(build_payload(delivery, now=now))
        headers = self.headers(delivery.key, timestamp=int(now), body=body)
        response = self.session.post(
            self.config.url,
            data=body,
            headers=headers,
            timeout=(self.config.timeout.connect, self.config.timeout.read),
            allow_redirects=False,
        )
        with closing(response):
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"receiver answered {response.status_code}")

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        failures: dict[str, BaseException] = {}
        for delivery in deliveries:
            try:
                self.deliver(delivery)
            except Exception as exc:  # the relay records it
                failures[delivery.key] = exc
        return failures


class BenchDestinations:
    """A plugin registering one destination per variant, all POSTing to ``url``."""

    def __init__(self, url: str) -> None:
        self.built: list[WebhookDestination] = []
        self.url = url

    @hookimpl
    def register_destinations(self, register: RegisterDestination) -> None:
        for name, concurrency in VARIANTS.items():
            config = WebhookConfig(
                url=self.url,
                secrets=(SigningSecret(SECRET),),
                allow_insecure=True,
                concurrency=concurrency or 1,
            )
            kind = SessionPostWebhook if concurrency is None else WebhookDestination
            destination = kind(config, trust_env=False)
            destination.register_as(register, _name(name))
            self.built.append(destination)


def _name(variant: str) -> str:
    return "bench-" + variant.replace(" ", "-")


class Generation:
    """The Upscale side: one complete generation of ``leads`` leads under a fresh id (no HTTP)."""

    def __init__(self, leads: int) -> None:
        self.secure_request_id = str(uuid.uuid4())
        body = payloads.retrieve_response(leads)
        body["metadata"]["request_message_generation_api_request_secure_request_id"] = self.secure_request_id
        self.result = decode_retrieve(orjson.dumps(body), 200)

    def retrieve_messages(self, secure_request_id: str) -> RetrieveResult:
        return self.result

    def wait_for_completion(self, secure_request_id: str, *, timeout: float = 0.0) -> RetrieveResult:
        return self.result


# --- the receiver process -------------------------------------------------------------------------
class CountingReceiver:
    """WSGI: POSTs go to a verifying `WebhookReceiver`; ``GET`` answers how many events it processed."""

    def __init__(self) -> None:
        self.receiver = WebhookReceiver(secrets=[SigningSecret(SECRET)])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            start_response("200 OK", [("Content-Type", "application/json")])
            rejected = len(self.receiver.requests) - len(self.receiver.events)
            return [json.dumps({"events": len(self.receiver.events), "other": rejected}).encode()]
        return self.receiver(environ, start_response)


def serve() -> None:
    """Serve `CountingReceiver` on a free loopback port; print the port, then serve until killed."""
    import logging

    import waitress

    # waitress warns on every queued request ("Task queue depth is N"): expected under load here.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = waitress.create_server(  # type: ignore[attr-defined]
        CountingReceiver(),
        host="127.0.0.1",
        port=0,
        threads=RECEIVER_THREADS,
        connection_limit=1000,
        asyncore_loop_timeout=1,  # whole seconds: waitress reads it as an int, and 0 would spin
    )
    print(server.effective_port, flush=True)
    server.run()


class ReceiverProcess:
    """The receiver in a subprocess: its URL, its CPU seconds so far, its event count."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook", "--serve"],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.base = f"http://127.0.0.1:{port}"
        self.url = self.base + "/hooks/bench/"

    def cpu_seconds(self) -> float:
        """User and system CPU seconds of the receiver process (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def counts(self) -> Mapping[str, int]:
        found: dict[str, int] = requests.get(self.base + "/count", timeout=10).json()
        return found

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def one_run(
    plugins: PluginManager, receiver: ReceiverProcess, home: Path, leads: int, variant: str
) -> dict[str, float]:
    """Relay one batch into one variant's destination; seconds, relay CPU and receiver CPU."""
    generation = Generation(leads)
    ledger = SQLiteLedger(home / "ledger.sqlite3")
    relay = Relay(ledger=ledger, plugins=plugins, upscale=generation, destinations=[_name(variant)])
    before = receiver.counts()["events"]
    cpu, receiver_cpu, started = time.process_time(), receiver.cpu_seconds(), time.perf_counter()
    report = relay.relay(generation.secure_request_id, max_wait=60.0)
    seconds = time.perf_counter() - started
    cpu, receiver_cpu = time.process_time() - cpu, receiver.cpu_seconds() - receiver_cpu
    relay.close()
    received = receiver.counts()["events"] - before
    if report.dead or report.retried or report.delivered != received or received != leads:
        raise RuntimeError(f"{variant}: {report} but the receiver processed {received} of {leads} leads")
    return {"seconds": seconds, "cpu": cpu, "receiver_cpu": receiver_cpu}


def main(leads: int, runs: int) -> dict[str, Any]:
    """``runs`` rounds, each relaying one batch into every variant in turn."""
    receiver = ReceiverProcess()
    plugin = BenchDestinations(receiver.url)
    plugins = PluginManager(environ={}, entry_points=False).load()
    plugins.register(plugin, "bench-webhook")
    results: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    try:
        with tempfile.TemporaryDirectory(prefix="msgrelay-bench-webhook-") as tmp:
            warm_up = Path(tmp) / "warm-up"
            warm_up.mkdir()
            one_run(plugins, receiver, warm_up, min(leads, 200), DEFAULT)
            for run in range(runs):
                for variant in VARIANTS:
                    home = Path(tmp) / f"{_name(variant)}-{run}"
                    home.mkdir()
                    results[variant].append(one_run(plugins, receiver, home, leads, variant))
    finally:
        for destination in plugin.built:
            destination.close()
        receiver.close()
    return {"leads": leads, "receiver_threads": RECEIVER_THREADS, "variants": results}


# --- the table (run by ``bench/run.py``) -----------------------------------------------------------
class WebhookBenchError(Exception):
    """The webhook benchmark did not complete (the message is the child's last line of stderr)."""


@attrs.frozen
class WebhookFigures:
    """Leads per second of each variant (medians), and the receiver's ceiling."""

    rates: dict[str, float]
    receiver_ceiling: float

    @property
    def gain(self) -> float:
        """The default concurrency against the previous code path (the issue's "today")."""
        return self.rates[DEFAULT] / self.rates[BEFORE]

    @property
    def gain_over_sequential(self) -> float:
        """The default concurrency against the same destination one request at a time."""
        return self.rates[DEFAULT] / self.rates[SEQUENTIAL]


def bench_webhook(leads: int, runs: int) -> tuple[Table, WebhookFigures]:
    """Run this module in a fresh process; its figures as a table."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.webhook", str(leads), str(runs)],
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        raise WebhookBenchError(last)
    found = json.loads(out.stdout)["variants"]

    def median(variant: str, key: str) -> float:
        return float(statistics.median(run[key] for run in found[variant]))

    rates = {variant: leads / median(variant, "seconds") for variant in VARIANTS}
    # One core's worth of the receiver's own CPU per request: as fast as it can answer, whoever sends.
    ceiling = leads / median(DEFAULT, "receiver_cpu")
    figures = WebhookFigures(rates=rates, receiver_ceiling=ceiling)
    table = Table(
        f"Webhook destination: the relay POSTing {leads:,} signed leads to a verifying receiver in "
        "another process",
        [
            "variant",
            "leads/s (median)",
            f"{X} before",
            f"{X} concurrency 1",
            "relay CPU / lead",
            "receiver CPU / lead",
        ],
    )
    for variant in VARIANTS:
        table.rows.append(
            [
                variant + (" (default)" if variant == DEFAULT else ""),
                f"{rates[variant]:,.0f}",
                f"{rates[variant] / rates[BEFORE]:.2f}{X}",
                f"{rates[variant] / rates[SEQUENTIAL]:.2f}{X}",
                f"{1e6 * median(variant, 'cpu') / leads:,.0f} µs",
                f"{1e6 * median(variant, 'receiver_cpu') / leads:,.0f} µs",
            ]
        )
    table.rows.append(
        [
            "ceiling: one core of the receiver's CPU per request (at concurrency 8)",
            f"{ceiling:,.0f}",
            f"{ceiling / rates[BEFORE]:.2f}{X}",
            f"{ceiling / rates[SEQUENTIAL]:.2f}{X}",
            "",
            "",
        ]
    )
    table.notes.append(
        f"{runs} interleaved rounds; each relays a fresh {leads:,}-lead batch (fan-out into a fresh SQLite "
        "ledger, then delivery) with `Relay.relay` into a `WebhookDestination` registered by a plugin. "
        "The receiver is `msgrelay_webhook.WebhookReceiver` served by waitress "
        f"({RECEIVER_THREADS} threads) in its own process; it verifies every signature and processes each "
        "lead once, and every run checks it processed every lead. *before* is the code path the "
        "destination had before (`Session.post` per lead, one after the other); *concurrency N* is the "
        "destination now, with `MSGRELAY_WEBHOOK_CONCURRENCY=N`. Relay CPU is the relay process's "
        "(every thread); receiver CPU, the receiver process's. Both processes share this machine's "
        "cores (and whatever else runs on it): once the relay's CPU per lead fills a core, more requests "
        "in flight cannot help."
    )
    return table, figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("leads", type=int, nargs="?", default=2_000)
    parser.add_argument("runs", type=int, nargs="?", default=5)
    parser.add_argument("--serve", action="store_true", help="be the receiver (the benchmark starts it)")
    parser.add_argument("--table", action="store_true", help="print the markdown table bench/run.py writes")
    args = parser.parse_args()
    if args.serve:
        serve()
    elif args.table:
        print(bench_webhook(args.leads, args.runs)[0].markdown())
    else:
        print(json.dumps(main(args.leads, args.runs)))
